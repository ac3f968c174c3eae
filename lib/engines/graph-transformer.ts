/**
 * The graph ops of makemore.py's Transformer besides Linear and LayerNorm:
 * NewGELU and causal self-attention (kernels in wasm/attention.ts).
 *
 * @module
 */
import { gradOf, type GraphBuilder, type GraphNode } from "./graph";

/** makemore.py's NewGELU, elementwise. */
export function gelu(g: GraphBuilder, x: GraphNode): GraphNode {
  const out = g.value(x.rows, x.cols);
  // σ(2u) of every value (NewGELU is x · σ(2u)): the backward pass needs no exponential (scratch in evaluation)
  const gate = g.scratch(x.rows, x.cols);
  const [dx, dOut] = [gradOf(x), gradOf(out)];
  g.push({
    name: "gelu",
    forward: (k) => k.geluForward(out, x, gate),
    backward: (k, b) => k.geluBackward(dx, x, gate, dOut, b.acc(x)),
  });
  return out;
}

/** Positions per block of the attention kernels' products (ROWS in wasm/attention.ts). */
const ATTENTION_ROWS = 16;

/** T rounded up to a whole number of the kernels' row blocks. */
function paddedTime(T: number): number {
  return Math.ceil(T / ATTENTION_ROWS) * ATTENTION_ROWS;
}

/** Values of scratch the attention kernels use (attentionWork in wasm/attention.ts, computed here before any instance exists). */
function attentionWork(T: number, hs: number): number {
  const [Tp, hsp] = [paddedTime(T), Math.ceil(hs / 4) * 4];
  return 7 * Tp * hsp + ATTENTION_ROWS * Tp;
}

/**
 * CausalSelfAttention's core over qkv [B·T, 3C] (c_attn's output: q, k, v
 * side by side, each split into `nHead` heads): softmax(q kᵀ/√hs, causal) v
 * per head, heads side by side in [B·T, C]. Training keeps every head's
 * probabilities [B·nh, T, T rounded up to 16] for the backward pass, which
 * then needs no exponential (at block 506 and batch 32: 133 MB per layer, a
 * ninth of the graph, cheaper than recomputing them); evaluation reuses one
 * block of 16 rows (one per thread). On threads the lines are split among them.
 */
export function causalSelfAttention(g: GraphBuilder, qkv: GraphNode, nHead: number): GraphNode {
  const { batch: B, time: T } = g;
  const C = qkv.cols / 3;
  if (!Number.isInteger(C) || C % nHead !== 0 || qkv.rows !== B * T) {
    throw new Error(`fused graph: attention of [${qkv.rows}, ${qkv.cols}] with ${nHead} heads`);
  }
  const out = g.value(B * T, C);
  const keep = g.training;
  // evaluation keeps the probabilities of one block of rows at a time, a block per thread
  const P = keep ? g.scratch(B * nHead * T, paddedTime(T)) : g.scratch(ATTENTION_ROWS * g.threads, paddedTime(T));
  // a thread's scratch, and a vector's room after it (its products may read one past their rows)
  const work = g.scratch(g.threads, attentionWork(T, C / nHead) + 4);
  const s = { T, nHead, P, work, keep, qkv };
  const [dqkv, dOut] = [gradOf(qkv), gradOf(out)];
  g.push({
    name: "attention",
    forward: (k) => k.attentionForward(out, qkv, s),
    backward: (k, b) => k.attentionBackward(dqkv, dOut, s, b.acc(qkv)),
  });
  return out;
}
