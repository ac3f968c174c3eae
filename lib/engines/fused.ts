/**
 * Fused training steps: the forward pass, the cross-entropy, the hand-derived
 * backward pass and the SGD update of an MLP (or of the neural bigram), run as
 * a handful of calls into the SIMD kernels of lib/engines/kernels.ts instead of dozens
 * of tfjs ops; and fused evaluation, the forward pass alone with batch norm on
 * its running statistics ({@link FusedNet.evalLoss}, used by `splitLoss`).
 *
 * A model describes itself as a {@link FusedSpec}: an embedding followed by
 * Linear, batch-norm and tanh layers, each naming the tfjs variables it
 * uses. {@link FusedNet} copies those variables into the kernels' memory
 * ({@link FusedNet.load}), trains there, and writes them back
 * ({@link FusedNet.store}); lib/training/train.ts does that around its evaluations,
 * snapshots and gradient hooks, so callers only see ordinary tfjs variables.
 *
 * The arithmetic is the one of the tfjs path (same formulas, float32), so
 * losses agree to rounding; being one WebAssembly module, it gives the same
 * numbers whatever tfjs backend is active.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { bufferEnd, KernelMemory, kernelsAvailable, kernelsUnavailableReason } from "./kernels";
import type { LanguageModel } from "../models/model";
import { tf } from "../runtime/tf";

/**
 * The token embedding: [B, T] -> [B, T·dim], the context concatenated; or, with
 * `perPosition`, the same buffer read as B·T rows of dim ([B, T, dim]), for
 * {@link FusedFlatten} layers to merge.
 */
export interface FusedEmbedding {
  /** "embedding" */
  kind: "embedding";
  /** the table [vocab, dim] */
  table: tfjs.Variable;
  /** one row per position (B·T rows of dim) instead of one per example */
  perPosition?: boolean;
}

/**
 * Lecture 5's FlattenConsecutive(n): merges n consecutive rows of an example
 * into one, [B·T, C] -> [B·T/n, C·n]. A pure reshape of the contiguous buffer,
 * so it costs nothing: the layers after it see fewer, wider rows.
 */
export interface FusedFlatten {
  /** "flatten" */
  kind: "flatten";
  /** rows merged into one */
  n: number;
}

/** `x @ W (+ b)` with W [fanIn, fanOut]. */
export interface FusedLinear {
  /** "linear" */
  kind: "linear";
  /** weights [fanIn, fanOut] */
  weight: tfjs.Variable;
  /** bias [fanOut], or null */
  bias: tfjs.Variable | null;
}

/**
 * Training-mode batch normalization, `gamma · (x - mean) / sqrt(var + eps) + beta`,
 * with the batch variance divided by `divisor` ("n" like torch.nn.BatchNorm1d,
 * "n-1" like the lecture's `hpreact.std(0)`). The running statistics move by
 * `momentum` towards the batch mean and towards either the unbiased batch
 * variance (`runningKind` "var") or `sqrt(unbiased var + eps)` ("std").
 *
 * After a per-position embedding, a layer sees several rows per example (the
 * positions T of [B, T, dim]); `statsOver` says which of them share statistics.
 */
export interface FusedBatchNorm {
  /** "batchnorm" */
  kind: "batchnorm";
  /** gain [dim] */
  gamma: tfjs.Variable;
  /** shift [dim] */
  beta: tfjs.Variable;
  /** running mean [dim] (a buffer) */
  runningMean: tfjs.Variable;
  /** running variance or std [dim] (a buffer) */
  running: tfjs.Variable;
  /** what `running` holds */
  runningKind: "var" | "std";
  /** added to the variance */
  eps: number;
  /** weight of the batch in the running statistics (0: leave them alone) */
  momentum: number;
  /** divisor of the batch variance used to normalize */
  divisor: "n" | "n-1";
  /**
   * "rows" (the default): one mean and variance per feature over every row,
   * lecture 5's dimensions (0, 1). "examples": one per position and feature,
   * over the batch's examples only (lecture 5's bug, dimension 0 of
   * [B, T, dim]); the running statistics then hold T · dim values, position
   * by position, while gamma and beta stay [dim], shared by the positions.
   */
  statsOver?: "rows" | "examples";
}

/** Elementwise tanh. */
export interface FusedTanh {
  /** "tanh" */
  kind: "tanh";
}

/** One layer of a {@link FusedSpec}. */
export type FusedLayer = FusedEmbedding | FusedFlatten | FusedLinear | FusedBatchNorm | FusedTanh;

