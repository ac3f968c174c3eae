/**
 * The normalizations as graph ops: batch norm (lectures 3 to 5: statistics
 * over every row or per position, running statistics, the variance divisor,
 * evaluation mode) and makemore.py's LayerNorm over rows. Their eager twins
 * are in lib/nn/eager.ts.
 *
 * @module
 */
import type { BatchNormState } from "../nn/ops-interface";
import { gradOf, type GraphBuilder, type GraphNode } from "./graph";
import * as kc from "./kernel-calls";
import type { KernelExports } from "./kernels";

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
  const { M, N, gamma, beta, wide, stats, affine } = l;
  const asStats = (at: number): kc.Mat => kc.mat(at, M, N); // x, the output and their gradients
  const divisor = bn.divisor === "n" ? M : M - 1;
  const out = g.value(x.rows, x.cols);
  const xhat = g.training ? g.scratch(M, N) : null;
  g.push({
    name: "batch norm",
    forward: (k) => {
      if (wide) kc.broadcastRow(k, wide.gamma, gamma); // every position's copy of the shared gain and shift
      if (wide) kc.broadcastRow(k, wide.beta, beta);
      if (!xhat) return batchNormEval(k, bn, asStats(out.at), asStats(x.at), l);
      kc.batchNormForward(k, asStats(out.at), asStats(x.at), affine.gamma, affine.beta, {
        ...stats,
        eps: bn.eps,
        divisor,
        xhat,
      });
      updateRunning(k, bn, l);
    },
    backward: (k, b) => {
      if (b.acc(x)) throw new Error("fused graph: a batch norm's input read by another op too");
      const [accGamma, accBeta] = [b.acc(gamma), b.acc(beta)];
      if (!wide && (accGamma || accBeta)) throw new Error("fused graph: a batch norm's gain or shift used twice");
      const grads = {
        dx: asStats(x.grad),
        dgamma: wide ? wide.dGamma : gradOf(gamma),
        dbeta: wide ? wide.dBeta : gradOf(beta),
      };
      kc.batchNormBackward(k, grads, asStats(out.grad), {
        xhat: xhat as kc.Mat,
        gamma: affine.gamma,
        invStd: stats.invStd,
        divisor,
      });
      if (!wide) return;
      kc.colSum(k, gradOf(gamma), wide.dGamma, accGamma); // Σ over the positions
      kc.colSum(k, gradOf(beta), wide.dBeta, accBeta);
    },
  });
  return out;
}

/** The buffers of a batch norm of x (see {@link batchNorm}). */
interface BatchNormLayout {
  /** rows and columns of the statistics */
  M: number;
  N: number;
  gamma: GraphNode;
  beta: GraphNode;
  /** per position: gamma and beta tiled [P, dim] and their gradients; null over every row */
  wide: { gamma: kc.Mat; beta: kc.Mat; dGamma: kc.Mat; dBeta: kc.Mat } | null;
  /** the gain and shift the kernels read ([N]) */
  affine: { gamma: kc.Mat; beta: kc.Mat };
  /** the running statistics in kernel memory */
  running: { mean: GraphNode; value: GraphNode };
  /** the batch's mean, 1/std and unbiased variance, and scratch, each [N] */
  stats: { mean: kc.Mat; invStd: kc.Mat; unbiasedVar: kc.Mat; tmp: kc.Mat };
}

function batchNormLayout(g: GraphBuilder, x: GraphNode, bn: BatchNormState): BatchNormLayout {
  const [gamma, beta, dim] = [g.param(bn.gamma), g.param(bn.beta), x.cols];
  if (bn.gamma.size !== dim) throw new Error(`fused graph: batch norm of ${bn.gamma.size} after ${dim} features`);
  const P = x.rows / g.batch;
  const [M, N] = bn.statsOver === "examples" ? [g.batch, P * dim] : [x.rows, dim];
  if (bn.runningMean.size !== N || bn.running.size !== N) {
    throw new Error(`fused graph: running statistics of ${bn.runningMean.size} for ${N} columns of statistics`);
  }
  const tiled = (): kc.Mat => g.scratch(P, dim);
  const wide = N === dim ? null : { gamma: tiled(), beta: tiled(), dGamma: tiled(), dBeta: tiled() };
  return {
    ...{ M, N, gamma, beta, wide },
    affine: wide ? { gamma: wide.gamma, beta: wide.beta } : { gamma, beta },
    running: { mean: g.state(bn.runningMean), value: g.state(bn.running) },
    stats: { mean: g.scratch(1, N), invStd: g.scratch(1, N), unbiasedVar: g.scratch(1, N), tmp: g.scratch(1, N) },
  };
}

/** Evaluation with the running statistics (scale and shift in the statistics' scratch). */
function batchNormEval(k: KernelExports, bn: BatchNormState, out: kc.Mat, x: kc.Mat, l: BatchNormLayout): void {
  kc.batchNormEval(k, out, x, {
    ...l.affine,
    mean: l.running.mean,
    running: l.running.value,
    eps: bn.eps,
    isStd: bn.runningKind === "std",
    scale: l.stats.tmp,
    shift: l.stats.unbiasedVar,
  });
}

/** Moves the running statistics towards the batch's: the mean, and the unbiased variance or sqrt(it + eps). */
function updateRunning(k: KernelExports, bn: BatchNormState, { running, stats: s }: BatchNormLayout): void {
  if (bn.momentum <= 0) return;
  kc.blend(k, running.mean, s.mean, bn.momentum);
  if (bn.runningKind === "var") return kc.blend(k, running.value, s.unbiasedVar, bn.momentum);
  kc.sqrtEps(k, s.tmp, s.unbiasedVar, bn.eps);
  kc.blend(k, running.value, s.tmp, bn.momentum);
}

/** nn.LayerNorm over the rows of x [M, N] with gain `gamma` and shift `beta` (both [N]). */
export function layerNorm(g: GraphBuilder, x: GraphNode, gamma: GraphNode, beta: GraphNode): GraphNode {
  if (gamma.cols !== x.cols || beta.cols !== x.cols) {
    throw new Error(`fused graph: a LayerNorm of ${gamma.cols} over ${x.cols}`);
  }
  const out = g.value(x.rows, x.cols);
  // each row's mean and 1/std [M], for the backward pass
  const s = { x, gamma, mean: g.scratch(x.rows), rstd: g.scratch(x.rows) };
  g.push({
    name: "layer norm",
    forward: (k) => kc.layerNormForward(k, out, x, { gamma, beta, eps: LN_EPS, mean: s.mean, rstd: s.rstd }),
    backward: (k, b) => {
      const grads = { dx: gradOf(x), dgamma: gradOf(gamma), dbeta: gradOf(beta) };
      kc.layerNormBackward(k, grads, { x: b.acc(x), gamma: b.acc(gamma), beta: b.acc(beta) }, gradOf(out), s);
    },
  });
  return out;
}
