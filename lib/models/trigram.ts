/**
 * A neural trigram over whole lines: at every position it reads the last two
 * characters (the one before the first is the start token), embeds them, and
 * predicts the next one through one tanh layer (makemore.py's MLP with a
 * window of 2, oldest first). The smallest model that reads {@link Sequences}:
 * it shows what a per-position model is, and a new model kind added as one
 * file plus one line in lib/models/registry.ts.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initKaiming, initRandn, variableOf } from "../nn/layers";
import type { Ops } from "../nn/ops-interface";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import { eagerLogits, type OpsModel, type SequenceModel } from "./model";
import type { ModelSpec } from "./spec";

/** Configuration of a {@link NeuralTrigram}. */
export interface NeuralTrigramConfig {
  /** size of the vocabulary */
  vocabSize: number;
  /** positions of a padded line */
  blockSize: number;
  /** embedding dimension */
  nEmbd: number;
  /** hidden tanh units */
  nHidden: number;
  /** seed of the generator that draws every parameter */
  seed: number;
}

/** See the module comment. */
export class NeuralTrigram implements SequenceModel, OpsModel {
  readonly examples = "sequence";
  readonly blockSize: number;
  readonly vocabSize: number;
  private readonly C: tfjs.Variable; // [vocab, nEmbd]
  private readonly W1: tfjs.Variable; // [2·nEmbd, nHidden]
  private readonly b1: tfjs.Variable; // [nHidden]
  private readonly W2: tfjs.Variable; // [nHidden, vocab]
  private readonly b2: tfjs.Variable; // [vocab]

  constructor(c: NeuralTrigramConfig) {
    const g = new Generator(c.seed);
    this.blockSize = c.blockSize;
    this.vocabSize = c.vocabSize;
    this.C = variableOf(() => initRandn([c.vocabSize, c.nEmbd], g));
    this.W1 = variableOf(() => initKaiming([2 * c.nEmbd, c.nHidden], g, 5 / 3));
    this.b1 = variableOf(() => tf.zeros([c.nHidden]));
    this.W2 = variableOf(() => initRandn([c.nHidden, c.vocabSize], g, 0.01));
    this.b2 = variableOf(() => tf.zeros([c.vocabSize]));
  }

  parameters(): tfjs.Variable[] {
    return [this.C, this.W1, this.b1, this.W2, this.b2];
  }

  /** the embeddings of the previous and the current character side by side, one tanh layer: [B, T, vocab] */
  logits<V>(o: Ops<V>): V {
    const pair = o.windowLinear(this.C, this.W1, this.b1, { blank: 0, order: "oldest first" }); // [B, T, nHidden]
    return o.linear(o.tanh(pair), this.W2, this.b2);
  }

  forward(X: tfjs.Tensor2D, training = false): tfjs.Tensor3D {
    return eagerLogits(this, X, training);
  }

  dispose(): void {
    this.parameters().forEach((p) => p.dispose());
  }
}

/** `--model trigram`. */
export const trigramSpec: ModelSpec = {
  kind: "trigram",
  description: "a neural trigram over whole lines: an MLP on each position's last two characters",
  examples: "sequence",
  uses: ["nEmbd", "nHidden"],
  defaults: { nHidden: 100 },
  build: ({ blockSize, nEmbd, nHidden }, vocabSize, seed) =>
    new NeuralTrigram({ vocabSize, blockSize, nEmbd, nHidden, seed }),
  parameterCount: ({ nEmbd: E, nHidden: H }, V) => V * E + 2 * E * H + H + H * V + V,
};