/** An L2 penalty `coefficient · mean(param²)` added to the training loss. */
export interface FusedL2 {
  /** a parameter of one of the layers */
  param: tfjs.Variable;
  /** its weight in the loss (the neural bigram's lambda) */
  coefficient: number;
}

/** A model as the fused kernels see it: an embedding, then layers ending in the logits. */
export interface FusedSpec {
  /** tokens of context */
  blockSize: number;
  /** size of the vocabulary (columns of the logits) */
  vocabSize: number;
  /** the layers in order; the first is the embedding */
  layers: FusedLayer[];
  /** regularization terms of the training loss (the model's `regularization()`), if any */
  l2?: FusedL2[];
}

/**
 * Bytes of kernel memory the buffers of a {@link FusedNet} of this spec take
 * for a batch (parameters, gradients and every activation), to decide before
 * allocating: the network's own layout, counted without memory.
 * @throws Error when the spec is malformed.
 */
export function fusedBytes(spec: FusedSpec, batchSize: number): number {
  let end = 0;
  layOut(spec, batchSize, (count) => {
    const at = end;
    end = bufferEnd(at, count);
    return at;
  });
  return end;
}

/** A model that can describe itself for the fused kernels. */
export interface Fusable {
  /**
   * The model's {@link FusedSpec}, or null when it cannot be fused as it is now
   * (for instance while it records the activations of each forward pass).
   */
  fusedSpec(): FusedSpec | null;
}

/** Whether a model offers a fused spec (see {@link Fusable}). */
export function isFusable(model: object): model is Fusable {
  return typeof (model as Partial<Fusable>).fusedSpec === "function";
}

/**
 * The model's fused spec as it is now, or why it has none: no fused form, the
 * kernels are not built, or the model is recording its activations. (Training
 * adds its own conditions: see `fusedPlan` in lib/training/train.ts.)
 */
export function fusedSpecOf(model: object): FusedSpec | string {
  if (!isFusable(model)) return "the model has no fused form";
  if (!kernelsAvailable()) return kernelsUnavailableReason() ?? "the fused kernels are not available";
  return model.fusedSpec() ?? "the model cannot be fused while it records its activations";
}

/** Whether fused training can run in this process, and if not, why. */
export function fusedStatus(): { available: boolean; reason: string | null } {
  return { available: kernelsAvailable(), reason: kernelsUnavailableReason() };
}

/** A variable and where its values (and gradient) live in kernel memory. */
interface Slot {
  v: tfjs.Variable;
  size: number;
  /** byte offset of the values */
  at: number;
  /** byte offset of the gradient (parameters only) */
  grad: number;
}

/**
 * A layer with its buffers laid out (byte offsets). `rows` is the rows of its
 * output per example (1, or more between a per-position embedding and the
 * flatten that merges the last of them): a layer runs on batch · rows rows.
 */
type Plan =
  | { kind: "embedding"; rows: number; table: Slot; vocab: number; dim: number; out: number; dOut: number }
  | { kind: "flatten"; rows: number; out: number; dOut: number }
  | {
      kind: "linear";
      rows: number;
      w: Slot;
      b: Slot | null;
      fanIn: number;
      fanOut: number;
      wT: number;
      out: number;
      dOut: number;
    }
  | {
      kind: "batchnorm";
      rows: number;
      spec: FusedBatchNorm;
      gamma: Slot;
      beta: Slot;
      mean: Slot;
      running: Slot;
      dim: number;
      /** columns of statistics: dim, or rows · dim when each position has its own */
      cols: number;
      /** with statistics per position: gamma and beta tiled to [cols] and their [cols] gradients */
      wide: WideAffine | null;
      batchMean: number;
      invStd: number;
      uvar: number;
      tmp: number;
      xhat: number;
      out: number;
      dOut: number;
    }
  | { kind: "tanh"; rows: number; dim: number; out: number; dOut: number };

/** Byte offsets of a batch norm's gamma and beta repeated for every position, and of their gradients. */
interface WideAffine {
  gamma: number;
  beta: number;
  dGamma: number;
  dBeta: number;
}

/** The batch-norm member of {@link Plan}. */
type BatchNormPlan = Extract<Plan, { kind: "batchnorm" }>;

