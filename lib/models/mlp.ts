/**
 * The character-level MLP of Bengio et al. (2003), as built in lectures 2 and 3:
 * embed each of the last `blockSize` characters with a table C, concatenate the
 * embeddings, one tanh hidden layer, and a linear output layer.
 *
 *     emb = C[X]                       [B, blockSize, nEmbd]
 *     hpre = emb.view(B, -1) @ W1 + b1 [B, nHidden]
 *     h = tanh(hpre)
 *     logits = h @ W2 + b2             [B, vocab]
 *
 * Lecture 3's fixes are options: scaled initializations ({@link MlpInit}) and
 * batch normalization of `hpre` (then b1 is dropped; bngain and bnbias are
 * learned, and running mean/std buffers serve evaluation).
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Contexts } from "../data/contexts";
import { checkBlockSize, forEachChunk } from "../data/examples";
import type { LanguageModel, OpsModel } from "./model";
import type { ModelSpec } from "./spec";
import { LECTURE_SEED } from "../random/seeds";
import { EagerOps } from "../nn/eager";
import type { BatchNormState, Ops } from "../nn/ops-interface";
import { Generator } from "../random/generator";
import type { NormalDraws } from "../random/torch";
import { tf } from "../runtime/tf";

/** The gain of tanh used by Kaiming initialization: std = gain / sqrt(fanIn). */
export const TANH_GAIN = 5 / 3;

/**
 * Scales applied to the standard normal draws of each parameter
 * (`W1 = randn(...) * w1`). "kaiming" sets `w1 = (5/3) / sqrt(blockSize * nEmbd)`.
 * Every scale defaults to 1 (lecture 2's plain `torch.randn`).
 */
export interface MlpInit {
  /** scale of W1, or "kaiming" */
  w1?: number | "kaiming";
  /** scale of b1 */
  b1?: number;
  /** scale of W2 */
  w2?: number;
  /** scale of b2 */
  b2?: number;
}

/** The initializations compared in lecture 3. */
export const INIT_PRESETS: Readonly<Record<"original" | "softmaxFix" | "tanhFix" | "kaiming", Readonly<MlpInit>>> = {
  /** lecture 2: every parameter standard normal (loss at init near 27) */
  original: {},
  /** fix the confidently wrong softmax: W2 * 0.01, b2 * 0 */
  softmaxFix: { w2: 0.01, b2: 0 },
  /** also fix the saturated tanh: W1 * 0.2, b1 * 0.01 */
  tanhFix: { w1: 0.2, b1: 0.01, w2: 0.01, b2: 0 },
  /** W1 * (5/3) / sqrt(fanIn) instead of the hand-picked 0.2 */
  kaiming: { w1: "kaiming", b1: 0.01, w2: 0.01, b2: 0 },
};

/** Configuration of an {@link MLP}. */
export interface MlpConfig {
  /** size of the vocabulary (27 for names) */
  vocabSize: number;
  /** characters of context (default 3) */
  blockSize?: number;
  /** embedding dimension (default 10; 2 to plot the embeddings) */
  nEmbd?: number;
  /** hidden tanh units (default 200) */
  nHidden?: number;
  /** seed of the generator that draws every parameter (default 2147483647); ignored when `generator` is given */
  seed?: number;
  /**
   * draw the parameters from this generator instead, in the lecture's order
   * and arithmetic (see {@link MLP}'s constructor): with a `TorchGenerator`
   * seeded 2147483647 the parameters equal the lecture's bit for bit
   */
  generator?: NormalDraws;
  /** scales of the initial parameters (default: all 1) */
  init?: MlpInit;
  /** batch-normalize the hidden pre-activations (default false) */
  batchNorm?: boolean;
  /** weight of each batch in the running mean/std (default 0.001, as in lecture 3) */
  bnMomentum?: number;
  /** added to the variance before the square root (default 1e-5) */
  bnEps?: number;
}

/** Hidden-layer tensors of one forward pass (for saturation plots). */
export type MlpActivations = {
  /** pre-activations fed to tanh (after batch norm when it is on), [batch, nHidden] */
  hPreact: tfjs.Tensor2D;
  /** tanh outputs, [batch, nHidden] */
  h: tfjs.Tensor2D;
};

