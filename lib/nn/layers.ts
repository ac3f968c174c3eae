/**
 * A small PyTorch-like layer API, as written by hand in lecture 3: `Linear`,
 * `BatchNorm1d`, `Tanh` (and lecture 5's `Embedding`, `Flatten`,
 * `Sequential`). Every layer has `parameters()`, a `training` flag and an
 * `out` field holding its last output, so a notebook can loop over
 * `layers` and look at `layer.out` like the lecture does.
 *
 * Ownership of `out`: a layer keeps its output only while `keepOutput` is
 * true. The kept tensor is a clone owned by the layer (it survives
 * `tf.tidy`); it is disposed when the next forward replaces it, by
 * {@link BaseLayer.clearOutput} and by `dispose()`. Callers must not dispose it.
 *
 * Weights are drawn from a seeded {@link Generator}, like torch with a
 * generator, so a seed gives the same network on every backend; a
 * `generator` option takes any {@link NormalDraws}, the lecture's
 * `TorchGenerator` included.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { EagerOps } from "./eager";
import { applyAll, type BatchNormState, type Ops } from "./ops-interface";
import { Generator } from "../random/generator";
import type { NormalDraws } from "../random/torch";
import { tf } from "../runtime/tf";
import { LECTURE_SEED } from "../random/seeds";

/** The seed used when neither a generator nor a seed is given (the lectures' 2147483647). */
export const DEFAULT_LAYER_SEED = LECTURE_SEED;

/** Nonlinearities with a recommended Kaiming gain (see {@link calculateGain}). */
export type Nonlinearity = "linear" | "sigmoid" | "tanh" | "relu";

/**
 * The gain recommended for a nonlinearity, like `torch.nn.init.calculate_gain`:
 * 1 for linear and sigmoid, 5/3 for tanh, √2 for ReLU.
 */
export function calculateGain(nonlinearity: Nonlinearity): number {
  switch (nonlinearity) {
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    default:
      return 1;
  }
}

/**
 * The standard deviation of Kaiming initialization: `gain / sqrt(fanIn)`.
 * @throws RangeError when fanIn is not a positive integer.
 */
export function kaimingStd(gain: number, fanIn: number): number {
  if (!Number.isInteger(fanIn) || fanIn < 1) throw new RangeError(`fanIn must be a positive integer, got ${fanIn}`);
  return gain / Math.sqrt(fanIn);
}

/** A tensor of standard normal draws times `scale`: `torch.randn(shape, generator=g) * scale`. */
export function initRandn(shape: readonly number[], generator: NormalDraws, scale = 1): tfjs.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = generator.randnArray(n);
  if (scale !== 1) for (let i = 0; i < n; i++) values[i] = (values[i] as number) * scale;
  return tf.tensor(values, [...shape], "float32");
}

/**
 * Kaiming-normal weights for a [fanIn, fanOut] matrix: normal draws with
 * standard deviation {@link kaimingStd}(gain, fanIn).
 */
export function initKaiming(shape: readonly [number, number], generator: NormalDraws, gain = 1): tfjs.Tensor2D {
  return initRandn(shape, generator, kaimingStd(gain, shape[0])) as tfjs.Tensor2D;
}

/**
 * Multiplies a variable in place, like `with torch.no_grad(): w *= factor`
 * (the lecture's `layer.weight *= 5/3`, `layers[-1].gamma *= 0.1`).
 */
export function scaleVariable(v: tfjs.Variable, factor: number): void {
  tf.tidy(() => {
    v.assign(tf.mul(v, factor));
  });
}

/**
 * The generator a layer draws from: the one given (the lib's {@link Generator},
 * or a `TorchGenerator` to draw a lecture's exact weights), else a new
 * lib generator seeded by `seed`.
 */
export function resolveGenerator(options: { generator?: NormalDraws; seed?: number }): NormalDraws {
  return options.generator ?? new Generator(options.seed ?? DEFAULT_LAYER_SEED);
}

/**
 * A variable holding a new tensor: `make()` runs in a tidy scope, so the
 * initial tensor is freed and only the variable remains.
 */
export function variableOf<R extends tfjs.Rank>(make: () => tfjs.Tensor<R>, trainable = true): tfjs.Variable<R> {
  return tf.tidy(() => tf.variable(make(), trainable));
}

/** Names of the layer classes, as the lecture prints them (`layer.__class__.__name__`). */
export type LayerKind =
  "Linear" | "BatchNorm1d" | "Tanh" | "Embedding" | "Flatten" | "FlattenConsecutive" | "Sequential";