/** Where everything of a {@link FusedNet} lives (byte offsets from `alloc`). */
interface Layout {
  params: tfjs.Variable[];
  buffers: tfjs.Variable[];
  slots: Slot[];
  plan: Plan[];
  paramFloats: number;
  paramBase: number;
  gradBase: number;
  xAt: number;
  yAt: number;
  penalties: { slot: Slot; coefficient: number }[];
}

/**
 * Lays out a network of the spec for batches of B with `alloc` (which returns
 * the byte offset of `count` new 4-byte values), checking the spec on the way.
 */
function layOut(spec: FusedSpec, B: number, alloc: (count: number) => number): Layout {
  if (!Number.isInteger(B) || B < 2) {
    throw new RangeError(`fused training needs a batch of at least 2, got ${B}`);
  }
  const first = spec.layers[0];
  if (!first || first.kind !== "embedding") throw new Error("a fused spec starts with the embedding");
  const slots: Slot[] = [];
  const params = spec.layers.flatMap(layerParams);
  // parameters first, contiguous, then their gradients with the same layout, so
  // one sgdUpdate call updates everything
  const offsets = new Map<tfjs.Variable, number>();
  let floats = 0;
  for (const p of params) {
    offsets.set(p, floats);
    floats += Math.ceil(p.size / 16) * 16;
  }
  const paramBase = alloc(floats);
  const gradBase = alloc(floats);
  const buffers: tfjs.Variable[] = [];
  const ctx: LayoutContext = {
    B,
    blockSize: spec.blockSize,
    alloc,
    width: 0,
    rows: 1,
    prev: null,
    param: (v) => {
      const off = (offsets.get(v) as number) * 4;
      const slot = { v, size: v.size, at: paramBase + off, grad: gradBase + off };
      slots.push(slot);
      return slot;
    },
    buffer: (v) => {
      const slot = { v, size: v.size, at: alloc(v.size), grad: -1 };
      buffers.push(v);
      slots.push(slot);
      return slot;
    },
  };
  const xAt = alloc(B * spec.blockSize);
  const yAt = alloc(B);
  const plan: Plan[] = [];
  spec.layers.forEach((l, i) => {
    const p = planLayer(l, i, ctx);
    plan.push(p);
    ctx.prev = p;
  });
  if (ctx.width !== spec.vocabSize) {
    throw new Error(`the last layer gives ${ctx.width} outputs for ${spec.vocabSize} tokens`);
  }
  if (ctx.rows !== 1) throw new Error(`the last layer gives ${ctx.rows} rows per example: flatten them first`);
  const penalties = (spec.l2 ?? []).map(({ param: v, coefficient }) => {
    const slot = slots.find((s) => s.v === v && s.grad >= 0);
    if (!slot) throw new Error("an L2 term names a variable that is not a parameter of the layers");
    return { slot, coefficient };
  });
  return { params, buffers, slots, plan, paramFloats: floats, paramBase, gradBase, xAt, yAt, penalties };
}

/** The trainable variables of a layer, in the order the kernels lay them out. */
function layerParams(l: FusedLayer): tfjs.Variable[] {
  if (l.kind === "embedding") return [l.table];
  if (l.kind === "linear") return l.bias ? [l.weight, l.bias] : [l.weight];
  if (l.kind === "batchnorm") return [l.gamma, l.beta];
  return [];
}

/** What laying out one layer needs: the batch, the allocator, slots for variables, and the width so far. */
interface LayoutContext {
  B: number;
  blockSize: number;
  alloc: (count: number) => number;
  param: (v: tfjs.Variable) => Slot;
  buffer: (v: tfjs.Variable) => Slot;
  /** features per row after the layers laid out so far */
  width: number;
  /** rows per example after the layers laid out so far */
  rows: number;
  /** the plan of the layer before, whose buffers a flatten reuses */
  prev: Plan | null;
}

