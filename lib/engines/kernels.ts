/**
 * The fused training kernels: a small WebAssembly module with 128-bit SIMD
 * (source: wasm/kernels.ts, AssemblyScript; `npm run setup` builds it twice:
 * wasm/build/kernels.wasm with plain SIMD, kernels-relaxed.wasm with relaxed
 * SIMD's fused multiply-add in the matrix products). lib/engines/fused.ts runs
 * whole training steps of the MLPs with it, on any tfjs backend, without a
 * tfjs op per line of the model.
 *
 * Which build runs is chosen once per process: the relaxed one when the
 * runtime runs relaxed SIMD, else the plain one; MAKEMORE_KERNELS=plain or
 * =relaxed forces one (tests run each).
 *
 * Each {@link KernelMemory} is its own instance of the module, with its own
 * linear memory: buffers are laid out once with {@link KernelMemory.alloc}
 * and never freed one by one (the whole instance goes with its owner).
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import * as v8 from "v8";

/** The two builds of the kernels: plain 128-bit SIMD, and relaxed SIMD (fused multiply-add). */
export type KernelBuild = "plain" | "relaxed";

/**
 * Where `npm run setup` writes each build: beside this file's own tree (not found through
 * node_modules, which a git worktree may share with another checkout by a symlink).
 */
export const KERNEL_FILES: Readonly<Record<KernelBuild, string>> = {
  plain: path.resolve(__dirname, "..", "..", "wasm", "build", "kernels.wasm"),
  relaxed: path.resolve(__dirname, "..", "..", "wasm", "build", "kernels-relaxed.wasm"),
};