/** The lecture's MLP language model (see the module comment). */
export class MLP implements LanguageModel, OpsModel {
  /** characters of context */
  readonly blockSize: number;
  /** size of the vocabulary */
  readonly vocabSize: number;
  /** embedding dimension */
  readonly nEmbd: number;
  /** hidden units */
  readonly nHidden: number;
  /** whether the hidden pre-activations are batch-normalized */
  readonly batchNorm: boolean;
  /** running-statistics momentum of batch norm */
  readonly bnMomentum: number;
  /** batch-norm epsilon */
  readonly bnEps: number;
  /** embedding table [vocab, nEmbd] */
  readonly C: tfjs.Variable<tfjs.Rank.R2>;
  /** hidden weights [blockSize * nEmbd, nHidden] */
  readonly W1: tfjs.Variable<tfjs.Rank.R2>;
  /** hidden bias [nHidden]; null with batch norm (bnbias takes its place) */
  readonly b1: tfjs.Variable<tfjs.Rank.R1> | null;
  /** output weights [nHidden, vocab] */
  readonly W2: tfjs.Variable<tfjs.Rank.R2>;
  /** output bias [vocab] */
  readonly b2: tfjs.Variable<tfjs.Rank.R1>;
  /** batch-norm gain [nHidden] (ones at init), or null */
  readonly bnGain: tfjs.Variable<tfjs.Rank.R1> | null;
  /** batch-norm shift [nHidden] (zeros at init), or null */
  readonly bnBias: tfjs.Variable<tfjs.Rank.R1> | null;
  /** running mean of the pre-activations (not trained), or null */
  readonly bnMeanRunning: tfjs.Variable<tfjs.Rank.R1> | null;
  /** running std of the pre-activations (not trained), or null */
  readonly bnStdRunning: tfjs.Variable<tfjs.Rank.R1> | null;
  /** when true, each forward keeps its hidden tensors in {@link MLP.lastActivations} */
  recordActivations = false;
  /** the batch norm as the ops see it (the lecture's: unbiased std, running mean and std), or null */
  private readonly bn: BatchNormState | null;
  private recorded: MlpActivations | null = null;