/** Lays out layer i's buffers, checking that it fits the width before it. */
function planLayer(l: FusedLayer, i: number, c: LayoutContext): Plan {
  const { B, alloc } = c;
  switch (l.kind) {
    case "embedding": {
      if (i !== 0) throw new Error("the embedding must be the first layer of a fused spec");
      const [vocab, dim] = l.table.shape as [number, number];
      if (l.table.rank !== 2 || vocab < 1) throw new Error("the embedding table must be [vocab, dim]");
      // the same [B, T·dim] buffer either way; only how the next layers read it differs
      c.rows = l.perPosition ? c.blockSize : 1;
      c.width = (c.blockSize * dim) / c.rows;
      const table = c.param(l.table);
      const size = B * c.blockSize * dim;
      return { kind: "embedding", rows: c.rows, table, vocab, dim, out: alloc(size), dOut: alloc(size) };
    }
    case "flatten": {
      const prev = c.prev;
      if (!prev || !Number.isInteger(l.n) || l.n < 1 || c.rows % l.n !== 0) {
        throw new Error(`layer ${i}: cannot merge ${c.rows} rows per example in groups of ${l.n}`);
      }
      c.rows /= l.n;
      c.width *= l.n;
      // a reshape: the layer before's output and gradient buffers, read with fewer, wider rows
      return { kind: "flatten", rows: c.rows, out: prev.out, dOut: prev.dOut };
    }
    case "linear": {
      const [fanIn, fanOut] = l.weight.shape as [number, number];
      if (fanIn !== c.width) throw new Error(`layer ${i}: a Linear of fan-in ${fanIn} after ${c.width} features`);
      if (l.bias && l.bias.size !== fanOut) throw new Error(`layer ${i}: bias of ${l.bias.size} for ${fanOut} outputs`);
      c.width = fanOut;
      const w = c.param(l.weight);
      const b = l.bias ? c.param(l.bias) : null;
      const M = B * c.rows;
      return {
        kind: "linear",
        rows: c.rows,
        w,
        b,
        fanIn,
        fanOut,
        wT: alloc(fanIn * fanOut),
        out: alloc(M * fanOut),
        dOut: alloc(M * fanOut),
      };
    }
    case "batchnorm":
      return planBatchNorm(l, i, c);
    case "tanh": {
      const size = B * c.rows * c.width;
      return { kind: "tanh", rows: c.rows, dim: c.width, out: alloc(size), dOut: alloc(size) };
    }
  }
}

function planBatchNorm(l: FusedBatchNorm, i: number, c: LayoutContext): Plan {
  const { alloc, width } = c;
  const size = c.B * c.rows * width;
  if (l.gamma.size !== width) throw new Error(`layer ${i}: batch norm of ${l.gamma.size} after ${width} features`);
  // over every row, [B·T, dim] is the 2-D case; per position, [B, T·dim] is, with T·dim columns
  const cols = l.statsOver === "examples" ? c.rows * width : width;
  if (l.runningMean.size !== cols || l.running.size !== cols) {
    throw new Error(`layer ${i}: running statistics of ${l.runningMean.size} for ${cols} columns of statistics`);
  }
  const wide =
    cols === width ? null : { gamma: alloc(cols), beta: alloc(cols), dGamma: alloc(cols), dBeta: alloc(cols) };
  return {
    kind: "batchnorm",
    rows: c.rows,
    spec: l,
    gamma: c.param(l.gamma),
    beta: c.param(l.beta),
    mean: c.buffer(l.runningMean),
    running: c.buffer(l.running),
    dim: width,
    cols,
    wide,
    batchMean: alloc(cols),
    invStd: alloc(cols),
    uvar: alloc(cols),
    tmp: alloc(cols),
    xhat: alloc(size),
    out: alloc(size),
    dOut: alloc(size),
  };
}

/**
 * A model's layers in kernel memory, for one batch size: parameters,
 * gradients, buffers and every activation, laid out once.
 */
export class FusedNet {
  /** examples per step */
  readonly batchSize: number;
  /** the trainable variables, in the order of the spec */
  readonly params: tfjs.Variable[];
  /** the buffers (batch-norm running statistics) */
  readonly buffers: tfjs.Variable[];
  private readonly mem: KernelMemory;
  private readonly spec: FusedSpec;
  private readonly plan: Plan[];
  private readonly slots: Slot[];
  private readonly paramFloats: number;
  private readonly paramBase: number;
  private readonly gradBase: number;
  private readonly xAt: number;
  private readonly yAt: number;
  private readonly penalties: { slot: Slot; coefficient: number }[];

  /**
   * Lays out the network; call {@link FusedNet.load} before training.
   * @throws Error when the kernels are not available or the spec is malformed.
   */
  constructor(spec: FusedSpec, batchSize: number) {
    this.mem = new KernelMemory();
    this.spec = spec;
    this.batchSize = batchSize;
    const layout = layOut(spec, batchSize, (count) => this.mem.alloc(count));
    this.params = layout.params;
    this.buffers = layout.buffers;
    this.slots = layout.slots;
    this.plan = layout.plan;
    this.paramFloats = layout.paramFloats;
    this.paramBase = layout.paramBase;
    this.gradBase = layout.gradBase;
    this.xAt = layout.xAt;
    this.yAt = layout.yAt;
    this.penalties = layout.penalties;
  }