/** The functions the module exports (byte offsets for every buffer argument). */
export interface KernelExports {
  /** C[M,N] = bias + (acc ? C : 0) + A·B; A(i,k) at a + 4(i·sar + k·sac) */
  gemm(
    M: number,
    N: number,
    K: number,
    a: number,
    sar: number,
    sac: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    acc: number,
    bias: number,
  ): void;
  /** dst[cols, rows] = src[rows, cols]ᵀ */
  transpose(rows: number, cols: number, src: number, dst: number): void;
  /** out[N] = (acc ? out : 0) + column sums of x[M, N] */
  colSum(M: number, N: number, x: number, out: number, acc: number): void;
  /** y = tanh(x) over n values, in vectors of 4 (up to 3 values past n are touched too) */
  tanhForward(n: number, x: number, y: number): void;
  /** dx = dy (1 - y²) over n values, in vectors of 4 */
  tanhBackward(n: number, y: number, dy: number, dx: number): void;
  /** p -= lr g over n values, in vectors of 4 */
  sgdUpdate(n: number, lr: number, g: number, p: number): void;
  /** coef · mean(p²) over n values; adds its gradient 2 coef p / n to g */
  l2Penalty(n: number, coef: number, p: number, g: number): number;
  /** zeros n floats */
  zero(n: number, p: number): void;
  /** out[b, t·D + d] = table[ix[b, t], d] */
  embedForward(B: number, T: number, D: number, ix: number, table: number, out: number): void;
  /** dTable = Σ of dOut rows into the rows they were read from */
  embedBackward(B: number, T: number, D: number, V: number, ix: number, dOut: number, dTable: number): void;
  /** training-mode batch norm over the rows of x[M, N] */
  bnForward(
    M: number,
    N: number,
    x: number,
    gamma: number,
    beta: number,
    eps: number,
    divisor: number,
    mean: number,
    invStd: number,
    unbiasedVar: number,
    xhat: number,
    y: number,
  ): void;
  /** backward pass of bnForward */
  bnBackward(
    M: number,
    N: number,
    dy: number,
    xhat: number,
    gamma: number,
    invStd: number,
    divisor: number,
    dgamma: number,
    dbeta: number,
    dx: number,
  ): void;
  /** evaluation-mode batch norm with running statistics (isStd: `running` holds a std, else a variance) */
  bnEval(
    M: number,
    N: number,
    x: number,
    gamma: number,
    beta: number,
    mean: number,
    running: number,
    eps: number,
    isStd: number,
    scale: number,
    shift: number,
    y: number,
  ): void;
  /** running = (1 - m) running + m value */
  blend(n: number, m: number, value: number, running: number): void;
  /** out = sqrt(v + eps) */
  sqrtEps(n: number, v: number, eps: number, out: number): void;
  /** mean cross-entropy of z[M, N] against targets y[M]; writes dz; returns the loss */
  crossEntropy(M: number, N: number, z: number, y: number, dz: number): number;
  /**
   * cross-entropy of z[M, N] against targets y[M] where -1 counts for nothing; writes
   * scale · (softmax - onehot) to dz (zeros for uncounted rows); returns the summed loss
   */
  seqCrossEntropy(M: number, N: number, z: number, y: number, dz: number, scale: number): number;
  /** out = a + b over n values, in vectors of 4 */
  addForward(n: number, a: number, b: number, out: number): void;
  /** dx = (acc ? dx : 0) + dy over n values */
  addGrad(n: number, dy: number, dx: number, acc: number): void;
  /** out[b, t, :] = x[b, t, :] + pos[t, :] for B lines of T positions of D values */
  addPositions(B: number, T: number, D: number, x: number, pos: number, out: number): void;
  /** out[b, t, :] = mean of x[b, 0..t, :] */
  causalMeanForward(B: number, T: number, D: number, x: number, out: number): void;
  /** gradient of causalMeanForward into dx (added when acc); tmp holds D floats */
  causalMeanBackward(B: number, T: number, D: number, dy: number, dx: number, acc: number, tmp: number): void;
  /** LayerNorm of each row of x[M, N] into y; keeps each row's mean and 1/√(var + eps) in mean[M], rstd[M] */
  layerNormForward(
    M: number,
    N: number,
    x: number,
    gamma: number,
    beta: number,
    eps: number,
    mean: number,
    rstd: number,
    y: number,
  ): void;
  /** backward pass of layerNormForward; dx, dgamma and dbeta each written or added by their flag */
  layerNormBackward(
    M: number,
    N: number,
    x: number,
    dy: number,
    gamma: number,
    mean: number,
    rstd: number,
    dx: number,
    accX: number,
    dgamma: number,
    accG: number,
    dbeta: number,
    accB: number,
  ): void;
  /** y = NewGELU(x) (tanh form) over n values, in vectors of 4; its gate σ(2u) to gate[n] */
  geluForward(n: number, x: number, y: number, gate: number): void;
  /** dx (+)= dy · NewGELU'(x) over n values, in vectors of 4, from the forward pass's gate */
  geluBackward(n: number, x: number, gate: number, dy: number, dx: number, acc: number): void;
  /** floats of scratch the attention kernels need for T positions and heads of hs channels */
  attentionWork(T: number, hs: number): number;
  /**
   * causal self-attention of qkv [B·T, 3C] into y [B·T, C]; probabilities to P [B·nh, T, ceil4(T)]
   * (keep 1) or one reused block (keep 0)
   */
  attentionForward(
    B: number,
    T: number,
    C: number,
    nh: number,
    qkv: number,
    y: number,
    P: number,
    keep: number,
    work: number,
  ): void;
  /** backward pass of attentionForward from the kept P: d(qkv) written or added */
  attentionBackward(
    B: number,
    T: number,
    C: number,
    nh: number,
    qkv: number,
    P: number,
    dy: number,
    dqkv: number,
    acc: number,
    work: number,
  ): void;
  /**
   * one AdamW step over n values (even) of p, g and the moments m, v, bit for bit the JavaScript
   * AdamW of lib/training/optimizers.ts (float32 constants of its AdamWStep)
   */
  adamwUpdate(
    n: number,
    p: number,
    g: number,
    m: number,
    v: number,
    decay: number,
    beta1: number,
    keep1: number,
    beta2: number,
    keep2: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
  ): void;
  /** y = σ(x) over exactly n values (recurrent kernels: wasm/recurrent.ts) */
  sigmoidForward(n: number, x: number, y: number): void;
  /** dst[i, :] = src[0, :] for B rows of H values */
  broadcastRow(B: number, H: number, src: number, dst: number): void;
  /** copies rows of `cols` values from rows lds floats apart to rows ldd floats apart */
  copyRows(rows: number, cols: number, src: number, lds: number, dst: number, ldd: number): void;
  /** dst row q·P + p = src row p·Q + q for rows of D values ([P, Q] blocks regrouped as [Q, P]) */
  permuteRows(P: number, Q: number, D: number, src: number, dst: number): void;
  /** RNN step: h = tanh(G) [B, H] into hn */
  rnnForwardStep(B: number, H: number, G: number, hn: number): void;
  /** RNN step backward: dG = (dOut_t + dn) (1 - h²) */
  rnnBackwardStep(B: number, H: number, h: number, dOut: number, ldo: number, dn: number, dG: number): void;
  /** GRU step: z, r = σ in place in G [B, 3H]; rh = r ∘ hp */
  gruGatesStep(B: number, H: number, G: number, hp: number, rh: number): void;
  /** GRU step: h̄ = tanh in place; h = hp + z (h̄ - hp) into hn */
  gruForwardStep(B: number, H: number, G: number, hp: number, hn: number): void;
  /** GRU step backward: dA_z, dA_h̄ into dG; dn = dh (1 - z) with dh = dOut_t + dn */
  gruBackwardStep(B: number, H: number, G: number, hp: number, dOut: number, ldo: number, dn: number, dG: number): void;
  /** GRU step backward: dA_r from drh (the gradient of r ∘ hp) into dG; dn += drh r */
  gruResetBackward(B: number, H: number, G: number, hp: number, drh: number, dn: number, dG: number): void;
  /** int32 ids [B·T·w]: k·stride + the k-th newest token position t of line b reads (`blank` before the line) */
  windowIds(B: number, T: number, w: number, blank: number, stride: number, tokens: number, ids: number): void;
  /** out[m, :] = bias + Σ_k table[ids[m·w + k], :] over M rows of N values (bias 0: none) */
  gatherSum(M: number, w: number, N: number, ids: number, table: number, bias: number, out: number): void;
  /** dTable [R, N] = the sum of dy[m, :] into every row ids[m·w + k] read (gatherSum's gradient) */
  scatterRows(M: number, w: number, N: number, R: number, ids: number, dy: number, dTable: number): void;
  /** first free byte after the module's static data */
  heapBase(): number;
  /** the instance's linear memory */
  memory: WasmMemory;
}

