/**
 * The fused ops of makemore.py's Transformer: LayerNorm over rows, NewGELU
 * and causal self-attention over c_attn's output (kernels in
 * wasm/attention.ts; the builder in lib/engines/graph.ts).
 *
 * @module
 */
import type { GraphBuilder, GraphNode } from "./graph";

/** nn.LayerNorm's eps. */
const LN_EPS = 1e-5;

/** nn.LayerNorm over the rows of x [M, N] with gain `gamma` and shift `beta` (both [N]). */
export function layerNorm(g: GraphBuilder, x: GraphNode, gamma: GraphNode, beta: GraphNode): GraphNode {
  const [M, N] = [x.rows, x.cols];
  if (gamma.cols !== N || beta.cols !== N) throw new Error(`fused graph: a LayerNorm of ${gamma.cols} over ${N}`);
  const out = g.value(M, N);
  // each row's mean and 1/std [M], for the backward pass
  const mean = g.scratch(M);
  const rstd = g.scratch(M);
  g.push({
    name: "layer norm",
    forward: (k) => k.layerNormForward(M, N, x.at, gamma.at, beta.at, LN_EPS, mean, rstd, out.at),
    backward: (k, b) =>
      k.layerNormBackward(
        M,
        N,
        x.at,
        out.grad,
        gamma.at,
        mean,
        rstd,
        x.grad,
        b.acc(x),
        gamma.grad,
        b.acc(gamma),
        beta.grad,
        b.acc(beta),
      ),
  });
  return out;
}

/** makemore.py's NewGELU, elementwise. */
export function gelu(g: GraphBuilder, x: GraphNode): GraphNode {
  const n = x.rows * x.cols;
  const out = g.value(x.rows, x.cols);
  // σ(2u) of every value (NewGELU is x · σ(2u)): the backward pass needs no exponential (scratch in evaluation)
  const gate = g.scratch(n);
  g.push({
    name: "gelu",
    forward: (k) => k.geluForward(n, x.at, out.at, gate),
    backward: (k, b) => k.geluBackward(n, x.at, gate, out.grad, x.grad, b.acc(x)),
  });
  return out;
}

/** Positions per block of the attention kernels' products (ROWS in wasm/attention.ts). */
const ATTENTION_ROWS = 16;

/** T rounded up to a whole number of the kernels' row blocks. */
function paddedTime(T: number): number {
  return Math.ceil(T / ATTENTION_ROWS) * ATTENTION_ROWS;
}

/** Floats of one (line, head) block of probabilities: T rows of {@link paddedTime} columns. */
function probBlock(T: number): number {
  return T * paddedTime(T);
}

/** Floats of scratch the attention kernels use (attentionWork in wasm/attention.ts, computed here before any instance exists). */
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
 * block of 16 rows.
 */
export function causalSelfAttention(g: GraphBuilder, qkv: GraphNode, nHead: number): GraphNode {
  const { batch: B, time: T } = g;
  const C = qkv.cols / 3;
  if (!Number.isInteger(C) || C % nHead !== 0 || qkv.rows !== B * T) {
    throw new Error(`fused graph: attention of [${qkv.rows}, ${qkv.cols}] with ${nHead} heads`);
  }
  const out = g.value(B * T, C);
  const keep = g.training ? 1 : 0;
  // evaluation keeps the probabilities of one block of rows at a time
  const P = g.scratch(g.training ? probBlock(T) * B * nHead : ATTENTION_ROWS * paddedTime(T));
  const work = g.scratch(attentionWork(T, C / nHead));
  g.push({
    name: "attention",
    forward: (k) => k.attentionForward(B, T, C, nHead, qkv.at, out.at, P, keep, work),
    backward: (k, b) => k.attentionBackward(B, T, C, nHead, qkv.at, P, out.grad, qkv.grad, b.acc(qkv), work),
  });
  return out;
}
