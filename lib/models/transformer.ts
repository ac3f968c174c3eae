/**
 * makemore.py's `Transformer` (GPT-2's layout without dropout): token and
 * position embeddings, `nLayers` blocks of pre-LayerNorm causal
 * self-attention and a GELU MLP, each added to the residual stream, a final
 * LayerNorm and a bias-free head to the vocabulary.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LinearParams, Ops } from "../nn/ops-interface";
import { eagerLogits } from "./model";
import { ParameterModel, type NormParams } from "./parts";
import type { ModelSpec } from "./spec";

/** Configuration of a {@link Transformer} (makemore.py's ModelConfig). */
export interface TransformerConfig {
  /** size of the vocabulary */
  vocabSize: number;
  /** positions of a padded line (rows of the position embedding) */
  blockSize: number;
  /** blocks (n_layer) */
  nLayers: number;
  /** attention heads (n_head); must divide nEmbd */
  nHead: number;
  /** width of the residual stream (n_embd) */
  nEmbd: number;
  /** seed of the generator that draws every parameter */
  seed: number;
}

/** The parameters of one `Block`. */
interface BlockParams {
  ln1: NormParams;
  cAttn: LinearParams; // [C, 3C]: q, k and v of every head in one product
  attnProj: LinearParams; // [C, C]
  ln2: NormParams;
  cFc: LinearParams; // [C, 4C]
  mlpProj: LinearParams; // [4C, C]
}

/** See the module comment. */
export class Transformer extends ParameterModel {
  private readonly nHead: number;
  private readonly wte: tfjs.Variable; // [vocab, C]
  private readonly wpe: tfjs.Variable; // [blockSize, C]
  private readonly blocks: BlockParams[];
  private readonly lnF: NormParams;
  private readonly lmHead: LinearParams; // [C, vocab], no bias

  constructor(c: TransformerConfig) {
    if (c.nEmbd % c.nHead !== 0) throw new RangeError(transformerShapeError(c));
    super(c.blockSize, c.vocabSize, c.seed);
    this.nHead = c.nHead;
    const p = this.params;
    const C = c.nEmbd;
    this.wte = p.embedding("transformer.wte.weight", c.vocabSize, C);
    this.wpe = p.embedding("transformer.wpe.weight", c.blockSize, C);
    this.blocks = Array.from({ length: c.nLayers }, (_, i) => {
      const at = `transformer.h.${i}`;
      return {
        ln1: p.layerNorm(`${at}.ln_1`, C),
        cAttn: p.linear(`${at}.attn.c_attn`, C, 3 * C),
        attnProj: p.linear(`${at}.attn.c_proj`, C, C),
        ln2: p.layerNorm(`${at}.ln_2`, C),
        cFc: p.linear(`${at}.mlp.c_fc`, C, 4 * C),
        mlpProj: p.linear(`${at}.mlp.c_proj`, 4 * C, C),
      };
    });
    this.lnF = p.layerNorm("transformer.ln_f", C);
    this.lmHead = p.linear("lm_head", C, c.vocabSize, false);
  }

  logits<V>(o: Ops<V>): V {
    const norm = (x: V, p: NormParams): V => o.layerNorm(x, p.W, p.b);
    let x = o.positions(o.embed(this.wte), this.wpe); // [B, T, C]
    for (const b of this.blocks) {
      x = o.add(x, o.linear(o.attention(norm(x, b.ln1), b.cAttn, this.nHead), b.attnProj.W, b.attnProj.b));
      const hidden = o.gelu(o.linear(norm(x, b.ln2), b.cFc.W, b.cFc.b)); // [B, T, 4C]
      x = o.add(x, o.linear(hidden, b.mlpProj.W, b.mlpProj.b));
    }
    return o.linear(norm(x, this.lnF), this.lmHead.W, null); // [B, T, vocab]
  }

  /**
   * The attention probabilities of every block for inputs X [B, T]: one
   * [B, nHead, T, T] tensor per block (row t: how position t spreads its
   * attention over positions 0..t). They are recorded during a forward pass,
   * so they are exactly what forward computes. The caller disposes them.
   */
  attentionMaps(X: tfjs.Tensor2D): tfjs.Tensor4D[] {
    const maps: tfjs.Tensor4D[] = [];
    eagerLogits(this, X, false, { attention: (probs) => maps.push(probs) }).dispose();
    return maps;
  }
}

function transformerShapeError({ nEmbd, nHead }: { nEmbd: number; nHead: number }): string {
  return `nEmbd ${nEmbd} must be divisible by nHead ${nHead} (each head gets nEmbd / nHead channels)`;
}

/** `--model transformer`. */
export const transformerSpec: ModelSpec = {
  kind: "transformer",
  description: "makemore.py's Transformer: a GPT of causal self-attention blocks over whole lines",
  examples: "sequence",
  uses: ["blockSize", "nEmbd", "nLayers", "nHead"],
  defaults: { nLayers: 4, nHead: 4, nEmbd: 64, optimizer: "adamw" },
  build: ({ blockSize, nEmbd, nLayers, nHead }, vocabSize, seed) =>
    new Transformer({ vocabSize, blockSize, nEmbd, nLayers, nHead, seed }),
  parameterCount: ({ blockSize, nEmbd: C, nLayers }, V) => {
    const block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    return V * C + blockSize * C + nLayers * block + 2 * C + C * V;
  },
  validate: (shape) => (shape.nEmbd % shape.nHead === 0 ? null : transformerShapeError(shape)),
};