/** What every layer offers (the lecture's informal layer protocol). */
export interface Layer {
  /** class name, e.g. "Tanh" */
  readonly kind: LayerKind;
  /** batch statistics and running-stat updates (true) or running statistics (false); only BatchNorm1d uses it */
  training: boolean;
  /** keep a clone of each output in {@link Layer.out} */
  keepOutput: boolean;
  /** the last output, while {@link Layer.keepOutput} is on; owned by the layer, valid until the next forward */
  readonly out: tfjs.Tensor | null;
  /** applies the layer (the lecture's `layer(x)`): {@link Layer.apply} on the eager ops, keeping the output when asked */
  forward(x: tfjs.Tensor): tfjs.Tensor;
  /** the layer's computation on any ops (eager tensors, or the fused engine's graph) */
  apply<V>(o: Ops<V>, x: V): V;
  /** the trainable variables, in a stable order */
  parameters(): tfjs.Variable[];
  /** disposes the kept output, if any */
  clearOutput(): void;
  /** frees the variables, buffers and kept output */
  dispose(): void;
}

/** Shared bookkeeping of the layers: the training flag and the kept output. */
export abstract class BaseLayer implements Layer {
  /** class name, e.g. "Tanh" */
  abstract readonly kind: LayerKind;
  /** batch statistics (true) or running statistics (false) */
  training = true;
  /** keep a clone of each output in {@link BaseLayer.out} */
  keepOutput = false;
  private kept: tfjs.Tensor | null = null;

  /** the last output, while {@link BaseLayer.keepOutput} is on (owned by the layer) */
  get out(): tfjs.Tensor | null {
    return this.kept;
  }

  /** applies the layer: {@link BaseLayer.apply} on the eager ops in this layer's mode */
  forward(x: tfjs.Tensor): tfjs.Tensor {
    return this.record(this.apply(new EagerOps(null, this.training), x));
  }

  /** the layer's computation */
  abstract apply<V>(o: Ops<V>, x: V): V;

  /** the trainable variables (none by default) */
  parameters(): tfjs.Variable[] {
    return [];
  }

  /** disposes the kept output, if any */
  clearOutput(): void {
    this.kept?.dispose();
    this.kept = null;
  }

  /** frees the parameters and the kept output */
  dispose(): void {
    this.clearOutput();
    for (const p of this.parameters()) p.dispose();
  }

  /** Keeps a clone of `y` when asked (replacing the previous one) and returns `y`. */
  protected record<T extends tfjs.Tensor>(y: T): T {
    if (this.keepOutput) {
      const previous = this.kept;
      this.kept = tf.keep(y.clone());
      previous?.dispose();
    }
    return y;
  }
}

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** add a bias (zeros at init); default true. Leave it out before a BatchNorm1d. */
  bias?: boolean;
  /** generator the weights are drawn from (takes precedence over seed) */
  generator?: NormalDraws;
  /** seed of a new generator, when no generator is given (default 2147483647) */
  seed?: number;
  /**
   * weight initialization: "kaiming" (default; std = gain / sqrt(fanIn), the
   * lecture's `randn / fan_in**0.5` when gain is 1), "randn" (std 1), or a
   * number: the standard deviation itself
   */
  init?: "kaiming" | "randn" | number;
  /** Kaiming gain (default 1; 5/3 before tanh) */
  gain?: number;
}

/** `x @ W + b` with W of shape [fanIn, fanOut], like the lecture's Linear class. */
export class Linear extends BaseLayer {
  /** "Linear" */
  readonly kind = "Linear" as const;
  /** weights [fanIn, fanOut] */
  readonly weight: tfjs.Variable<tfjs.Rank.R2>;
  /** bias [fanOut], or null when built with `bias: false` */
  readonly bias: tfjs.Variable<tfjs.Rank.R1> | null;

  /**
   * @param fanIn - input features
   * @param fanOut - output features
   */
  constructor(
    readonly fanIn: number,
    readonly fanOut: number,
    options: LinearOptions = {},
  ) {
    super();
    const generator = resolveGenerator(options);
    const init = options.init ?? "kaiming";
    const std = init === "kaiming" ? kaimingStd(options.gain ?? 1, fanIn) : init === "randn" ? 1 : init;
    this.weight = variableOf(() => initRandn([fanIn, fanOut], generator, std) as tfjs.Tensor2D);
    this.bias = options.bias === false ? null : variableOf(() => tf.zeros([fanOut]) as tfjs.Tensor1D);
  }

  /** `x @ W (+ b)`, one op with a hand-written gradient; inputs of rank above 2 are multiplied along their last axis */
  apply<V>(o: Ops<V>, x: V): V {
    return o.linear(x, this.weight, this.bias);
  }

  /** `[weight]` or `[weight, bias]` */
  override parameters(): tfjs.Variable[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }
}

