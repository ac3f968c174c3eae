/**
 * The window Linear as a graph op: at every position, the embeddings of the
 * last w tokens side by side through one Linear (makemore.py's MLP, and the
 * trigram with a window of 2). Its eager twin is in lib/nn/eager.ts.
 *
 * @module
 */
import type { Window } from "../nn/ops-interface";
import { gradOf, type GraphBuilder, type GraphNode } from "./graph";
import { block, type Mat } from "./kernel-calls";

/**
 * `nn.Linear` over the w window embeddings side by side, [M, w·E] · W [w·E, E2]
 * + b, as w look-ups summed: the k-th newest token meets its block of rows
 * W_k, and P_k = table · W_k [V, E2] are w small products (not one per
 * position), so position m adds up P_k[its k-th newest token]. Backward sums
 * the output's gradient into the rows read (dP_k), giving dW_k = tableᵀ dP_k
 * and dtable = Σ dP_k W_kᵀ.
 */
export function windowLinear(
  g: GraphBuilder,
  table: GraphNode,
  W: GraphNode,
  bias: GraphNode | null,
  window: Window,
): GraphNode {
  const [M, R, E, E2] = [g.batch * g.time, table.rows, table.cols, W.cols];
  const w = W.rows / E;
  const ids = g.scratch(M, w); // int32: k·R + the k-th newest token of position m
  const P = g.scratch(w * R, E2); // P_k from row k·R
  const dP = g.training ? g.scratch(w * R, E2) : P;
  const wT = g.training ? g.scratch(E2, E) : P; // W_kᵀ, one place at a time
  const out = g.value(M, E2);
  // the rows of W the k-th newest token meets, and its block of P
  const Wk = (m: Mat, k: number): Mat => block(m, (window.order === "newest first" ? k : w - 1 - k) * E, 0, E, E2); // prettier-ignore
  const Pk = (m: Mat, k: number): Mat => block(m, k * R, 0, R, E2);
  g.push({
    name: "window linear",
    forward: (k) => {
      k.windowIds(ids, g.tokens, window.blank, R);
      for (let i = 0; i < w; i++) k.matmul(Pk(P, i), table, Wk(W, i));
      k.gatherSum(out, P, ids, bias);
    },
    backward: (k, b) => {
      k.scatterRows(dP, gradOf(out), ids);
      if (bias) k.colSum(gradOf(bias), gradOf(out), b.acc(bias));
      const [aW, aT] = [b.acc(W), b.acc(table)];
      for (let i = 0; i < w; i++) {
        k.matmulAtB(Wk(gradOf(W), i), table, Pk(dP, i), aW);
        k.transpose(wT, Wk(W, i));
        k.matmul(gradOf(table), Pk(dP, i), wT, i === 0 ? aT : 1);
      }
    },
  });
  return out;
}
