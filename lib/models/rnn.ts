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
import type { Cell, LinearParams, Ops } from "../nn/ops-interface";
import { tf } from "../runtime/tf";
import { ParameterModel } from "./parts";
import type { ModelSpec } from "./spec";

/** Which recurrence. */
export type CellKind = Cell;

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

/** See the module comment. */
export class Recurrent extends ParameterModel {
  private readonly cell: CellKind;
  private readonly start: tfjs.Variable; // [1, H]
  private readonly wte: tfjs.Variable; // [vocab, E]
  private readonly gates: LinearParams[]; // rnn: [xh_to_h]; gru: [xh_to_z, xh_to_r, xh_to_hbar], each [E+H, H]
  private readonly lmHead: LinearParams; // [H, vocab]

  constructor(c: RecurrentConfig) {
    super(c.blockSize, c.vocabSize, c.seed);
    this.cell = c.cell;
    const p = this.params;
    const [E, H] = [c.nEmbd, c.nEmbd2];
    this.start = p.add("start", () => tf.zeros([1, H]));
    this.wte = p.embedding("wte.weight", c.vocabSize, E);
    const names = c.cell === "rnn" ? ["xh_to_h"] : ["xh_to_z", "xh_to_r", "xh_to_hbar"];
    this.gates = names.map((n) => p.linear(`cell.${n}`, E + H, H));
    this.lmHead = p.linear("lm_head", H, c.vocabSize);
  }

  logits<V>(o: Ops<V>): V {
    const hs = o.recurrence(this.cell, this.wte, this.start, this.gates); // [B, T, H]
    return o.linear(hs, this.lmHead.W, this.lmHead.b); // [B, T, vocab]
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
