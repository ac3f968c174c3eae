/**
 * How the layers of lib/nn/layers.ts look to the fused kernels: the one
 * translation that every layered model's `fusedSpec()` uses.
 *
 * @module
 */
import type { FusedLayer } from "../engines/fused";
import { BatchNorm1d, Embedding, FlattenConsecutive, Linear, Tanh, type Layer } from "../nn/layers";

/** One layer as the fused kernels see it, or null when they cannot run it. */
export function fusedLayer(l: Layer): FusedLayer | null {
  if (l instanceof Embedding) return { kind: "embedding", table: l.weight, perPosition: true };
  if (l instanceof FlattenConsecutive) return { kind: "flatten", n: l.n };
  if (l instanceof Linear) return { kind: "linear", weight: l.weight, bias: l.bias };
  if (l instanceof Tanh) return { kind: "tanh" };
  if (l instanceof BatchNorm1d) {
    return {
      kind: "batchnorm",
      gamma: l.gamma,
      beta: l.beta,
      runningMean: l.runningMean,
      running: l.runningVar,
      runningKind: "var",
      eps: l.eps,
      momentum: l.updateRunningStats ? l.momentum : 0,
      divisor: l.unbiasedNormalization ? "n-1" : "n",
      // the layer checks that its input has `positionwise` positions; the layout checks the same
      ...(l.positionwise > 0 ? { statsOver: "examples" as const } : {}),
    };
  }
  return null;
}