  /** Byte offset of the gradient of the logits (the last layer's dOut). */
  private get logitsGrad(): number {
    return (this.plan[this.plan.length - 1] as Plan).dOut;
  }

  /** Bytes of kernel memory the network uses. */
  get bytes(): number {
    return this.mem.bytes;
  }

  /** Copies every parameter and buffer from its tfjs variable into kernel memory (a sync read of each). */
  load(): void {
    for (const s of this.slots) this.mem.f32(s.at, s.size).set(s.v.dataSync() as Float32Array);
  }

  /** Writes every parameter and buffer back into its tfjs variable. */
  store(): void {
    tf.tidy(() => {
      for (const s of this.slots) s.v.assign(tf.tensor(this.mem.f32(s.at, s.size).slice(), s.v.shape, "float32"));
    });
  }

  /**
   * The int32 views the next step reads its batch from: contexts
   * [batchSize · blockSize] and targets [batchSize]. Fill them, then call
   * {@link FusedNet.forwardBackward}.
   */
  batchViews(): { X: Int32Array; Y: Int32Array } {
    return {
      X: this.mem.i32(this.xAt, this.batchSize * this.spec.blockSize),
      Y: this.mem.i32(this.yAt, this.batchSize),
    };
  }

  /**
   * Forward pass in training mode (batch statistics; running statistics move),
   * the mean cross-entropy of the batch in {@link FusedNet.batchViews}, and the
   * gradient of every parameter. Returns the loss. Parameters are not changed.
   */
  forwardBackward(): number {
    const n = this.plan.length;
    for (let i = 0; i < n; i++) this.forwardLayer(i);
    const loss = this.loss();
    for (let i = n - 1; i >= 0; i--) this.backwardLayer(i);
    return loss + this.penalty();
  }

  /**
   * Where the time of a step goes: runs `steps` steps on the batch in
   * {@link FusedNet.batchViews} (with learning rate 0, so the parameters stay)
   * and returns the mean microseconds of each stage, forward, loss and backward
   * layer by layer and the update, in the order they run.
   */
  profile(steps = 1000): { stage: string; us: number }[] {
    const n = this.plan.length;
    const names = this.plan.map((p, i) => `${i} ${p.kind}`);
    const stages = [
      ...names.map((s) => `forward ${s}`),
      "loss",
      ...names.map((s) => `backward ${s}`).reverse(),
      ...(this.penalties.length > 0 ? ["l2 penalty"] : []),
      "update",
    ];
    const total = new Float64Array(stages.length);
    for (let s = 0; s < steps; s++) {
      let k = 0;
      let t = performance.now();
      const lap = (): void => {
        const now = performance.now();
        total[k++] += now - t;
        t = now;
      };
      for (let i = 0; i < n; i++) {
        this.forwardLayer(i);
        lap();
      }
      this.loss();
      lap();
      for (let i = n - 1; i >= 0; i--) {
        this.backwardLayer(i);
        lap();
      }
      if (this.penalties.length > 0) {
        this.penalty();
        lap();
      }
      this.update(0);
      lap();
    }
    return stages.map((stage, i) => ({ stage, us: ((total[i] as number) * 1000) / steps }));
  }

  /**
   * Mean cross-entropy of the first `rows` examples in {@link FusedNet.batchViews},
   * in evaluation mode: batch norm normalizes with the running statistics, and
   * no parameter or buffer changes. (Like `splitLoss`, without regularization.)
   * @throws RangeError when rows is not between 1 and the batch size.
   */
  evalLoss(rows = this.batchSize): number {
    if (!Number.isInteger(rows) || rows < 1 || rows > this.batchSize) {
      throw new RangeError(`rows must be an integer from 1 to ${this.batchSize}, got ${rows}`);
    }
    for (let i = 0; i < this.plan.length; i++) this.forwardLayer(i, rows, false);
    return this.loss(rows); // the gradient it also writes is scratch here
  }

