/**
 * makemore.py's `RNN` with either cell: a learned starting hidden state, a
 * token embedding, a recurrence over time and a head on every hidden state.
 *
 * - `RNNCell`: h_t = tanh(xh_to_h([x_t, h_{t-1}]));
 * - `GRUCell`: r = σ(xh_to_r([x, h])), z = σ(xh_to_z([x, h])),
 *   h̄ = tanh(xh_to_hbar([x, r·h])), h_t = (1 - z)·h + z·h̄.
 *
 * Each Linear over [x, h] is x·W_x + h·W_h (its weight split by rows), so the
 * x halves of every time step are one matrix product before the loop and a
 * step only multiplies the [B, n_embd2] hidden state.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { GraphBuilder, GraphNode } from "../engines/graph";
import { linear as linearOp } from "../engines/graph-ops";
import { recurrence, tokensByTime } from "../engines/graph-recurrent";
import { linear } from "../nn/layers";
import { embedding } from "../nn/ops";
import { tf } from "../runtime/tf";
import { linearAll, ParameterModel, type LinearParams } from "./parts";
import type { ModelSpec } from "./spec";

/** Which recurrence. */
export type CellKind = "rnn" | "gru";

/** Configuration of a {@link Recurrent} model. */
export interface RecurrentConfig {
  /** "rnn" (RNNCell) or "gru" (GRUCell) */
  cell: CellKind;
  /** size of the vocabulary */
  vocabSize: number;
  /** positions of a padded line (the recurrence itself works for any length) */
  blockSize: number;
  /** token embedding dimension (n_embd) */
  nEmbd: number;
  /** hidden state size (n_embd2) */
  nEmbd2: number;
  /** seed of the generator that draws every parameter */
  seed: number;
}

/** A Linear's weight split into the rows that multiply x and the rows that multiply h. */
interface Split {
  x: tfjs.Tensor2D; // [E, H]
  h: tfjs.Tensor2D; // [H, H]
}

/** See the module comment. */
export class Recurrent extends ParameterModel {
  private readonly cell: CellKind;
  private readonly nEmbd: number;
  private readonly start: tfjs.Variable; // [1, H]
  private readonly wte: tfjs.Variable; // [vocab, E]
  private readonly gates: LinearParams[]; // rnn: [xh_to_h]; gru: [xh_to_z, xh_to_r, xh_to_hbar], each [E+H, H]
  private readonly lmHead: LinearParams; // [H, vocab]

  constructor(c: RecurrentConfig) {
    super(c.blockSize, c.vocabSize, c.seed);
    this.cell = c.cell;
    this.nEmbd = c.nEmbd;
    const p = this.params;
    const [E, H] = [c.nEmbd, c.nEmbd2];
    this.start = p.add("start", () => tf.zeros([1, H]));
    this.wte = p.embedding("wte.weight", c.vocabSize, E);
    const names = c.cell === "rnn" ? ["xh_to_h"] : ["xh_to_z", "xh_to_r", "xh_to_hbar"];
    this.gates = names.map((n) => p.linear(`cell.${n}`, E + H, H));
    this.lmHead = p.linear("lm_head", H, c.vocabSize);
  }

  forward(X: tfjs.Tensor2D): tfjs.Tensor3D {
    return tf.tidy(() => {
      const [B, T] = X.shape;
      const split = this.gates.map((g) => this.split(g.W as tfjs.Tensor2D));
      // the x half of every gate at every step, biases included: [B·T, G·H] in one product
      const Wx = tf.concat(
        split.map((s) => s.x),
        1,
      ) as tfjs.Tensor2D;
      const bx = tf.concat(this.gates.map((g) => g.b as tfjs.Tensor1D)) as tfjs.Tensor1D;
      const emb = embedding(this.wte as tfjs.Tensor2D, X).reshape([B * T, this.nEmbd]) as tfjs.Tensor2D;
      const xs = tf.unstack(linear(emb, Wx, bx).reshape([B, T, -1]), 1) as tfjs.Tensor2D[]; // T × [B, G·H]
      let h = tf.broadcastTo(this.start, [B, this.start.shape[1] as number]) as tfjs.Tensor2D; // [B, H]
      const hiddens: tfjs.Tensor2D[] = [];
      for (const xt of xs) {
        h =
          this.cell === "rnn"
            ? (tf.tanh(tf.add(xt, linear(h, split[0]!.h))) as tfjs.Tensor2D)
            : this.gruStep(xt, h, split);
        hiddens.push(h);
      }
      return linearAll(tf.stack(hiddens, 1), this.lmHead) as tfjs.Tensor3D; // [B, T, vocab]
    });
  }

