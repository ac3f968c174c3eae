/**
 * The neural bigram of lecture 1: a single 27x27 weight matrix W. The input
 * character is one-hot encoded and multiplied by W, which gives the logits
 * of the next character; softmax turns them into probabilities. Trained by
 * gradient descent it learns the same table as the counting model.
 *
 * Multiplying a one-hot row by W just picks a row of W, so the model's
 * forward pass is an embedding with W as the table (the lecture's product is
 * {@link oneHotLogits}); its L2 term is the same `lambda · mean(W²)`.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Matrix } from "./counts";
import { eagerLogits, type LanguageModel, type OpsModel } from "./model";
import type { ModelSpec } from "./spec";
import { l2Loss, oneHotFloat } from "../nn/ops";
import type { L2Term, Ops } from "../nn/ops-interface";
import { Generator } from "../random/generator";
import type { NormalDraws } from "../random/torch";
import { tf } from "../runtime/tf";
import { LECTURE_SEED } from "../random/seeds";

/** Configuration of a {@link NeuralBigram}. */
export interface NeuralBigramConfig {
  /** size of the vocabulary (27 for names) */
  vocabSize: number;
  /** seed of the generator that draws W (default {@link LECTURE_SEED}); ignored when `generator` is given */
  seed?: number;
  /** draw W from this generator instead (a `TorchGenerator` seeded 2147483647 gives the lecture's W) */
  generator?: NormalDraws;
  /** weight of the L2 term `lambda * mean(W^2)` (default 0.01, as in the lecture) */
  lambda?: number;
  /** start from W = 0 (a uniform model) instead of random normal weights */
  zeroInit?: boolean;
}

/** One weight matrix W [vocab, vocab]: logits = onehot(x) · W. */
export class NeuralBigram implements LanguageModel, OpsModel {
  /** a bigram model reads one token of context */
  readonly blockSize = 1;
  /** size of the vocabulary */
  readonly vocabSize: number;
  /** weight of the L2 regularization term */
  readonly lambda: number;
  /** the weights: row i holds the logits of the character after token i */
  readonly W: tfjs.Variable<tfjs.Rank.R2>;

  /** Draws W from a standard normal with the seeded generator (or zeros with `zeroInit`). */
  constructor(config: NeuralBigramConfig) {
    const { vocabSize, seed = LECTURE_SEED, lambda = 0.01, zeroInit = false } = config;
    if (!Number.isInteger(vocabSize) || vocabSize < 1) {
      throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    if (!(lambda >= 0)) throw new RangeError(`lambda must be >= 0, got ${lambda}`);
    this.vocabSize = vocabSize;
    this.lambda = lambda;
    const values = zeroInit
      ? new Float32Array(vocabSize * vocabSize)
      : (config.generator ?? new Generator(seed)).randnArray(vocabSize * vocabSize);
    this.W = tf.tidy(() => tf.variable(tf.tensor2d(values, [vocabSize, vocabSize]), true));
  }

  /** The one trainable matrix W. */
  parameters(): tfjs.Variable[] {
    return [this.W];
  }

  /** Logits [batch, vocab] for input tokens X [batch, 1]: the rows of W the tokens pick (what onehot(X) · W computes). */
  logits<V>(o: Ops<V>): V {
    return o.flatten(o.embed(this.W)); // [B, 1, vocab] -> [B, vocab]
  }

  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor2D {
    return eagerLogits(this, X, training);
  }

  /** The L2 term `lambda · mean(W²)`: pulls W towards zero, i.e. the model towards uniform (like count smoothing). */
  l2Terms(): L2Term[] {
    return [{ param: this.W, coefficient: this.lambda }];
  }

  /** `lambda * mean(W^2)`, the training loss's regularization term. */
  regularization(): tfjs.Scalar {
    return l2Loss(this.l2Terms());
  }

  /** Frees W. */
  dispose(): void {
    this.W.dispose();
  }
}

/**
 * The explicit one-hot encoding of input tokens, float32 [n, vocabSize]
 * (the lecture's `F.one_hot(xs, num_classes=27).float()`), to show in a notebook.
 */
export function oneHotInputs(xs: ArrayLike<number>, vocabSize: number): tfjs.Tensor2D {
  return tf.tidy(() => oneHotFloat(tf.tensor1d(Array.from(xs), "int32"), vocabSize));
}

/**
 * The lecture's forward pass `onehot(xs) @ W` for token indices: logits [n, vocab]
 * (what {@link NeuralBigram.forward} computes, without a gradient of its own).
 */
export function oneHotLogits(W: tfjs.Tensor2D, xs: ArrayLike<number>): tfjs.Tensor2D {
  return tf.tidy(() => {
    const [vocab] = W.shape;
    return tf.matMul(oneHotInputs(xs, vocab), W);
  });
}

/**
 * The probability table of learned weights: softmax of each row of W
 * (`exp(W)` normalized per row, the "counts" the network learned). The result
 * can be compared with the counting model's table and sampled with `tableModel`.
 */
export function weightsToProbs(W: tfjs.Tensor2D): Matrix {
  return tf.tidy(() => tf.softmax(W).arraySync() as Matrix);
}

/** The neural bigram as a registered model kind: `--model bigram`. */
export const bigramSpec: ModelSpec = {
  kind: "bigram",
  description: "lecture 1's neural bigram: one [vocab, vocab] matrix of logits, L2-regularized",
  examples: "context",
  uses: [],
  fixed: { blockSize: 1 },
  defaults: { lr: 10, blockSize: 1 },
  build: (_shape, vocabSize, seed) => new NeuralBigram({ vocabSize, seed }),
  parameterCount: (_shape, V) => V * V,
};