/** The part of a WebAssembly.Memory the lib uses. */
export interface WasmMemory {
  /** the bytes (replaced by a new buffer when the memory grows) */
  readonly buffer: ArrayBuffer;
  /** adds pages of 64 KiB; returns the previous number of pages */
  grow(pages: number): number;
}

// The global WebAssembly API, typed here: the project's TypeScript setup has no DOM library.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Whether this runtime runs the relaxed build. Node 20 has relaxed SIMD behind a V8 flag, which
 * it refuses in NODE_OPTIONS; V8 reads it when it compiles a module, so setting it here, before
 * the first compilation, serves every process that loads the kernels (the CLI, the notebooks'
 * kernel, jest's workers, the bench, a learner's script) without a flag on any command line.
 * Runtimes that ship relaxed SIMD validate the build without it.
 */
function runsRelaxed(bytes: Uint8Array): boolean {
  if (wasmApi.validate(bytes)) return true;
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return wasmApi.validate(bytes);
}

/** A compiled build, or (one line) why it cannot run here. */
type Loaded = { build: KernelBuild; module: object } | string;

/** Each build, compiled once. */
const modules = new Map<KernelBuild, Loaded>();

/** Compiles a build once per process; the reason when it cannot run here. */
function compileBuild(build: KernelBuild): Loaded {
  const known = modules.get(build);
  if (known !== undefined) return known;
  let result: Loaded;
  try {
    const bytes = fs.readFileSync(KERNEL_FILES[build]);
    const runs = build === "plain" || runsRelaxed(bytes);
    result = runs ? { build, module: new wasmApi.Module(bytes) } : "this runtime cannot run relaxed SIMD";
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    result =
      err.code === "ENOENT"
        ? "the fused kernels are not built (npm run setup)"
        : `the fused kernels did not load: ${String(err.message).split("\n")[0]}`;
  }
  modules.set(build, result);
  return result;
}

let chosen: Loaded | null = null;

