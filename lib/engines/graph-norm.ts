/**
 * The normalizations as graph ops: batch norm (lectures 3 to 5: statistics
 * over every row or per position, running statistics, the variance divisor,
 * evaluation mode) and makemore.py's LayerNorm over rows. Their eager twins
 * are in lib/nn/eager.ts.
 *
 * @module
 */
import type { BatchNormState } from "../nn/ops-interface";
import { gradOf, type Backward, type GraphBuilder, type GraphNode } from "./graph";
import { mat, type Mat, type KernelCalls } from "./kernel-calls";

/** nn.LayerNorm's eps. */
const LN_EPS = 1e-5;

/**
 * Batch norm of x [B·P, dim] (P rows per example). Its statistics are the
 * columns of an [M, N] matrix: [B·P, dim] over every row, or, per position,
 * the same bytes read as [B, P·dim]. Per position, gamma and beta are tiled
 * to P·dim for the kernels and their gradients summed back over the
 * positions. A training graph normalizes with the batch's statistics and
 * moves the running ones (state in kernel memory); an evaluation graph uses
 * the running ones.
 */
export function batchNorm(g: GraphBuilder, x: GraphNode, bn: BatchNormState): GraphNode {
  const l = batchNormLayout(g, x, bn);
  // the kernels' arguments, made once (an object spread per step costs microseconds in V8 11)
  const { stats, affine } = l;
  const { mean, invStd, unbiasedVar } = stats;
  const train = l.xhat && { mean, invStd, unbiasedVar, eps: bn.eps, divisor: l.divisor, xhat: l.xhat };
  const evaluation = {
    gamma: affine.gamma,
    beta: affine.beta,
    mean: l.running.mean,
    running: l.running.value,
    eps: bn.eps,
    isStd: bn.runningKind === "std",
    scale: l.stats.tmp,
    shift: l.stats.unbiasedVar,
  };
  g.push({
    name: "batch norm",
    forward: (k) => {
      tile(k, l);
      if (!train) return k.batchNormEval(l.asStats(l.out.at), l.asStats(x.at), evaluation);
      k.batchNormForward(l.asStats(l.out.at), l.asStats(x.at), l.affine.gamma, l.affine.beta, train);
      updateRunning(k, bn, l);
    },
    backward: (k, b) => batchNormBackward(k, b, l),
  });
  return l.out;
}

/** The buffers of a batch norm of x (see {@link batchNorm}). */
interface BatchNormLayout {
  x: GraphNode;
  out: GraphNode;
  /** x, the output and their gradients as the statistics' [M, N] matrices */
  asStats: (at: number) => Mat;
  /** divisor of the batch variance: M or M - 1 */
  divisor: number;
  gamma: GraphNode;
  beta: GraphNode;
  /** per position: gamma and beta tiled [P, dim] and their gradients; null over every row */
  wide: { gamma: Mat; beta: Mat; dGamma: Mat; dBeta: Mat } | null;
  /** the gain and shift the kernels read ([N]) */
  affine: { gamma: Mat; beta: Mat };
  /** the running statistics in kernel memory */
  running: { mean: GraphNode; value: GraphNode };
  /** the batch's mean, 1/std and unbiased variance, and scratch, each [N] */
  stats: { mean: Mat; invStd: Mat; unbiasedVar: Mat; tmp: Mat };
  /** the normalized x [M, N], kept for the backward pass (training graphs) */
  xhat: Mat | null;
}

