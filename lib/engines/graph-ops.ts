/**
 * The ops every fused graph uses: embeddings, position embeddings, `nn.Linear`
 * over rows, the residual addition, tanh and the causal bag of words. Each
 * records its forward and backward kernel calls on the builder and returns
 * its output node (see lib/engines/graph.ts).
 *
 * @module
 */
import type { GraphBuilder, GraphNode } from "./graph";

/** Rows of `table` [V, D] picked by the int32 ids at `ids` (`count` of them; default the graph's tokens): [count, D]. */
export function embed(g: GraphBuilder, table: GraphNode, ids = g.tokens, count = g.batch * g.time): GraphNode {
  const [V, D] = [table.rows, table.cols];
  const out = g.value(count, D);
  g.push({
    name: "embedding",
    forward: (k) => k.embedForward(count, 1, D, ids, table.at, out.at),
    backward: (k, b) => {
      // the scatter-add writes the whole table's gradient (zeros first)
      if (b.acc(table)) throw new Error("fused graph: an embedding table read twice");
      k.embedBackward(count, 1, D, V, ids, out.grad, table.grad);
    },
  });
  return out;
}

/** x [B·T, D] plus the first T rows of the position table `pos` at every line. */
export function addPositions(g: GraphBuilder, x: GraphNode, pos: GraphNode): GraphNode {
  const { batch: B, time: T } = g;
  const D = x.cols;
  if (pos.cols !== D || pos.rows < T) throw new Error(`fused graph: positions [${pos.rows}, ${pos.cols}] for T ${T}`);
  const out = g.value(B * T, D);
  g.push({
    name: "positions",
    forward: (k) => k.addPositions(B, T, D, x.at, pos.at, out.at),
    backward: (k, b) => {
      k.addGrad(B * T * D, out.grad, x.grad, b.acc(x));
      k.colSum(B, T * D, out.grad, pos.grad, b.acc(pos)); // Σ over lines, position by position
    },
  });
  return out;
}

/**
 * `nn.Linear` at every row: x [M, fanIn] · W [fanIn, fanOut] (+ b). Backward: dW = xᵀ dy, db = Σ dy and
 * dx = dy Wᵀ through an explicit transpose of W (a strided read of W is slower).
 */
export function linear(g: GraphBuilder, x: GraphNode, W: GraphNode, bias: GraphNode | null): GraphNode {
  const [M, fanIn, fanOut] = [x.rows, W.rows, W.cols];
  if (x.cols !== fanIn) throw new Error(`fused graph: a Linear of fan-in ${fanIn} after ${x.cols} features`);
  const out = g.value(M, fanOut);
  const wT = g.training ? g.scratch(fanIn * fanOut) : 0;
  g.push({
    name: "linear",
    forward: (k) => k.gemm(M, fanOut, fanIn, x.at, fanIn, 1, W.at, fanOut, out.at, fanOut, 0, bias ? bias.at : 0),
    backward: (k, b) => {
      k.gemm(fanIn, fanOut, M, x.at, 1, fanIn, out.grad, fanOut, W.grad, fanOut, b.acc(W), 0);
      if (bias) k.colSum(M, fanOut, out.grad, bias.grad, b.acc(bias));
      if (x.grad < 0) return;
      k.transpose(fanIn, fanOut, W.at, wT);
      k.gemm(M, fanIn, fanOut, out.grad, fanOut, 1, wT, fanIn, x.grad, fanIn, b.acc(x), 0);
    },
  });
  return out;
}

/** a + b, the same shape (the residual stream). */
export function add(g: GraphBuilder, a: GraphNode, c: GraphNode): GraphNode {
  if (a.rows !== c.rows || a.cols !== c.cols) throw new Error("fused graph: add of two shapes");
  const n = a.rows * a.cols;
  const out = g.value(a.rows, a.cols);
  g.push({
    name: "add",
    forward: (k) => k.addForward(n, a.at, c.at, out.at),
    backward: (k, b) => {
      k.addGrad(n, out.grad, a.grad, b.acc(a));
      k.addGrad(n, out.grad, c.grad, b.acc(c));
    },
  });
  return out;
}

/** Elementwise tanh. */
export function tanh(g: GraphBuilder, x: GraphNode): GraphNode {
  const n = x.rows * x.cols;
  const out = g.value(x.rows, x.cols);
  const tmp = g.training ? g.scratch(n) : 0;
  g.push({
    name: "tanh",
    forward: (k) => k.tanhForward(n, x.at, out.at),
    backward: (k, b) => {
      if (!b.acc(x)) return k.tanhBackward(n, out.at, out.grad, x.grad);
      k.tanhBackward(n, out.at, out.grad, tmp);
      k.addGrad(n, tmp, x.grad, 1);
    },
  });
  return out;
}

/** makemore.py's CausalBoW over x [B·T, D]: position t gets the mean of positions 0..t of its line. */
export function causalMean(g: GraphBuilder, x: GraphNode): GraphNode {
  const { batch: B, time: T } = g;
  const D = x.cols;
  const out = g.value(B * T, D);
  const tmp = g.training ? g.scratch(D) : 0;
  g.push({
    name: "causal mean",
    forward: (k) => k.causalMeanForward(B, T, D, x.at, out.at),
    backward: (k, b) => k.causalMeanBackward(B, T, D, out.grad, x.grad, b.acc(x), tmp),
  });
  return out;
}
