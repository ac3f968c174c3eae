/**
 * Optimizers as objects: each keeps its own state (AdamW's moments and step
 * count) and updates parameters in place from their gradients. They work on
 * plain `Float32Array`s so that every engine can call them on its own memory:
 * views of the fused WebAssembly engine's heap and tfjs variables' data alike.
 *
 * The arithmetic is float32 throughout, op by op, as PyTorch's CPU kernels do
 * it, so that AdamW reproduces `torch.optim.AdamW` (test/fixtures/adamw.json,
 * written by scripts/fixtures/adamw.py, holds PyTorch's own steps).
 *
 * @module
 */

/** "sgd": p -= lr·g. "adamw": torch.optim.AdamW. */
export type OptimizerKind = "sgd" | "adamw";

/** Every {@link OptimizerKind}, in the order help texts list them. */
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ["sgd", "adamw"];

/** Options of {@link makeOptimizer}; each optimizer reads the ones it uses. */
export interface OptimizerOptions {
  /**
   * Decoupled weight decay: each update first scales p by (1 - lr·weightDecay),
   * apart from the gradient (not an L2 term added to it). Defaults: 0.01 for
   * AdamW (torch's default, and what makemore.py passes), 0 for SGD.
   */
  weightDecay?: number;
  /** AdamW's decay rates of the two moments (default [0.9, 0.999] like torch; makemore.py uses [0.9, 0.99]). */
  betas?: readonly [number, number];
  /** AdamW's term added to the denominator, against division by zero (default 1e-8). */
  eps?: number;
}