  /**
   * The forward pass of layer i over the first B rows, from the output of layer
   * i - 1 (or the batch): in training mode (batch statistics, running statistics
   * updated) or in evaluation mode (running statistics).
   */
  private forwardLayer(i: number, batch = this.batchSize, training = true): void {
    const k = this.mem.k;
    const p = this.plan[i] as Plan;
    const x = i > 0 ? (this.plan[i - 1] as Plan).out : 0;
    const B = batch * p.rows; // rows this layer runs on
    switch (p.kind) {
      case "embedding":
        k.embedForward(batch, this.spec.blockSize, p.dim, this.xAt, p.table.at, p.out);
        break;
      case "flatten":
        break; // a reshape: the buffer is already in place
      case "linear":
        k.gemm(B, p.fanOut, p.fanIn, x, p.fanIn, 1, p.w.at, p.fanOut, p.out, p.fanOut, 0, p.b ? p.b.at : 0);
        break;
      case "batchnorm":
        this.batchNormForward(p, batch, x, training);
        break;
      case "tanh":
        k.tanhForward(B * p.dim, x, p.out);
        break;
    }
  }

  /**
   * A batch norm's forward pass over `batch` examples, as the 2-D kernel on
   * M rows of N columns of statistics (see {@link FusedNet.batchNormShape}).
   */
  private batchNormForward(p: BatchNormPlan, batch: number, x: number, training: boolean): void {
    const k = this.mem.k;
    const s = p.spec;
    const { M, N, gamma, beta } = this.batchNormShape(p, batch);
    if (p.wide) {
      // the positions share gamma and beta: repeat them for the kernels, which see one row per example
      this.mem.tile(p.gamma.at, p.dim, p.rows, gamma);
      this.mem.tile(p.beta.at, p.dim, p.rows, beta);
    }
    if (!training) {
      const isStd = s.runningKind === "std" ? 1 : 0;
      k.bnEval(M, N, x, gamma, beta, p.mean.at, p.running.at, s.eps, isStd, p.tmp, p.uvar, p.out);
      return;
    }
    const divisor = s.divisor === "n" ? M : M - 1;
    k.bnForward(M, N, x, gamma, beta, s.eps, divisor, p.batchMean, p.invStd, p.uvar, p.xhat, p.out);
    if (s.momentum > 0) {
      k.blend(N, s.momentum, p.batchMean, p.mean.at);
      if (s.runningKind === "std") {
        k.sqrtEps(N, p.uvar, s.eps, p.tmp);
        k.blend(N, s.momentum, p.tmp, p.running.at);
      } else {
        k.blend(N, s.momentum, p.uvar, p.running.at);
      }
    }
  }

  /**
   * A batch norm's statistics as the 2-D kernels see them: M rows of N
   * columns, and the gamma and beta of each column. Over every row that is
   * [batch · rows, dim] with the parameters themselves; per position it is
   * [batch, rows · dim], the same bytes, with the tiled copies.
   */
  private batchNormShape(p: BatchNormPlan, batch: number): { M: number; N: number; gamma: number; beta: number } {
    if (!p.wide) return { M: batch * p.rows, N: p.dim, gamma: p.gamma.at, beta: p.beta.at };
    return { M: batch, N: p.cols, gamma: p.wide.gamma, beta: p.wide.beta };
  }

  /**
   * A batch norm's backward pass; per position, the gradients of the tiled
   * gamma and beta are summed over the positions into the shared ones.
   */
  private batchNormBackward(p: BatchNormPlan, dInput: number): void {
    const k = this.mem.k;
    const { M, N, gamma } = this.batchNormShape(p, this.batchSize);
    const divisor = p.spec.divisor === "n" ? M : M - 1;
    const dGamma = p.wide ? p.wide.dGamma : p.gamma.grad;
    const dBeta = p.wide ? p.wide.dBeta : p.beta.grad;
    k.bnBackward(M, N, p.dOut, p.xhat, gamma, p.invStd, divisor, dGamma, dBeta, dInput);
    if (p.wide) {
      k.colSum(p.rows, p.dim, dGamma, p.gamma.grad, 0);
      k.colSum(p.rows, p.dim, dBeta, p.beta.grad, 0);
    }
  }

  /** The mean cross-entropy of the logits of the first `rows` examples; writes their gradient. */
  private loss(rows = this.batchSize): number {
    const logits = (this.plan[this.plan.length - 1] as Plan).out;
    return this.mem.k.crossEntropy(rows, this.spec.vocabSize, logits, this.yAt, this.logitsGrad);
  }

  /** Adds the L2 terms' gradients to those of the backward pass; returns their value. */
  private penalty(): number {
    let total = 0;
    for (const { slot, coefficient } of this.penalties) {
      total += this.mem.k.l2Penalty(slot.size, coefficient, slot.at, slot.grad);
    }
    return total;
  }

