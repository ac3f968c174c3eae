/**
 * makemore.py's `BoW`: token plus position embeddings, one `BoWBlock` (the
 * causal bag of words — each position adds the plain average of the
 * embeddings up to and including it — then a residual tanh MLP c_fc/c_proj)
 * and a head to the vocabulary.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LinearParams, Ops } from "../nn/ops-interface";
import { ParameterModel } from "./parts";
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

/** See the module comment. */
export class BoW extends ParameterModel {
  private readonly wte: tfjs.Variable; // [vocab, E]
  private readonly wpe: tfjs.Variable; // [blockSize, E]
  private readonly cFc: LinearParams; // [E, E2]
  private readonly cProj: LinearParams; // [E2, E]
  private readonly lmHead: LinearParams; // [E, vocab]

  constructor(c: BoWConfig) {
    super(c.blockSize, c.vocabSize, c.seed);
    const p = this.params;
    this.wte = p.embedding("wte.weight", c.vocabSize, c.nEmbd);
    this.wpe = p.embedding("wpe.weight", c.blockSize, c.nEmbd);
    this.cFc = p.linear("context_block.mlp.c_fc", c.nEmbd, c.nEmbd2);
    this.cProj = p.linear("context_block.mlp.c_proj", c.nEmbd2, c.nEmbd);
    this.lmHead = p.linear("lm_head", c.nEmbd, c.vocabSize);
  }

  logits<V>(o: Ops<V>): V {
    let x = o.positions(o.embed(this.wte), this.wpe); // [B, T, E]
    x = o.add(x, o.causalMean(x));
    const h = o.tanh(o.linear(x, this.cFc.W, this.cFc.b)); // [B, T, E2]
    x = o.add(x, o.linear(h, this.cProj.W, this.cProj.b));
    return o.linear(x, this.lmHead.W, this.lmHead.b); // [B, T, vocab]
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
