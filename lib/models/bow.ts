/**
 * makemore.py's `BoW`: token plus position embeddings, one `BoWBlock` (the
 * causal bag of words — each position adds the plain average of the
 * embeddings up to and including it — then a residual tanh MLP c_fc/c_proj)
 * and a head to the vocabulary.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { GraphBuilder, GraphNode } from "../engines/graph";
import { add, addPositions, causalMean, embed, linear, tanh } from "../engines/graph-ops";
import { embedding } from "../nn/ops";
import { tf } from "../runtime/tf";
import { corner, linearAll, ParameterModel, type LinearParams } from "./parts";
import type { ModelSpec } from "./spec";

/** Configuration of a {@link BoW}. */
export interface BoWConfig {
  /** size of the vocabulary */
  vocabSize: number;
  /** positions of a padded line (rows of the position embedding) */
  blockSize: number;
  /** embedding dimension (n_embd) */
  nEmbd: number;
  /** width of the block's MLP (n_embd2) */
  nEmbd2: number;
  /** seed of the generator that draws every parameter */
  seed: number;
}

/**
 * CausalBoW's weights [n, n]: row t holds 1/(t+1) in columns 0..t and 0
 * after them (what softmax gives on zeros masked with -inf above the diagonal).
 */
export function averagingWeights(n: number): tfjs.Tensor2D {
  const values = new Float32Array(n * n);
  for (let t = 0; t < n; t++) for (let s = 0; s <= t; s++) values[t * n + s] = 1 / (t + 1);
  return tf.tensor2d(values, [n, n]);
}

/** See the module comment. */
export class BoW extends ParameterModel {
  private readonly wte: tfjs.Variable; // [vocab, E]
  private readonly wpe: tfjs.Variable; // [blockSize, E]
  private readonly cFc: LinearParams; // [E, E2]
  private readonly cProj: LinearParams; // [E2, E]
  private readonly lmHead: LinearParams; // [E, vocab]
  private readonly average: tfjs.Tensor2D; // [blockSize, blockSize], the top-left corner serves shorter T

  constructor(c: BoWConfig) {
    super(c.blockSize, c.vocabSize, c.seed);
    const p = this.params;
    this.wte = p.embedding("wte.weight", c.vocabSize, c.nEmbd);
    this.wpe = p.embedding("wpe.weight", c.blockSize, c.nEmbd);
    this.cFc = p.linear("context_block.mlp.c_fc", c.nEmbd, c.nEmbd2);
    this.cProj = p.linear("context_block.mlp.c_proj", c.nEmbd2, c.nEmbd);
    this.lmHead = p.linear("lm_head", c.nEmbd, c.vocabSize);
    this.average = tf.keep(averagingWeights(c.blockSize));
  }

  forward(X: tfjs.Tensor2D): tfjs.Tensor3D {
    return tf.tidy(() => {
      const T = X.shape[1];
      const pos = T === this.blockSize ? this.wpe : this.wpe.slice([0, 0], [T, -1]); // [T, E]
      let x = tf.add(embedding(this.wte as tfjs.Tensor2D, X), pos); // [B, T, E]
      x = tf.add(x, tf.matMul(corner(this.average, T), x)); // [T, T] · [B, T, E] broadcast over B
      x = tf.add(x, linearAll(tf.tanh(linearAll(x, this.cFc)), this.cProj));
      return linearAll(x, this.lmHead) as tfjs.Tensor3D; // [B, T, vocab]
    });
  }

  /** The same forward pass as a fused graph (lib/engines/graph.ts). */
  fusedGraph(g: GraphBuilder): GraphNode {
    const p = (v: tfjs.Variable | null): GraphNode => g.param(v as tfjs.Variable);
    let x = addPositions(g, embed(g, p(this.wte)), p(this.wpe)); // [B·T, E]
    x = add(g, x, causalMean(g, x));
    const h = tanh(g, linear(g, x, p(this.cFc.W), p(this.cFc.b))); // [B·T, E2]
    x = add(g, x, linear(g, h, p(this.cProj.W), p(this.cProj.b)));
    return linear(g, x, p(this.lmHead.W), p(this.lmHead.b)); // [B·T, vocab]
  }

  override dispose(): void {
    super.dispose();
    this.average.dispose();
  }
}

/** `--model bow`. */
export const bowSpec: ModelSpec = {
  kind: "bow",
  description: "makemore.py's BoW: a causal bag of words (the average of the line so far) and a tanh MLP",
  examples: "sequence",
  uses: ["blockSize", "nEmbd", "nEmbd2"],
  defaults: { nEmbd: 64, nEmbd2: 64, optimizer: "adamw" },
  build: ({ blockSize, nEmbd, nEmbd2 }, vocabSize, seed) => new BoW({ vocabSize, blockSize, nEmbd, nEmbd2, seed }),
  parameterCount: ({ blockSize, nEmbd: E, nEmbd2: E2 }, V) =>
    V * E + blockSize * E + (E * E2 + E2) + (E2 * E + E) + (E * V + V),
};