  /** The backward pass of layer i: gradients of its parameters and of its input. */
  private backwardLayer(i: number): void {
    const k = this.mem.k;
    const p = this.plan[i] as Plan;
    const B = this.batchSize * p.rows; // rows this layer runs on
    const input = i > 0 ? (this.plan[i - 1] as Plan).out : 0;
    const dInput = i > 0 ? (this.plan[i - 1] as Plan).dOut : 0;
    switch (p.kind) {
      case "embedding":
        k.embedBackward(this.batchSize, this.spec.blockSize, p.dim, p.vocab, this.xAt, p.dOut, p.table.grad);
        break;
      case "linear":
        // dW = xᵀ dy, db = Σ dy, dx = dy Wᵀ (through an explicit transpose of W)
        k.gemm(p.fanIn, p.fanOut, B, input, 1, p.fanIn, p.dOut, p.fanOut, p.w.grad, p.fanOut, 0, 0);
        if (p.b) k.colSum(B, p.fanOut, p.dOut, p.b.grad, 0);
        k.transpose(p.fanIn, p.fanOut, p.w.at, p.wT);
        k.gemm(B, p.fanIn, p.fanOut, p.dOut, p.fanOut, 1, p.wT, p.fanIn, dInput, p.fanIn, 0, 0);
        break;
      case "batchnorm":
        this.batchNormBackward(p, dInput);
        break;
      case "tanh":
        k.tanhBackward(B * p.dim, p.out, p.dOut, dInput);
        break;
      case "flatten":
        break; // the layer after it wrote into the shared gradient buffer
    }
  }

  /** `p -= lr · grad` for every parameter, with the gradients of the last {@link FusedNet.forwardBackward}. */
  update(lr: number): void {
    this.mem.k.sgdUpdate(this.paramFloats, lr, this.gradBase, this.paramBase);
  }

  /** One SGD step on the batch in {@link FusedNet.batchViews}; returns the loss before the update. */
  step(lr: number): number {
    const loss = this.forwardBackward();
    this.update(lr);
    return loss;
  }

  /** Views of the parameters in kernel memory, in the order of {@link FusedNet.params}, for optimizers that update them from JS. */
  paramViews(): Float32Array[] {
    return this.paramSlots().map((s) => this.mem.f32(s.at, s.size));
  }

  /** Views of the gradients of the last {@link FusedNet.forwardBackward}, in the order of {@link FusedNet.params}. */
  gradViews(): Float32Array[] {
    return this.paramSlots().map((s) => this.mem.f32(s.grad, s.size));
  }

  private paramSlots(): Slot[] {
    return this.params.map((v) => this.slots.find((s) => s.v === v && s.grad >= 0) as Slot);
  }

  /** The gradients of the last {@link FusedNet.forwardBackward} as new tfjs tensors (the caller disposes them). */
  gradients(): Map<tfjs.Variable, tfjs.Tensor> {
    const out = new Map<tfjs.Variable, tfjs.Tensor>();
    for (const s of this.slots) {
      if (s.grad >= 0) out.set(s.v, tf.tensor(this.mem.f32(s.grad, s.size).slice(), s.v.shape, "float32"));
    }
    return out;
  }
}

/** How far one parameter's fused gradient is from tfjs's autodiff gradient. */
export interface GradientCheck {
  /** position in `model.parameters()` */
  index: number;
  /** shape of the parameter */
  shape: number[];
  /** largest |fused - autodiff| over the parameter's entries */
  maxAbsDiff: number;
  /** largest |autodiff gradient| (to judge the difference against) */
  maxAbsGrad: number;
}

/**
 * The training loss of a spec in plain tfjs ops, with no custom gradient
 * anywhere (the embedding as a one-hot product, the cross-entropy from
 * logSoftmax), so that tfjs's automatic differentiation of it is an
 * independent check of the fused backward pass. Running statistics are not touched.
 */