  /**
   * The same forward pass as a fused graph (lib/engines/graph-recurrent.ts):
   * the tokens time-major, then the embedding, the recurrence and its backward
   * pass in one op.
   */
  fusedGraph(g: GraphBuilder): GraphNode {
    const p = (v: tfjs.Variable | null): GraphNode => g.param(v as tfjs.Variable);
    const gates = this.gates.map((l) => ({ W: p(l.W), b: p(l.b) }));
    const hs = recurrence(g, this.cell, p(this.wte), tokensByTime(g), p(this.start), gates); // [B·T, H]
    return linearOp(g, hs, p(this.lmHead.W), p(this.lmHead.b)); // [B·T, vocab]
  }

  /**
   * One GRUCell step from xt = [x·Wz_x + bz, x·Wr_x + br, x·Wh̄_x + bh̄] ([B, 3H])
   * and the previous hidden state h [B, H]. The products go through `linear`, whose backward pass
   * avoids wasm's slow transposed matrix products.
   */
  private gruStep(xt: tfjs.Tensor2D, h: tfjs.Tensor2D, [z, r, hbar]: Split[]): tfjs.Tensor2D {
    const H = h.shape[1];
    const [xz, xr, xhbar] = tf.split(xt, [H, H, H], 1) as [tfjs.Tensor2D, tfjs.Tensor2D, tfjs.Tensor2D];
    const reset = tf.sigmoid(tf.add(xr, linear(h, r!.h)));
    const candidate = tf.tanh(tf.add(xhbar, linear(tf.mul(reset, h) as tfjs.Tensor2D, hbar!.h)));
    const update = tf.sigmoid(tf.add(xz, linear(h, z!.h)));
    return tf.add(h, tf.mul(update, tf.sub(candidate, h))) as tfjs.Tensor2D; // (1 - z)·h + z·h̄
  }

  /** The rows of a [E+H, H] weight that multiply x, and those that multiply h. */
  private split(W: tfjs.Tensor2D): Split {
    const [x, h] = tf.split(W, [this.nEmbd, W.shape[0] - this.nEmbd], 0) as [tfjs.Tensor2D, tfjs.Tensor2D];
    return { x, h };
  }
}

/** Parameters of an RNN (gates = 1) or a GRU (gates = 3). */
function recurrentCount(gates: number, { nEmbd: E, nEmbd2: H }: { nEmbd: number; nEmbd2: number }, V: number): number {
  return H + V * E + gates * ((E + H) * H + H) + H * V + V;
}

/** A spec for one cell kind. */
function recurrentSpec(cell: CellKind, description: string): ModelSpec {
  return {
    kind: cell,
    description,
    examples: "sequence",
    uses: ["nEmbd", "nEmbd2"],
    defaults: { nEmbd: 64, nEmbd2: 64, optimizer: "adamw" },
    build: ({ blockSize, nEmbd, nEmbd2 }, vocabSize, seed) =>
      new Recurrent({ cell, vocabSize, blockSize, nEmbd, nEmbd2, seed }),
    parameterCount: (shape, V) => recurrentCount(cell === "rnn" ? 1 : 3, shape, V),
  };
}

/** `--model rnn`. */
export const rnnSpec: ModelSpec = recurrentSpec(
  "rnn",
  "makemore.py's RNN with its RNNCell: h = tanh(Linear([x, h])) at every position",
);

/** `--model gru`. */
export const gruSpec: ModelSpec = recurrentSpec(
  "gru",
  "makemore.py's RNN with its GRUCell: reset and update gates around a tanh candidate state",
);