/** Options of {@link BatchNorm1d}. */
export interface BatchNorm1dOptions {
  /** added to the variance before the square root (default 1e-5) */
  eps?: number;
  /** weight of each batch in the running statistics (default 0.1) */
  momentum?: number;
  /**
   * normalize training batches with the unbiased variance (divide by n - 1),
   * as the lecture's hand-written class does through `x.var(0)`; default false:
   * the biased variance, as `torch.nn.BatchNorm1d` does. The running variance
   * is always updated with the unbiased batch variance (both agree on that).
   */
  unbiasedNormalization?: boolean;
  /**
   * Lecture 5's shape bug, kept to show it: for inputs [B, T, dim] with T equal
   * to this number, take the statistics over dimension 0 only, so each of the
   * T positions gets its own mean and variance from B values (and running
   * statistics [T, dim], stored flat). gamma and beta stay [dim]. Left out
   * (the default), [B, T, dim] inputs are normalized over B and T together.
   */
  positionwise?: number;
}

/**
 * Batch normalization over the batch axis, with a learned gain `gamma`
 * (ones) and shift `beta` (zeros), and running mean and variance buffers
 * (zeros and ones; not trainable).
 *
 * Training mode normalizes with the batch mean and variance and moves the
 * running statistics: `running = (1 - momentum) * running + momentum * batch`.
 * Evaluation mode normalizes with the running statistics.
 *
 * The training forward is one op with a hand-derived backward pass
 * (`batchNormTrain` of lib/nn/ops.ts). Inputs of rank 3 ([B, T, C]) are normalized
 * over B and T, like lecture 5's version.
 */
export class BatchNorm1d extends BaseLayer {
  /** "BatchNorm1d" */
  readonly kind = "BatchNorm1d" as const;
  /** added to the variance before the square root */
  readonly eps: number;
  /** weight of each batch in the running statistics */
  readonly momentum: number;
  /** whether batches are normalized with the unbiased variance (see {@link BatchNorm1dOptions}) */
  readonly unbiasedNormalization: boolean;
  /** gain [dim] (ones at init) */
  readonly gamma: tfjs.Variable<tfjs.Rank.R1>;
  /** shift [dim] (zeros at init) */
  readonly beta: tfjs.Variable<tfjs.Rank.R1>;
  /** running mean [dim] (a buffer: not trainable) */
  readonly runningMean: tfjs.Variable<tfjs.Rank.R1>;
  /** running variance [dim] (a buffer: not trainable) */
  readonly runningVar: tfjs.Variable<tfjs.Rank.R1>;
  /** when false, training-mode forwards leave the running statistics alone (statistics passes use this) */
  updateRunningStats = true;
  /** positions with statistics of their own (the lecture-5 bug, see {@link BatchNorm1dOptions}), or 0 */
  readonly positionwise: number;

  /** @param dim - features (the size of the last axis) */
  constructor(
    readonly dim: number,
    options: BatchNorm1dOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.unbiasedNormalization = options.unbiasedNormalization ?? false;
    this.positionwise = options.positionwise ?? 0;
    const stats = dim * Math.max(1, this.positionwise); // [T, dim] flat in the buggy form
    this.gamma = variableOf(() => tf.ones([dim]) as tfjs.Tensor1D);
    this.beta = variableOf(() => tf.zeros([dim]) as tfjs.Tensor1D);
    this.runningMean = variableOf(() => tf.zeros([stats]) as tfjs.Tensor1D, false);
    this.runningVar = variableOf(() => tf.ones([stats]) as tfjs.Tensor1D, false);
  }

  /** Normalizes `x` [B, dim] (or [B, T, dim]) with batch or running statistics, by the ops' mode. */
  apply<V>(o: Ops<V>, x: V): V {
    return o.batchNorm(x, this.state());
  }

  /** The layer as the ops see it (the running statistics stay put while {@link BatchNorm1d.updateRunningStats} is off). */
  state(): BatchNormState {
    return {
      gamma: this.gamma,
      beta: this.beta,
      runningMean: this.runningMean,
      running: this.runningVar,
      runningKind: "var",
      eps: this.eps,
      momentum: this.updateRunningStats ? this.momentum : 0,
      divisor: this.unbiasedNormalization ? "n-1" : "n",
      statsOver: this.positionwise > 0 ? "examples" : "rows",
    };
  }

  /** `[gamma, beta]` */
  override parameters(): tfjs.Variable[] {
    return [this.gamma, this.beta];
  }

  /** the running statistics `[runningMean, runningVar]` (not trainable) */
  buffers(): tfjs.Variable[] {
    return [this.runningMean, this.runningVar];
  }

  /** frees parameters, buffers and the kept output */
  override dispose(): void {
    super.dispose();
    for (const b of this.buffers()) b.dispose();
  }
}

/** Elementwise tanh, keeping its output like the lecture's `Tanh` class. */
export class Tanh extends BaseLayer {
  /** "Tanh" */
  readonly kind = "Tanh" as const;

