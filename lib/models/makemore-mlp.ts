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
import type { LinearParams, Ops } from "../nn/ops-interface";
import { ParameterModel } from "./parts";
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

  logits<V>(o: Ops<V>): V {
    const window = { blank: this.vocabSize, order: "newest first" } as const;
    const pre = o.windowLinear(this.wte, this.hidden.W, this.hidden.b, window); // [B, T, E2]
    return o.linear(o.tanh(pre), this.out.W, this.out.b); // [B, T, vocab]
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
