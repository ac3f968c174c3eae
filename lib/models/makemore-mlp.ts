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
import { linear, tanh } from "../engines/graph-ops";
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
 * `nn.Linear` over the w window embeddings side by side, [M, w·E] · W [w·E, E2]
 * + b, as w look-ups summed: place k's rows of W times the table, P_k =
 * table · W_k [V + 1, E2], are w small products (not one per position), and
 * position m adds up P_k[its k-th token]. Backward sums the output's gradient
 * into the rows read (dP_k), giving dW_k = tableᵀ dP_k and dtable = Σ dP_k W_kᵀ.
 */
function windowLinear(g: GraphBuilder, table: GraphNode, W: GraphNode, bias: GraphNode, blank: number): GraphNode {
  const { batch: B, time: T } = g;
  const [M, R, E, E2] = [B * T, table.rows, table.cols, W.cols];
  const w = W.rows / E;
  const ids = g.scratch(M * w); // int32: k·R + the k-th newest token of position m
  const P = g.scratch(w * R * E2); // [w·R, E2], P_k from row k·R
  const dP = g.training ? g.scratch(w * R * E2) : 0;
  const wT = g.training ? g.scratch(E2 * E) : 0; // W_kᵀ, one place at a time
  const out = g.value(M, E2);
  const at = (base: number, k: number, size: number): number => base + k * size * 4;
  g.push({
    name: "window linear",
    forward: (k) => {
      k.windowIds(B, T, w, blank, R, g.tokens, ids);
      for (let i = 0; i < w; i++) k.gemm(R, E2, E, table.at, E, 1, at(W.at, i, E * E2), E2, at(P, i, R * E2), E2, 0, 0);
      k.gatherSum(M, w, E2, ids, P, bias.at, out.at);
    },
    backward: (k, b) => {
      k.scatterRows(M, w, E2, w * R, ids, out.grad, dP);
      k.colSum(M, E2, out.grad, bias.grad, b.acc(bias));
      const [aW, aT] = [b.acc(W), b.acc(table)];
      for (let i = 0; i < w; i++) {
        const dPi = at(dP, i, R * E2);
        k.gemm(E, E2, R, table.at, 1, E, dPi, E2, at(W.grad, i, E * E2), E2, aW, 0);
        k.transpose(E, E2, at(W.at, i, E * E2), wT);
        k.gemm(R, E, E2, dPi, E2, 1, wT, E, table.grad, E, i === 0 ? aT : 1, 0);
      }
    },
  });
  return out;
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

  /** The same forward pass as a fused graph; the first Linear reads the windows' tokens directly. */
  fusedGraph(g: GraphBuilder): GraphNode {
    const p = (v: tfjs.Variable | null): GraphNode => g.param(v as tfjs.Variable);
    const pre = windowLinear(g, p(this.wte), p(this.hidden.W), p(this.hidden.b), this.vocabSize); // [B·T, E2]
    return linear(g, tanh(g, pre), p(this.out.W), p(this.out.b)); // [B·T, vocab]
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
