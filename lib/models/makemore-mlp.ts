/**
 * makemore.py's `MLP` (Bengio et al. 2003 over whole lines): at every
 * position it embeds that token and the blockSize - 1 before it (a <BLANK>
 * token, index vocabSize, stands in before the line starts), concatenates
 * the blockSize embeddings, newest first, and predicts the next token
 * through one tanh layer.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { GraphBuilder, GraphNode } from "../engines/graph";
import { embed, linear, tanh } from "../engines/graph-ops";
import { embedding } from "../nn/ops";
import { tf } from "../runtime/tf";
import { linearAll, ParameterModel, type LinearParams } from "./parts";
import type { ModelSpec } from "./spec";

/** Configuration of a {@link MakemoreMLP}. */
export interface MakemoreMLPConfig {
  /** size of the vocabulary (the embedding table has one more row, for <BLANK>) */
  vocabSize: number;
  /** tokens each position reads, itself included */
  blockSize: number;
  /** embedding dimension (n_embd) */
  nEmbd: number;
  /** hidden tanh units (n_embd2) */
  nEmbd2: number;
  /** seed of the generator that draws every parameter */
  seed: number;
}

/**
 * Where position t's k-th token comes from in a line padded on the left with
 * `window` <BLANK>s: column window + t - k, as a flat int32 [T·window] (row t, then k).
 */
function windowColumns(T: number, window: number): tfjs.Tensor1D {
  const cols = new Int32Array(T * window);
  for (let t = 0; t < T; t++) for (let k = 0; k < window; k++) cols[t * window + k] = window + t - k;
  return tf.tensor1d(cols, "int32");
}

/**
 * The graph's windows as int32 ids [B·T·w] (byte offset): position t of line
 * b reads ids (b·T + t)·w .. + w, newest first, `blank` before the line.
 */
function windowIds(g: GraphBuilder, w: number, blank: number): number {
  const { batch: B, time: T } = g;
  const ids = g.scratch(B * T * w);
  g.push({ name: "windows", forward: (k) => k.windowIds(B, T, w, blank, g.tokens, ids) });
  return ids;
}

/** See the module comment. */
export class MakemoreMLP extends ParameterModel {
  private readonly wte: tfjs.Variable; // [vocab + 1, E]
  private readonly hidden: LinearParams; // [blockSize·E, E2]
  private readonly out: LinearParams; // [E2, vocab]

  constructor(c: MakemoreMLPConfig) {
    super(c.blockSize, c.vocabSize, c.seed);
    const p = this.params;
    this.wte = p.embedding("wte.weight", c.vocabSize + 1, c.nEmbd);
    this.hidden = p.linear("mlp.0", c.blockSize * c.nEmbd, c.nEmbd2);
    this.out = p.linear("mlp.2", c.nEmbd2, c.vocabSize);
  }

  forward(X: tfjs.Tensor2D): tfjs.Tensor3D {
    return tf.tidy(() => {
      const [B, T] = X.shape;
      const w = this.blockSize;
      const padded = tf.concat([tf.fill([B, w], this.vocabSize, "int32"), X], 1); // [B, w + T], <BLANK>s first
      const windows = tf.gather(padded, windowColumns(T, w), 1).reshape([B, T, w]); // [B, T, w], newest first
      const x = embedding(this.wte as tfjs.Tensor2D, windows).reshape([B, T, -1]); // [B, T, w·E]
      return linearAll(tf.tanh(linearAll(x, this.hidden)), this.out) as tfjs.Tensor3D; // [B, T, vocab]
    });
  }

  /** The same forward pass as a fused graph: the windows' embeddings side by side are the rows of x. */
  fusedGraph(g: GraphBuilder): GraphNode {
    const p = (v: tfjs.Variable | null): GraphNode => g.param(v as tfjs.Variable);
    const [M, w] = [g.batch * g.time, this.blockSize];
    const emb = embed(g, p(this.wte), windowIds(g, w, this.vocabSize), M * w); // [M·w, E]
    const x = { ...emb, rows: M, cols: w * emb.cols, ld: w * emb.cols }; // the same values as [M, w·E]
    const h = tanh(g, linear(g, x, p(this.hidden.W), p(this.hidden.b))); // [M, E2]
    return linear(g, h, p(this.out.W), p(this.out.b)); // [M, vocab]
  }
}

/** `--model makemore-mlp`. */
export const makemoreMlpSpec: ModelSpec = {
  kind: "makemore-mlp",
  description: "makemore.py's MLP: the embeddings of the last blockSize tokens at each position through a tanh layer",
  examples: "sequence",
  uses: ["blockSize", "nEmbd", "nEmbd2"],
  defaults: { nEmbd: 64, nEmbd2: 64, optimizer: "adamw" },
  build: ({ blockSize, nEmbd, nEmbd2 }, vocabSize, seed) =>
    new MakemoreMLP({ vocabSize, blockSize, nEmbd, nEmbd2, seed }),
  parameterCount: ({ blockSize, nEmbd: E, nEmbd2: E2 }, V) => (V + 1) * E + (blockSize * E * E2 + E2) + (E2 * V + V),
};
