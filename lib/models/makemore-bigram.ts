/**
 * makemore.py's `Bigram`: a [vocab, vocab] table of logits, row = the
 * current token, zeros at the start (every next token equally likely).
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { GraphBuilder, GraphNode } from "../engines/graph";
import { embed } from "../engines/graph-ops";
import { embedding } from "../nn/ops";
import { tf } from "../runtime/tf";
import type { SequenceModel } from "./model";
import type { NamedParameters } from "./parts";
import type { ModelSpec } from "./spec";

/** See the module comment. */
export class MakemoreBigram implements SequenceModel, NamedParameters {
  readonly examples = "sequence";
  readonly blockSize: number;
  readonly vocabSize: number;
  private readonly logits: tfjs.Variable; // [vocab, vocab]

  constructor(vocabSize: number, blockSize: number) {
    this.vocabSize = vocabSize;
    this.blockSize = blockSize;
    this.logits = tf.variable(tf.zeros([vocabSize, vocabSize]));
  }

  parameters(): tfjs.Variable[] {
    return [this.logits];
  }

  namedParameters(): [string, tfjs.Variable][] {
    return [["logits", this.logits]];
  }

  forward(X: tfjs.Tensor2D): tfjs.Tensor3D {
    // a row lookup per position: embedding's gradient adds into the rows read
    return tf.tidy(() => embedding(this.logits as tfjs.Tensor2D, X) as tfjs.Tensor3D); // [B, T, vocab]
  }

  /** The same lookup as a fused graph: the table's rows are the logits. */
  fusedGraph(g: GraphBuilder): GraphNode {
    return embed(g, g.param(this.logits)); // [B·T, vocab]
  }

  dispose(): void {
    this.logits.dispose();
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
