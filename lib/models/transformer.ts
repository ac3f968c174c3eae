/**
 * makemore.py's `Transformer` (GPT-2's layout without dropout): token and
 * position embeddings, `nLayers` blocks of pre-LayerNorm causal
 * self-attention and a GELU MLP, each added to the residual stream, a final
 * LayerNorm and a bias-free head to the vocabulary.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { GraphBuilder, GraphNode } from "../engines/graph";
import { add, addPositions, embed, linear } from "../engines/graph-ops";
import { causalSelfAttention, gelu, layerNorm as layerNormOp } from "../engines/graph-transformer";
import { embedding } from "../nn/ops";
import { tf } from "../runtime/tf";
import { causalMask, corner, layerNorm, linearAll, newGelu, ParameterModel, type LinearParams } from "./parts";
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
  ln1: LinearParams;
  cAttn: LinearParams; // [C, 3C]: q, k and v of every head in one product
  attnProj: LinearParams; // [C, C]
  ln2: LinearParams;
  cFc: LinearParams; // [C, 4C]
  mlpProj: LinearParams; // [4C, C]
}

/** See the module comment. */
export class Transformer extends ParameterModel {
  private readonly nHead: number;
  private readonly wte: tfjs.Variable; // [vocab, C]
  private readonly wpe: tfjs.Variable; // [blockSize, C]
  private readonly blocks: BlockParams[];
  private readonly lnF: LinearParams;
  private readonly lmHead: LinearParams; // [C, vocab], no bias
  private readonly mask: tfjs.Tensor2D; // [blockSize, blockSize], 0 or -inf: built once, sliced for shorter T
  private recording: tfjs.Tensor4D[] | null = null; // set by attentionMaps while its forward pass runs

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
    this.mask = tf.keep(causalMask(c.blockSize));
  }

  forward(X: tfjs.Tensor2D): tfjs.Tensor3D {
    return tf.tidy(() => {
      const T = X.shape[1];
      const pos = T === this.blockSize ? this.wpe : this.wpe.slice([0, 0], [T, -1]); // [T, C]
      let x = tf.add(embedding(this.wte as tfjs.Tensor2D, X), pos); // [B, T, C]
      for (const b of this.blocks) {
        x = tf.add(x, this.attention(layerNorm(x, b.ln1), b));
        x = tf.add(x, linearAll(newGelu(linearAll(layerNorm(x, b.ln2), b.cFc)), b.mlpProj));
      }
      return linearAll(layerNorm(x, this.lnF), this.lmHead) as tfjs.Tensor3D; // [B, T, vocab]
    });
  }

  /**
   * The attention probabilities of every block for inputs X [B, T]: one
   * [B, nHead, T, T] tensor per block (row t: how position t spreads its
   * attention over positions 0..t). They are recorded during a forward pass,
   * so they are exactly what forward computes. The caller disposes them.
   */
  attentionMaps(X: tfjs.Tensor2D): tfjs.Tensor4D[] {
    const maps: tfjs.Tensor4D[] = [];
    this.recording = maps;
    try {
      this.forward(X).dispose();
    } finally {
      this.recording = null;
    }
    return maps;
  }

  /** CausalSelfAttention: x [B, T, C] -> [B, T, C]; records its probabilities for attentionMaps. */
  private attention(x: tfjs.Tensor, b: BlockParams): tfjs.Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const hs = C / this.nHead;
    // c_attn's weight is cut into its q, k and v columns (a cheap slice of [C, 3C]) rather than
    // its output: on wasm, slicing or unstacking [B, T, 3C] activations costs more than the products
    const Ws = tf.split(b.cAttn.W, 3, 1);
    const bs = tf.split(b.cAttn.b as tfjs.Variable, 3);
    const project = (i: number, order: number[]): tfjs.Tensor =>
      linearAll(x, { W: Ws[i] as tfjs.Variable, b: bs[i] as tfjs.Variable })
        .reshape([B, T, this.nHead, hs])
        .transpose(order);
    const q = project(0, [0, 2, 1, 3]); // [B, nh, T, hs]
    const kT = project(1, [0, 2, 3, 1]); // [B, nh, hs, T]: transposed here, a plain product below
    const v = project(2, [0, 2, 1, 3]); // [B, nh, T, hs]
    const scores = tf.add(tf.mul(tf.matMul(q, kT), 1 / Math.sqrt(hs)), corner(this.mask, T)); // [B, nh, T, T]
    const probs = tf.softmax(scores) as tfjs.Tensor4D; // [B, nh, T, T]
    this.recording?.push(tf.keep(probs)); // kept: forward's tidy frees everything but the logits
    const y = tf.matMul(probs, v); // [B, nh, T, hs]
    return linearAll(y.transpose([0, 2, 1, 3]).reshape([B, T, C]), b.attnProj); // heads side by side again
  }

  /** The same forward pass as a fused graph (lib/engines/graph.ts). */
  fusedGraph(g: GraphBuilder): GraphNode {
    const p = (v: tfjs.Variable | null): GraphNode => g.param(v as tfjs.Variable);
    const lin = (x: GraphNode, l: LinearParams): GraphNode => linear(g, x, p(l.W), l.b ? p(l.b) : null);
    const norm = (x: GraphNode, l: LinearParams): GraphNode => layerNormOp(g, x, p(l.W), p(l.b));
    let x = addPositions(g, embed(g, p(this.wte)), p(this.wpe)); // [B·T, C]
    for (const b of this.blocks) {
      const qkv = lin(norm(x, b.ln1), b.cAttn); // [B·T, 3C]
      x = add(g, x, lin(causalSelfAttention(g, qkv, this.nHead), b.attnProj));
      x = add(g, x, lin(gelu(g, lin(norm(x, b.ln2), b.cFc)), b.mlpProj)); // through [B·T, 4C]
    }
    return lin(norm(x, this.lnF), this.lmHead); // [B·T, vocab]
  }

  override dispose(): void {
    super.dispose();
    this.mask.dispose();
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