/** The process's build, chosen once: the one MAKEMORE_KERNELS names, else relaxed where it runs, else plain. */
function defaultModule(): Loaded {
  if (chosen === null) chosen = chooseBuild(process.env.MAKEMORE_KERNELS ?? "");
  return chosen;
}

function chooseBuild(want: string): Loaded {
  if (!["", "auto", "plain", "relaxed"].includes(want)) {
    return `MAKEMORE_KERNELS must be plain, relaxed or auto, not '${want}'`;
  }
  if (want !== "plain") {
    const relaxed = compileBuild("relaxed");
    if (typeof relaxed !== "string") return relaxed;
    if (want === "relaxed") return `MAKEMORE_KERNELS=relaxed: ${relaxed}`;
  }
  return compileBuild("plain");
}

/** Whether the fused kernels can run in this process. */
export function kernelsAvailable(): boolean {
  return typeof defaultModule() !== "string";
}

/** Why the fused kernels cannot run, or null when they can. */
export function kernelsUnavailableReason(): string | null {
  const m = defaultModule();
  return typeof m === "string" ? m : null;
}

/** Which build of the kernels this process runs (null when none can run). */
export function kernelBuild(): KernelBuild | null {
  const m = defaultModule();
  return typeof m === "string" ? null : m.build;
}

/** The builds that run here (for tests that check each). */
export function runnableBuilds(): KernelBuild[] {
  return (["plain", "relaxed"] as const).filter((b) => typeof compileBuild(b) !== "string");
}

const PAGE = 65536;

/** One instance of the kernels with a bump allocator over its memory. */
export class KernelMemory {
  /** the kernels of this instance */
  readonly k: KernelExports;
  private next: number;
  private f32View: Float32Array;
  private i32View: Int32Array;

  /**
   * An instance of the process's build, or of the one named (tests check each).
   * @throws Error when that build cannot run here (the reason says why).
   */
  constructor(build?: KernelBuild) {
    const m = build === undefined ? defaultModule() : compileBuild(build);
    if (typeof m === "string") throw new Error(m);
    const instance = new wasmApi.Instance(m.module, {
      env: {
        abort: () => {
          throw new Error("fused kernel aborted");
        },
      },
    });
    this.k = instance.exports as unknown as KernelExports;
    this.next = align(this.k.heapBase(), 64);
    this.f32View = new Float32Array(this.k.memory.buffer);
    this.i32View = new Int32Array(this.k.memory.buffer);
  }

  /**
   * Reserves `count` 4-byte values, zero-filled, and returns the byte offset.
   * At least 16 bytes after the last value stay unused, so SIMD loops may read
   * (and elementwise kernels write) one vector past the end.
   */
  alloc(count: number): number {
    const at = this.next;
    this.next = bufferEnd(at, count);
    const need = Math.ceil(this.next / PAGE) - this.k.memory.buffer.byteLength / PAGE;
    if (need > 0) {
      this.k.memory.grow(need);
      this.f32View = new Float32Array(this.k.memory.buffer);
      this.i32View = new Int32Array(this.k.memory.buffer);
    }
    return at;
  }

  /** Bytes laid out so far. */
  get bytes(): number {
    return this.next;
  }

  /** A float32 view of `count` values at byte offset `at` (valid until the next alloc). */
  f32(at: number, count: number): Float32Array {
    return this.f32View.subarray(at >> 2, (at >> 2) + count);
  }

  /**
   * Writes the `count` values at byte offset `from` `reps` times, one after the
   * other, from byte offset `to`: a [count] vector tiled into [reps, count].
   */
  tile(from: number, count: number, reps: number, to: number): void {
    const src = from >> 2;
    for (let r = 0; r < reps; r++) this.f32View.copyWithin((to >> 2) + r * count, src, src + count);
  }

  /** An int32 view of `count` values at byte offset `at` (valid until the next alloc). */
  i32(at: number, count: number): Int32Array {
    return this.i32View.subarray(at >> 2, (at >> 2) + count);
  }
}

/**
 * Where the next buffer starts after one of `count` 4-byte values at byte
 * offset `at`: 16 bytes of slack, then the next multiple of 64 (the layout
 * {@link KernelMemory.alloc} gives, so a layout can be sized before it is made).
 */
export function bufferEnd(at: number, count: number): number {
  return align(at + Math.max(1, count) * 4 + 16, 64);
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