export function specLoss(spec: FusedSpec, X: tfjs.Tensor2D, Y: tfjs.Tensor1D): tfjs.Scalar {
  const [B, T] = X.shape;
  let h: tfjs.Tensor2D = X as tfjs.Tensor2D; // [rows, width], rows = B · rows per example
  for (const l of spec.layers) {
    if (l.kind === "embedding") {
      const [vocab, dim] = l.table.shape as [number, number];
      const oneHot = tf.cast(tf.oneHot(X.reshape([B * T]) as tfjs.Tensor1D, vocab), "float32") as tfjs.Tensor2D;
      const rows = l.perPosition ? B * T : B;
      h = tf.matMul(oneHot, l.table as tfjs.Tensor2D).reshape([rows, (B * T * dim) / rows]) as tfjs.Tensor2D;
    } else if (l.kind === "flatten") {
      h = h.reshape([h.shape[0] / l.n, h.shape[1] * l.n]);
    } else if (l.kind === "linear") {
      const y = tf.matMul(h, l.weight as tfjs.Tensor2D) as tfjs.Tensor2D;
      h = l.bias ? (tf.add(y, l.bias) as tfjs.Tensor2D) : y;
    } else if (l.kind === "batchnorm") {
      h = specBatchNorm(l, h, l.statsOver === "examples" ? B : h.shape[0]);
    } else h = tf.tanh(h);
  }
  const picked = tf.sum(tf.mul(tf.logSoftmax(h), tf.cast(tf.oneHot(Y, spec.vocabSize), "float32")), 1);
  let loss = tf.neg(tf.mean(picked)) as tfjs.Scalar;
  for (const { param, coefficient } of spec.l2 ?? []) {
    loss = tf.add(loss, tf.mul(coefficient, tf.mean(tf.square(param))));
  }
  return loss;
}

/**
 * Batch norm of h [rows, width] in plain ops, with statistics over `n` groups
 * of rows: n = rows pools every row; n = the examples gives each position
 * (the rows of one example) statistics of its own, over the examples.
 */
function specBatchNorm(l: FusedBatchNorm, h: tfjs.Tensor2D, n: number): tfjs.Tensor2D {
  const grouped = h.reshape([n, h.size / n]);
  const centred = tf.sub(grouped, tf.mean(grouped, 0));
  const variance = tf.div(tf.sum(tf.square(centred), 0), l.divisor === "n" ? n : n - 1);
  const xhat = tf.div(centred, tf.sqrt(tf.add(variance, l.eps))).reshape(h.shape);
  return tf.add(tf.mul(l.gamma, xhat), l.beta) as tfjs.Tensor2D;
}

/**
 * Checks the fused backward pass against tfjs's automatic differentiation of
 * {@link specLoss} (plain ops, no custom gradients) on one batch: the loss of
 * both and, per parameter, the largest difference of the gradients. The model
 * is not changed.
 *
 * @param model - a fusable model (an MLP or DeepMLP)
 * @param X - int32 contexts [batch · blockSize], flat
 * @param Y - int32 targets [batch]
 * @throws Error when the model cannot be fused as it is.
 */
export function checkFusedGradients(
  model: LanguageModel & Fusable,
  X: Int32Array,
  Y: Int32Array,
): { fusedLoss: number; tfjsLoss: number; params: GradientCheck[] } {
  const spec = model.fusedSpec();
  if (!spec) throw new Error("the model cannot be fused as it is (is it recording activations?)");
  const batch = Y.length;
  const net = new FusedNet(spec, batch);
  net.load();
  const views = net.batchViews();
  views.X.set(X);
  views.Y.set(Y);
  const fusedLoss = net.forwardBackward();
  const fused = net.gradients();
  const params = model.parameters();
  let tfjsLoss = NaN;
  let checks: GradientCheck[] = [];
  try {
    tf.tidy(() => {
      const Xt = tf.tensor2d(X, [batch, spec.blockSize], "int32") as tfjs.Tensor2D;
      const Yt = tf.tensor1d(Y, "int32") as tfjs.Tensor1D;
      const { value, grads } = tf.variableGrads(() => specLoss(spec, Xt, Yt), params);
      // per parameter: max |fused - autodiff| and max |autodiff|, read at once
      const stats = tf
        .stack(
          params.flatMap((p) => {
            const auto = grads[p.name] as tfjs.Tensor;
            return [tf.max(tf.abs(tf.sub(fused.get(p) as tfjs.Tensor, auto))), tf.max(tf.abs(auto))];
          }),
        )
        .dataSync();
      tfjsLoss = value.dataSync()[0] as number;
      checks = params.map((p, index) => ({
        index,
        shape: [...p.shape],
        maxAbsDiff: stats[2 * index] as number,
        maxAbsGrad: stats[2 * index + 1] as number,
      }));
    });
    return { fusedLoss, tfjsLoss, params: checks };
  } finally {
    fused.forEach((g) => g.dispose());
  }
}