  /** `tanh(x)` */
  apply<V>(o: Ops<V>, x: V): V {
    return o.tanh(x);
  }
}

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** generator the table is drawn from (takes precedence over seed) */
  generator?: NormalDraws;
  /** seed of a new generator, when no generator is given (default 2147483647) */
  seed?: number;
}

/** A lookup table [numEmbeddings, dim] of standard normal rows: `C[X]`. */
export class Embedding extends BaseLayer {
  /** "Embedding" */
  readonly kind = "Embedding" as const;
  /** the table [numEmbeddings, dim] (the lecture's C) */
  readonly weight: tfjs.Variable<tfjs.Rank.R2>;

  /**
   * @param numEmbeddings - rows (the vocabulary size)
   * @param dim - embedding dimension
   */
  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    this.weight = variableOf(() => initRandn([numEmbeddings, dim], resolveGenerator(options)) as tfjs.Tensor2D);
  }

  /** rows of the table for int32 indices of any shape: the result has shape [...X.shape, dim] */
  apply<V>(o: Ops<V>, X: V): V {
    return o.embed(this.weight, X);
  }

  /** `[weight]` */
  override parameters(): tfjs.Variable[] {
    return [this.weight];
  }
}

/** Concatenates the context embeddings: [B, T, D] -> [B, T*D] (lecture 5's `Flatten`). */
export class Flatten extends BaseLayer {
  /** "Flatten" */
  readonly kind = "Flatten" as const;

  /** `x.view(B, -1)` */
  apply<V>(o: Ops<V>, x: V): V {
    return o.flatten(x);
  }
}

/**
 * Lecture 5's `FlattenConsecutive(n)`: merges every n consecutive positions,
 * [B, T, C] -> [B, T/n, C·n]; when a single position is left, that dimension
 * is dropped ([B, C·n]). On a contiguous buffer this is a pure reshape: row
 * b·(T/n) + j holds positions j·n .. j·n + n - 1 of example b, side by side.
 */
export class FlattenConsecutive extends BaseLayer {
  /** "FlattenConsecutive" */
  readonly kind = "FlattenConsecutive" as const;

  /** @param n - positions merged into one */
  constructor(readonly n: number) {
    super();
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  }

  /** `x.view(B, T // n, C * n)`, squeezed when T // n is 1 */
  apply<V>(o: Ops<V>, x: V): V {
    return o.flatten(x, this.n);
  }
}

/**
 * A function applied to each layer's output inside a forward pass; what it
 * returns is fed to the next layer. Statistics passes use it to watch
 * outputs and their gradients. It must return `out` or a tensor of the same
 * shape that equals it.
 */
export type LayerHook = (out: tfjs.Tensor, layer: Layer, index: number) => tfjs.Tensor;

/** Runs `layers` in order on `x`, passing each output through `hook` when given. */
export function runLayers(layers: readonly Layer[], x: tfjs.Tensor, hook?: LayerHook): tfjs.Tensor {
  let h = x;
  layers.forEach((layer, i) => {
    h = layer.forward(h);
    if (hook) h = hook(h, layer, i);
  });
  return h;
}

/** Layers applied one after the other, like `torch.nn.Sequential`. */
export class Sequential extends BaseLayer {
  /** "Sequential" */
  readonly kind = "Sequential" as const;

  /** @param layers - the layers, in order */
  constructor(readonly layers: Layer[]) {
    super();
  }

  /** applies every layer in turn (each keeping its output when asked); `hook` sees each layer's output */
  override forward(x: tfjs.Tensor, hook?: LayerHook): tfjs.Tensor {
    return this.record(runLayers(this.layers, x, hook));
  }

  /** every layer's computation in turn */
  apply<V>(o: Ops<V>, x: V): V {
    return applyAll(o, this.layers, x);
  }

  /** the parameters of every layer, in order */
  override parameters(): tfjs.Variable[] {
    return this.layers.flatMap((l) => l.parameters());
  }

  /** sets `training` on this and every layer (default true); returns this */
  train(mode = true): this {
    setTraining(this.layers, mode);
    this.training = mode;
    return this;
  }

  /** evaluation mode: `train(false)` */
  eval(): this {
    return this.train(false);
  }

  /** sets `keepOutput` on every layer (not on the Sequential itself) */
  keepOutputs(on: boolean): void {
    setKeepOutputs(this.layers, on);
  }

  /** frees every layer and the kept output */
  override dispose(): void {
    this.clearOutput();
    for (const l of this.layers) l.dispose();
  }
}

/** Sets `training` on every layer. */
export function setTraining(layers: readonly Layer[], mode: boolean): void {
  for (const l of layers) l.training = mode;
}

/** Sets `keepOutput` on every layer; turning it off also frees the kept outputs. */
export function setKeepOutputs(layers: readonly Layer[], on: boolean): void {
  for (const l of layers) {
    l.keepOutput = on;
    if (!on) l.clearOutput();
  }
}