function batchNormLayout(g: GraphBuilder, x: GraphNode, bn: BatchNormState): BatchNormLayout {
  const [gamma, beta, dim] = [g.param(bn.gamma), g.param(bn.beta), x.cols];
  if (bn.gamma.size !== dim) throw new Error(`fused graph: batch norm of ${bn.gamma.size} after ${dim} features`);
  const P = x.rows / g.batch;
  const [M, N] = bn.statsOver === "examples" ? [g.batch, P * dim] : [x.rows, dim];
  if (bn.runningMean.size !== N || bn.running.size !== N) {
    throw new Error(`fused graph: running statistics of ${bn.runningMean.size} for ${N} columns of statistics`);
  }
  const tiled = (): Mat => g.scratch(P, dim);
  const wide = N === dim ? null : { gamma: tiled(), beta: tiled(), dGamma: tiled(), dBeta: tiled() };
  return {
    x,
    out: g.value(x.rows, dim),
    asStats: (at: number) => mat(at, M, N),
    divisor: bn.divisor === "n" ? M : M - 1,
    gamma,
    beta,
    wide,
    affine: wide ? { gamma: wide.gamma, beta: wide.beta } : { gamma, beta },
    running: { mean: g.state(bn.runningMean), value: g.state(bn.running) },
    stats: { mean: g.scratch(1, N), invStd: g.scratch(1, N), unbiasedVar: g.scratch(1, N), tmp: g.scratch(1, N) },
    xhat: g.training ? g.scratch(M, N) : null,
  };
}

/** Per position, every position's copy of the shared gain and shift. */
function tile(k: KernelCalls, l: BatchNormLayout): void {
  if (!l.wide) return;
  k.broadcastRow(l.wide.gamma, l.gamma);
  k.broadcastRow(l.wide.beta, l.beta);
}

/** dx, and dgamma and dbeta (summed over the positions when tiled); x, gamma and beta have no other reader. */
function batchNormBackward(k: KernelCalls, b: Backward, l: BatchNormLayout): void {
  const { x, gamma, beta, wide } = l;
  if (b.acc(x)) throw new Error("fused graph: a batch norm's input read by another op too");
  const [accGamma, accBeta] = [b.acc(gamma), b.acc(beta)];
  if (!wide && (accGamma || accBeta)) throw new Error("fused graph: a batch norm's gain or shift used twice");
  const grads = { dx: l.asStats(x.grad), dgamma: wide?.dGamma ?? gradOf(gamma), dbeta: wide?.dBeta ?? gradOf(beta) };
  const s = { xhat: l.xhat as Mat, gamma: l.affine.gamma, invStd: l.stats.invStd, divisor: l.divisor };
  k.batchNormBackward(grads, l.asStats(l.out.grad), s);
  if (!wide) return;
  k.colSum(gradOf(gamma), wide.dGamma, accGamma); // Σ over the positions
  k.colSum(gradOf(beta), wide.dBeta, accBeta);
}

/** Moves the running statistics towards the batch's: the mean, and the unbiased variance or sqrt(it + eps). */
function updateRunning(k: KernelCalls, bn: BatchNormState, { running, stats: s }: BatchNormLayout): void {
  if (bn.momentum <= 0) return;
  k.blend(running.mean, s.mean, bn.momentum);
  if (bn.runningKind === "var") return k.blend(running.value, s.unbiasedVar, bn.momentum);
  k.sqrtEps(s.tmp, s.unbiasedVar, bn.eps);
  k.blend(running.value, s.tmp, bn.momentum);
}

/** nn.LayerNorm over the rows of x [M, N] with gain `gamma` and shift `beta` (both [N]). */
export function layerNorm(g: GraphBuilder, x: GraphNode, gamma: GraphNode, beta: GraphNode): GraphNode {
  if (gamma.cols !== x.cols || beta.cols !== x.cols) {
    throw new Error(`fused graph: a LayerNorm of ${gamma.cols} over ${x.cols}`);
  }
  const out = g.value(x.rows, x.cols);
  // each row's mean and 1/std [M], for the backward pass
  const s = { x, gamma, beta, eps: LN_EPS, mean: g.scratch(x.rows), rstd: g.scratch(x.rows) };
  const [grads, dOut] = [{ dx: gradOf(x), dgamma: gradOf(gamma), dbeta: gradOf(beta) }, gradOf(out)];
  g.push({
    name: "layer norm",
    forward: (k) => k.layerNormForward(out, x, s),
    backward: (k, b) => k.layerNormBackward(grads, { x: b.acc(x), gamma: b.acc(gamma), beta: b.acc(beta) }, dOut, s),
  });
  return out;
}