  /**
   * Draws C, W1, b1, W2, b2 in that order from one seeded generator (b1 is drawn
   * even with batch norm, so both variants share C, W1 and W2).
   *
   * With `generator`, the draws follow the lecture instead: lecture 3's batch-norm
   * network never draws b1 (its line is commented out), and each scale is applied
   * as torch applies a Python float to a float32 tensor, in float32.
   */
  constructor(config: MlpConfig) {
    const {
      vocabSize,
      blockSize = 3,
      nEmbd = 10,
      nHidden = 200,
      seed = LECTURE_SEED,
      init = {},
      batchNorm = false,
      bnMomentum = 0.001,
      bnEps = 1e-5,
    } = config;
    for (const [name, v] of Object.entries({ vocabSize, blockSize, nEmbd, nHidden })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    if (!(bnMomentum >= 0 && bnMomentum <= 1)) throw new RangeError(`bnMomentum must be in [0, 1], got ${bnMomentum}`);
    this.vocabSize = vocabSize;
    this.blockSize = blockSize;
    this.nEmbd = nEmbd;
    this.nHidden = nHidden;
    this.batchNorm = batchNorm;
    this.bnMomentum = bnMomentum;
    this.bnEps = bnEps;

    const fanIn = blockSize * nEmbd;
    const { C, W1, b1, W2, b2 } = config.generator
      ? drawLectureParameters(config.generator, { vocabSize, fanIn, nEmbd, nHidden, init, batchNorm })
      : drawParameters(new Generator(seed), { vocabSize, fanIn, nEmbd, nHidden, init, batchNorm });
    // inside tidy, so the initial tensors are freed and only the variables stay
    const v = <R extends tfjs.Rank>(make: () => tfjs.Tensor<R>, trainable = true): tfjs.Variable<R> =>
      tf.tidy(() => tf.variable(make(), trainable));
    this.C = v(() => tf.tensor2d(C, [vocabSize, nEmbd]));
    this.W1 = v(() => tf.tensor2d(W1, [fanIn, nHidden]));
    this.b1 = b1 === null ? null : v(() => tf.tensor1d(b1));
    this.W2 = v(() => tf.tensor2d(W2, [nHidden, vocabSize]));
    this.b2 = v(() => tf.tensor1d(b2));
    if (batchNorm) {
      this.bnGain = v(() => tf.ones([nHidden]));
      this.bnBias = v(() => tf.zeros([nHidden]));
      this.bnMeanRunning = v(() => tf.zeros([nHidden]), false);
      this.bnStdRunning = v(() => tf.ones([nHidden]), false);
      this.bn = {
        ...{ gamma: this.bnGain, beta: this.bnBias, runningMean: this.bnMeanRunning, running: this.bnStdRunning },
        ...{ runningKind: "std", eps: bnEps, momentum: bnMomentum, divisor: "n-1", statsOver: "rows" },
      };
    } else {
      this.bnGain = this.bnBias = this.bnMeanRunning = this.bnStdRunning = null;
      this.bn = null;
    }
  }

  /** Trainable parameters: C, W1, b1, W2, b2 (batch norm: C, W1, W2, b2, bnGain, bnBias). */
  parameters(): tfjs.Variable[] {
    const ps: (tfjs.Variable | null)[] = [this.C, this.W1, this.b1, this.W2, this.b2, this.bnGain, this.bnBias];
    return ps.filter((p): p is tfjs.Variable => p !== null);
  }

  /** State that is not trained but changes in training: the batch-norm running mean and std. */
  buffers(): tfjs.Variable[] {
    return this.bnMeanRunning && this.bnStdRunning ? [this.bnMeanRunning, this.bnStdRunning] : [];
  }

  /**
   * Logits [batch, vocab] for contexts X [batch, blockSize]. With batch norm,
   * `training` normalizes with the batch's own mean and std and moves the running
   * statistics towards them; otherwise the running statistics are used.
   * {@link MLP.logits} on the eager ops, keeping the hidden layer while
   * {@link MLP.recordActivations} is on.
   */
  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor2D {
    return tf.tidy(() => {
      const o = new EagerOps(X, training);
      const { hPreact, h } = this.hidden(o);
      if (this.recordActivations) this.record(hPreact as tfjs.Tensor2D, h as tfjs.Tensor2D);
      return this.output(o, h) as tfjs.Tensor2D;
    });
  }

  /** The forward pass over any ops: embeddings, Linear(W1, b1), batch norm when on, tanh, Linear(W2, b2). */
  logits<V>(o: Ops<V>): V {
    return this.output(o, this.hidden(o).h);
  }

  /**
   * The hidden layer of one forward pass: pre-activations and tanh outputs
   * (tensors owned by the caller). Like {@link MLP.forward}, a training pass
   * with batch norm updates the running statistics.
   */
  activations(X: tfjs.Tensor2D, training = false): MlpActivations {
    return tf.tidy(() => this.hidden(new EagerOps(X, training)) as MlpActivations);
  }

  /** Why the fused engine cannot run the model now: it keeps no tensors, so not while recording activations. */
  fusedUnavailable(): string | null {
    return this.recordActivations ? "the model cannot be fused while it records its activations" : null;
  }

  /** Hidden tensors of the last forward pass while {@link MLP.recordActivations} is on, else null. */
  lastActivations(): MlpActivations | null {
    return this.recorded;
  }

  /**
   * Sets the running mean and std to the exact statistics of the pre-activations
   * over a whole split (lecture 3's "calibrate the batch norm at the end of
   * training"), computed in chunks of `chunkSize` examples. No-op without batch norm.
   */
  calibrateBatchNorm(data: Contexts, chunkSize = 8192): void {
    if (!this.bnMeanRunning || !this.bnStdRunning) return;
    checkBlockSize(this, data);
    if (data.n < 2) throw new RangeError("calibrating batch norm needs at least 2 examples");
    const sums = new Float64Array(this.nHidden);
    forEachChunk(data, chunkSize, (X) => {
      const s = tf.tidy(() => tf.sum(this.preactivations(new EagerOps(X, false)), 0).dataSync());
      for (let j = 0; j < s.length; j++) sums[j] = (sums[j] as number) + (s[j] as number);
    });
    const mean = Float32Array.from(sums, (s) => s / data.n);
    const meanT = tf.tensor1d(mean);
    const squares = new Float64Array(this.nHidden);
    forEachChunk(data, chunkSize, (X) => {
      const s = tf.tidy(() =>
        tf.sum(tf.squaredDifference(this.preactivations(new EagerOps(X, false)), meanT), 0).dataSync(),
      );
      for (let j = 0; j < s.length; j++) squares[j] = (squares[j] as number) + (s[j] as number);
    });
    meanT.dispose();
    const std = Float32Array.from(squares, (s) => Math.sqrt(s / (data.n - 1) + this.bnEps));
    tf.tidy(() => {
      this.bnMeanRunning?.assign(tf.tensor1d(mean));
      this.bnStdRunning?.assign(tf.tensor1d(std));
    });
  }

  /** Frees every variable and any recorded activations. */
  dispose(): void {
    this.clearRecorded();
    for (const v of [...this.parameters(), ...this.buffers()]) v.dispose();
  }

  /** emb @ W1 (+ b1 without batch norm), for the contexts' embeddings side by side: [B, nHidden]. */
  private preactivations<V>(o: Ops<V>): V {
    return o.linear(o.flatten(o.embed(this.C)), this.W1, this.b1); // [B, T, E] -> [B, T·E] -> [B, H]
  }

  /** The input of tanh (batch-normalized when on) and its output, [B, nHidden] each. */
  private hidden<V>(o: Ops<V>): { hPreact: V; h: V } {
    const pre = this.preactivations(o);
    const hPreact = this.bn ? o.batchNorm(pre, this.bn) : pre;
    return { hPreact, h: o.tanh(hPreact) };
  }

  /** h @ W2 + b2: the logits [B, vocab]. */
  private output<V>(o: Ops<V>, h: V): V {
    return o.linear(h, this.W2, this.b2);
  }

  private record(hPreact: tfjs.Tensor2D, h: tfjs.Tensor2D): void {
    this.clearRecorded();
    this.recorded = { hPreact: tf.keep(hPreact.clone()), h: tf.keep(h.clone()) };
  }

  private clearRecorded(): void {
    if (this.recorded) {
      this.recorded.hPreact.dispose();
      this.recorded.h.dispose();
      this.recorded = null;
    }
  }
}

/** Sizes and scales the initial parameters are drawn for. */
interface DrawPlan {
  vocabSize: number;
  fanIn: number;
  nEmbd: number;
  nHidden: number;
  init: MlpInit;
  batchNorm: boolean;
}

/** The initial values of the MLP's parameters; b1 is null when the model has none. */
interface InitialValues {
  C: Float32Array;
  W1: Float32Array;
  b1: Float32Array | null;
  W2: Float32Array;
  b2: Float32Array;
}

/** The scale of W1: a number, or Kaiming's (5/3) / sqrt(fanIn). */
function w1Scale(init: MlpInit, fanIn: number): number {
  return init.w1 === "kaiming" ? TANH_GAIN / Math.sqrt(fanIn) : (init.w1 ?? 1);
}

/** The lib's own seeded draws: C, W1, b1, W2, b2, b1 included even with batch norm. */
function drawParameters(g: NormalDraws, p: DrawPlan): InitialValues {
  const draw = (n: number, scale: number): Float32Array => {
    const a = g.randnArray(n);
    for (let i = 0; i < n; i++) a[i] = scale === 0 ? 0 : (a[i] as number) * scale; // no -0
    return a;
  };
  const C = draw(p.vocabSize * p.nEmbd, 1);
  const W1 = draw(p.fanIn * p.nHidden, w1Scale(p.init, p.fanIn));
  const b1 = draw(p.nHidden, p.init.b1 ?? 1);
  const W2 = draw(p.nHidden * p.vocabSize, p.init.w2 ?? 1);
  const b2 = draw(p.vocabSize, p.init.b2 ?? 1);
  return { C, W1, b1: p.batchNorm ? null : b1, W2, b2 };
}

/**
 * The lecture's draws: `torch.randn(shape, generator=g) * scale` per parameter,
 * the product taken in float32 with the scale rounded to float32 first (as
 * torch multiplies a float32 tensor by a Python float), Kaiming's scale as a
 * product and then a quotient, and no b1 with batch norm.
 */
function drawLectureParameters(g: NormalDraws, p: DrawPlan): InitialValues {
  const f = Math.fround;
  // + 0 turns torch's -0 (a negative draw times 0) into +0; no computation can tell them apart
  const draw = (n: number, scale: number): Float32Array => {
    const a = g.randnArray(n);
    if (scale !== 1) for (let i = 0; i < n; i++) a[i] = f((a[i] as number) * f(scale)) + 0;
    return a;
  };
  const kaiming = (n: number): Float32Array => {
    // the lecture writes `randn(...) * (5/3) / (fan_in**0.5)`: two float32 operations
    const a = g.randnArray(n);
    const root = f(Math.sqrt(p.fanIn));
    for (let i = 0; i < n; i++) a[i] = f(f((a[i] as number) * f(TANH_GAIN)) / root);
    return a;
  };
  const C = draw(p.vocabSize * p.nEmbd, 1);
  const W1 = p.init.w1 === "kaiming" ? kaiming(p.fanIn * p.nHidden) : draw(p.fanIn * p.nHidden, p.init.w1 ?? 1);
  const b1 = p.batchNorm ? null : draw(p.nHidden, p.init.b1 ?? 1);
  const W2 = draw(p.nHidden * p.vocabSize, p.init.w2 ?? 1);
  const b2 = draw(p.vocabSize, p.init.b2 ?? 1);
  return { C, W1, b1, W2, b2 };
}

/**
 * The lecture-2 model for a vocabulary: block size 3, 10-dimensional embeddings,
 * 200 hidden units, 11,897 parameters for 27 tokens. Options override the defaults.
 */
export function lectureMlp(vocabSize = 27, options: Omit<MlpConfig, "vocabSize"> = {}): MLP {
  return new MLP({ vocabSize, ...options });
}

/** Momentum of the running statistics of `--model mlp-bn` (faster than the lecture's 0.001, for short runs). */
export const MLP_BN_MOMENTUM = 0.01;

/** Lecture 2's MLP with lecture 3's Kaiming initialization: `--model mlp`. */
export const mlpSpec: ModelSpec = {
  kind: "mlp",
  description: "lecture 2's MLP (Bengio et al. 2003): embeddings of the context, one tanh layer, Kaiming init",
  examples: "context",
  uses: ["blockSize", "nEmbd", "nHidden"],
  build: ({ blockSize, nEmbd, nHidden }, vocabSize, seed) =>
    new MLP({ vocabSize, blockSize, nEmbd, nHidden, seed, init: INIT_PRESETS.kaiming }),
  parameterCount: ({ blockSize: B, nEmbd: E, nHidden: H }, V) => V * E + B * E * H + H + H * V + V,
};

/** Lecture 3's MLP with batch norm after the first layer: `--model mlp-bn`. */
export const mlpBnSpec: ModelSpec = {
  kind: "mlp-bn",
  description: "lecture 3's MLP with batch normalization after the first layer",
  examples: "context",
  uses: ["blockSize", "nEmbd", "nHidden"],
  minBatch: 2,
  build: ({ blockSize, nEmbd, nHidden }, vocabSize, seed) =>
    new MLP({
      vocabSize,
      blockSize,
      nEmbd,
      nHidden,
      seed,
      init: INIT_PRESETS.kaiming,
      batchNorm: true,
      bnMomentum: MLP_BN_MOMENTUM,
    }),
  // b1 is replaced by the batch-norm shift; the gain adds H more
  parameterCount: ({ blockSize: B, nEmbd: E, nHidden: H }, V) => V * E + B * E * H + 2 * H + H * V + V,
};