/** A stateful optimizer over a fixed list of float32 arrays. */
export interface Optimizer {
  readonly kind: OptimizerKind;
  /** the decoupled weight decay (0: none; plain SGD then runs as one kernel call on the fused engine) */
  readonly weightDecay: number;
  /** updates taken so far (AdamW's step count t) */
  readonly steps: number;
  /**
   * One update: params[i] (float32, changed in place) from grads[i] (same length) at learning rate lr.
   * The list of arrays must be the same (same count and lengths) at every call: state is kept per index.
   */
  update(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void;
  /** forgets the state (moments, step count, and the layout of the arrays) */
  reset(): void;
}

const f32 = Math.fround;

/** Refuses an option out of range, in one line naming it. */
function checkOptions(options: OptimizerOptions): void {
  const { weightDecay, betas, eps } = options;
  if (weightDecay !== undefined && !(Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new RangeError(`weightDecay must be a finite number >= 0, got ${weightDecay}`);
  }
  if (betas !== undefined) {
    // `!(b >= 0 && b < 1)` also refuses NaN
    if (betas.length !== 2 || betas.some((b) => !(b >= 0 && b < 1))) {
      throw new RangeError(`betas must be two numbers in [0, 1), got [${betas.join(", ")}]`);
    }
  }
  if (eps !== undefined && !(Number.isFinite(eps) && eps > 0)) {
    throw new RangeError(`eps must be a finite number > 0, got ${eps}`);
  }
}

/**
 * Remembers the array lengths of the first update and refuses any other layout
 * later: the state of index i belongs to params[i], so a list that changed
 * would silently apply one parameter's moments to another.
 */
class Layout {
  private sizes: number[] | null = null;

  constructor(private readonly kind: OptimizerKind) {}

  /** Throws, before anything is changed, unless the arguments of an update are sound. */
  check(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void {
    const who = `${this.kind}.update`;
    if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`${who}: lr must be a finite number >= 0, got ${lr}`);
    if (grads.length !== params.length) {
      throw new RangeError(`${who}: ${params.length} params but ${grads.length} grads`);
    }
    params.forEach((p, i) => {
      const g = grads[i] as Float32Array;
      if (g.length !== p.length)
        throw new RangeError(`${who}: params[${i}] has ${p.length} values, grads[${i}] ${g.length}`);
    });
    if (this.sizes === null) {
      this.sizes = params.map((p) => p.length);
      return;
    }
    const sizes = this.sizes;
    if (params.length !== sizes.length) {
      throw new RangeError(`${who}: ${params.length} params, but the first update had ${sizes.length}`);
    }
    params.forEach((p, i) => {
      if (p.length !== sizes[i]) {
        throw new RangeError(`${who}: params[${i}] has ${p.length} values, but had ${sizes[i]} at the first update`);
      }
    });
  }

  reset(): void {
    this.sizes = null;
  }
}

/**
 * float32 `c + a·b` with a single rounding, as the fused multiply-add that
 * PyTorch's AVX2 kernels use. The product of two float32 values is exact in
 * float64, so only the sum rounds twice (to float64, then float32); that gives
 * a different float32 only when the float64 sum lands exactly halfway between
 * two float32 values, about once in 2^28 sums, and then by one ulp.
 */
function fma32(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

/** p = (p · decay) - lr·g, each operation rounded to float32 like a float32 kernel's. */
function sgdArray(p: Float32Array, g: Float32Array, lr: number, decay: number): void {
  const n = p.length;
  if (decay === 1) {
    // the same result as below (a product by 1 is exact), without the product
    for (let j = 0; j < n; j++) p[j] = (p[j] as number) - f32(lr * (g[j] as number));
    return;
  }
  for (let j = 0; j < n; j++) p[j] = f32((p[j] as number) * decay) - f32(lr * (g[j] as number));
}

/**
 * Plain SGD: p -= lr·g, the product and the difference each rounded to float32,
 * as a float32 kernel such as sgdUpdate in wasm/kernels.ts does (lr itself a float32).
 * torch.optim.SGD fuses the two into one multiply-add on CPUs with FMA, so the
 * two can differ by the rounding of lr·g (an ulp or so) rather than agree bit for bit.
 * A weight decay scales p by (1 - lr·weightDecay) first, as AdamW does.
 */
export class SGD implements Optimizer {
  readonly kind = "sgd";
  readonly weightDecay: number;
  private readonly layout = new Layout("sgd");
  private count = 0;

  constructor(options: OptimizerOptions = {}) {
    checkOptions(options);
    this.weightDecay = options.weightDecay ?? 0;
  }

  get steps(): number {
    return this.count;
  }

  update(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void {
    this.layout.check(params, grads, lr);
    const rate = f32(lr);
    const decay = f32(1 - lr * this.weightDecay);
    params.forEach((p, i) => sgdArray(p, grads[i] as Float32Array, rate, decay));
    this.count++;
  }

  reset(): void {
    this.count = 0;
    this.layout.reset();
  }
}

/** The float32 constants of one AdamW step, shared by every parameter. */
export interface AdamWStep {
  /** 1 - lr·weightDecay */
  decay: number;
  beta1: number;
  /** 1 - beta1 */
  keep1: number;
  beta2: number;
  /** 1 - beta2 */
  keep2: number;
  /** -lr / (1 - beta1^t): negative, as torch passes it to addcdiv_ */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  bc2Sqrt: number;
  eps: number;
}

/**
 * One AdamW step of one parameter, in the order and float32 roundings of torch
 * 1.13's `_single_tensor_adamw` on CPU:
 * `p.mul_(decay)`, `m.mul_(beta1).add_(g, alpha=1-beta1)` (a fused multiply-add),
 * `v.mul_(beta2).addcmul_(g, g, value=1-beta2)` (a product, then a fused multiply-add),
 * `denom = (v.sqrt() / bc2Sqrt).add_(eps)`, `p.addcdiv_(m, denom, value=stepSize)`.
 * Each float32 operation is done in float64 and rounded, which for one
 * +, -, ·, / or sqrt of float32 values is exactly the float32 result.
 */
function adamwArray(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, c: AdamWStep): void {
  const n = p.length;
  for (let j = 0; j < n; j++) {
    const gj = g[j] as number;
    const pj = f32((p[j] as number) * c.decay);
    const mj = fma32(gj, c.keep1, f32((m[j] as number) * c.beta1));
    const vj = fma32(f32(c.keep2 * gj), gj, f32((v[j] as number) * c.beta2));
    const denom = f32(f32(f32(Math.sqrt(vj)) / c.bc2Sqrt) + c.eps);
    m[j] = mj;
    v[j] = vj;
    p[j] = pj + f32(f32(c.stepSize * mj) / denom);
  }
}

/**
 * torch.optim.AdamW (PyTorch 1.13, foreach=False, amsgrad=False, maximize=False):
 * Adam with the weight decay applied to the parameters rather than added to
 * the gradient. The moments are float32 like torch's state tensors.
 */
export class AdamW implements Optimizer {
  readonly kind = "adamw";
  readonly weightDecay: number;
  private readonly betas: readonly [number, number];
  private readonly eps: number;
  private readonly layout = new Layout("adamw");
  private count = 0;
  /** first and second moments, one array per parameter, made at the first update */
  private m: Float32Array[] = [];
  private v: Float32Array[] = [];

  constructor(options: OptimizerOptions = {}) {
    checkOptions(options);
    this.weightDecay = options.weightDecay ?? 0.01;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
  }

  get steps(): number {
    return this.count;
  }

  update(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void {
    const c = this.beginStep(params, grads, lr);
    params.forEach((p, i) =>
      adamwArray(p, grads[i] as Float32Array, this.m[i] as Float32Array, this.v[i] as Float32Array, c),
    );
  }

  /**
   * Counts one more update of `params` (checked like {@link AdamW.update})
   * and returns its constants, for a kernel that applies it itself to the
   * moments given to {@link AdamW.keepMomentsIn} (adamwUpdate in wasm/adamw.ts).
   */
  beginStep(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): AdamWStep {
    this.layout.check(params, grads, lr);
    if (this.m.length === 0) {
      this.m = params.map((p) => new Float32Array(p.length));
      this.v = params.map((p) => new Float32Array(p.length));
    }
    this.count++;
    return this.constants(lr);
  }

  /**
   * Keeps the moments in the given arrays from now on (one per parameter,
   * e.g. views of a kernel's memory), copying those of the updates so far.
   */
  keepMomentsIn(m: Float32Array[], v: Float32Array[]): void {
    if (this.m.length > 0) {
      if (m.length !== this.m.length || m.some((a, i) => a.length !== this.m[i]?.length)) {
        throw new RangeError("adamw: moments of another layout than the updates so far");
      }
      m.forEach((a, i) => a.set(this.m[i] as Float32Array));
      v.forEach((a, i) => a.set(this.v[i] as Float32Array));
    } else {
      m.forEach((a) => a.fill(0));
      v.forEach((a) => a.fill(0));
    }
    this.m = m;
    this.v = v;
  }

  reset(): void {
    this.count = 0;
    // forgotten, wherever they were kept: the next update may have another layout, and arrays
    // kept in an engine's memory would otherwise keep that memory alive
    [this.m, this.v] = [[], []];
    this.layout.reset();
  }

  /**
   * The step's constants: worked out in float64 like torch's Python floats,
   * then rounded to float32 where torch hands them to a float32 kernel.
   */
  private constants(lr: number): AdamWStep {
    const [beta1, beta2] = this.betas;
    const t = this.count;
    return {
      decay: f32(1 - lr * this.weightDecay),
      beta1: f32(beta1),
      keep1: f32(1 - beta1),
      beta2: f32(beta2),
      keep2: f32(1 - beta2),
      stepSize: f32(-(lr / (1 - beta1 ** t))),
      bc2Sqrt: f32(Math.sqrt(1 - beta2 ** t)),
      eps: f32(this.eps),
    };
  }
}

/** A fresh optimizer of the given kind; throws a RangeError for an unknown kind or an option out of range. */
export function makeOptimizer(kind: OptimizerKind, options: OptimizerOptions = {}): Optimizer {
  switch (kind) {
    case "sgd":
      return new SGD(options);
    case "adamw":
      return new AdamW(options);
    default:
      // reachable from JavaScript, or from a string cast to the type
      throw new RangeError(unknownKind(kind));
  }
}

/** The kind named by `raw` (case and surrounding spaces ignored), e.g. from a command line. */
export function parseOptimizerKind(raw: string): OptimizerKind {
  const name = raw.trim().toLowerCase();
  const kind = OPTIMIZER_KINDS.find((k) => k === name);
  if (kind === undefined) throw new RangeError(unknownKind(raw));
  return kind;
}

function unknownKind(raw: unknown): string {
  return `unknown optimizer ${JSON.stringify(String(raw))}: expected one of ${OPTIMIZER_KINDS.join(", ")}`;
}
