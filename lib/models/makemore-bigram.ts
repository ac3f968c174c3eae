/**
 * makemore.py's `Bigram`: a [vocab, vocab] table of logits, row = the
 * current token, zeros at the start (every next token equally likely).
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Ops } from "../nn/ops-interface";
import { tf } from "../runtime/tf";
import { eagerLogits, type OpsModel, type SequenceModel } from "./model";
import type { NamedParameters } from "./parts";
import type { ModelSpec } from "./spec";

/** See the module comment. */
export class MakemoreBigram implements SequenceModel, NamedParameters, OpsModel {
  readonly examples = "sequence";
  readonly blockSize: number;
  readonly vocabSize: number;
  private readonly table: tfjs.Variable; // [vocab, vocab]

  constructor(vocabSize: number, blockSize: number) {
    this.vocabSize = vocabSize;
    this.blockSize = blockSize;
    this.table = tf.variable(tf.zeros([vocabSize, vocabSize]));
  }

  parameters(): tfjs.Variable[] {
    return [this.table];
  }

  namedParameters(): [string, tfjs.Variable][] {
    return [["logits", this.table]];
  }

  /** a row lookup per position: the table's rows are the logits, [B, T, vocab] */
  logits<V>(o: Ops<V>): V {
    return o.embed(this.table);
  }

  forward(X: tfjs.Tensor2D, training = false): tfjs.Tensor3D {
    return eagerLogits(this, X, training);
  }

  dispose(): void {
    this.table.dispose();
  }
}

/** `--model makemore-bigram`. */
export const makemoreBigramSpec: ModelSpec = {
  kind: "makemore-bigram",
  description: "makemore.py's Bigram: a table of next-token logits indexed by the current token",
  examples: "sequence",
  uses: [],
  defaults: { optimizer: "adamw" },
  build: (shape, vocabSize) => new MakemoreBigram(vocabSize, shape.blockSize),
  parameterCount: (_shape, V) => V * V,
};
