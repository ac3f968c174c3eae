/**
 * The graph ops most models use: embeddings, position embeddings, `nn.Linear`
 * over rows, the residual addition, tanh, the causal bag of words and
 * flattening. Each lays out its output and scratch with the builder, records
 * its forward and backward kernel calls, and returns its output node (see
 * lib/engines/graph.ts). Their eager twins are in lib/nn/eager.ts.
 *
 * @module
 */
import { gradOf, type GraphBuilder, type GraphNode } from "./graph";
import { kPartials, mat } from "./kernel-calls";

/** Rows of `table` [V, D] picked by the int32 `ids` (n of them): [n, D]. */
export function embed(g: GraphBuilder, table: GraphNode, ids: GraphNode): GraphNode {
  const out = g.value(ids.rows * ids.cols, table.cols);
  const [dTable, dOut] = [gradOf(table), gradOf(out)];
  g.push({
    name: "embedding",
    forward: (k) => k.embedForward(out, table, ids),
    backward: (k, b) => {
      // the scatter-add writes the whole table's gradient (zeros first)
      if (b.acc(table)) throw new Error("fused graph: an embedding table read twice");
      k.embedBackward(dTable, dOut, ids);
    },
  });
  return out;
}

/** x [B·T, D] plus the first T rows of the position table `pos` at every line. */
export function addPositions(g: GraphBuilder, x: GraphNode, pos: GraphNode): GraphNode {
  const T = g.time;
  if (pos.cols !== x.cols || pos.rows < T)
    throw new Error(`fused graph: positions [${pos.rows}, ${pos.cols}] for T ${T}`);
  const out = g.value(x.rows, x.cols);
  const dPos = mat(pos.grad, 1, T * x.cols); // the first T rows, as one row of T·D
  const dLines = mat(out.grad, x.rows / T, T * x.cols); // the output's gradient, a row of T·D per line
  g.push({
    name: "positions",
    forward: (k) => k.addPositions(out, x, pos, T),
    backward: (k, b) => {
      k.addGrad(gradOf(x), gradOf(out), b.acc(x));
      k.colSum(dPos, dLines, b.acc(pos)); // Σ over lines, position by position
    },
  });
  return out;
}

/**
 * `nn.Linear` at every row: x [M, fanIn] · W [fanIn, fanOut] (+ b). Backward: dW = xᵀ dy and db = Σ dy (in one call), and
 * dx = dy Wᵀ through an explicit transpose of W (a strided read of W is slower).
 */
export function linear(g: GraphBuilder, x: GraphNode, W: GraphNode, bias: GraphNode | null): GraphNode {
  if (x.cols !== W.rows) throw new Error(`fused graph: a Linear of fan-in ${W.rows} after ${x.cols} features`);
  const out = g.value(x.rows, W.cols);
  const wT = g.training ? g.scratch(W.cols, W.rows) : null;
  const parts = g.training ? kPartials(x.rows, g.threads) : 0; // dW split by the batch's rows
  const partials = parts > 0 ? g.scratch(parts, W.rows * W.cols + (bias ? W.cols : 0)) : null;
  const [dOut, dW, dx, db] = [gradOf(out), gradOf(W), gradOf(x), bias && gradOf(bias)];
  g.push({
    name: "linear",
    forward: (k) => k.matmul(out, x, W, 0, bias),
    backward: (k, b) => {
      k.matmulAtB(dW, x, dOut, b.acc(W), partials, bias && db ? { db, acc: b.acc(bias) } : null);
      if (x.grad < 0 || !wT) return;
      k.transpose(wT, W);
      k.matmul(dx, dOut, wT, b.acc(x));
    },
  });
  return out;
}

/** a + b, the same shape (the residual stream). */
export function add(g: GraphBuilder, a: GraphNode, c: GraphNode): GraphNode {
  if (a.rows !== c.rows || a.cols !== c.cols) throw new Error("fused graph: add of two shapes");
  const out = g.value(a.rows, a.cols);
  const [da, dc, dOut] = [gradOf(a), gradOf(c), gradOf(out)];
  g.push({
    name: "add",
    forward: (k) => k.addForward(out, a, c),
    backward: (k, b) => {
      k.addGrad(da, dOut, b.acc(a));
      k.addGrad(dc, dOut, b.acc(c));
    },
  });
  return out;
}

/** Elementwise tanh. */
export function tanh(g: GraphBuilder, x: GraphNode): GraphNode {
  const out = g.value(x.rows, x.cols);
  const [dx, dOut] = [gradOf(x), gradOf(out)];
  g.push({
    name: "tanh",
    forward: (k) => k.tanhForward(out, x),
    backward: (k, b) => {
      if (!b.acc(x)) return k.tanhBackward(dx, out, dOut);
      // x's gradient is written already: this op's share goes through out's gradient (read by no one else) first
      k.tanhBackward(dOut, out, dOut);
      k.addGrad(dx, dOut, 1);
    },
  });
  return out;
}

/** makemore.py's CausalBoW over x [B·T, D]: position t gets the mean of positions 0..t of its line. */
export function causalMean(g: GraphBuilder, x: GraphNode): GraphNode {
  const out = g.value(x.rows, x.cols);
  const tmp = g.training ? g.scratch(g.threads, x.cols) : mat(0, g.threads, x.cols); // a row per thread
  const [dx, dOut] = [gradOf(x), gradOf(out)];
  g.push({
    name: "causal mean",
    forward: (k) => k.causalMeanForward(out, x, g.time),
    backward: (k, b) => k.causalMeanBackward(dx, dOut, g.time, b.acc(x), tmp),
  });
  return out;
}

/**
 * Lecture 5's FlattenConsecutive(n) over x [B·P, C] (P positions per
 * example): [B·P/n, C·n], n consecutive rows side by side. On the contiguous
 * buffer that is a reshape, so it records nothing: the ops after it read the
 * same values and write the same gradient. Without n, every position of an
 * example goes into one row.
 */
export function flatten(g: GraphBuilder, x: GraphNode, n = x.rows / g.batch): GraphNode {
  if (!Number.isInteger(n) || n < 1 || x.rows % n !== 0 || (x.rows / n) % g.batch !== 0) {
    throw new Error(`fused graph: cannot merge ${x.rows / g.batch} rows per example in groups of ${n}`);
  }
  return g.view(x, x.rows / n, x.cols * n);
}
