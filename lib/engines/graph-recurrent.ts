/**
 * makemore.py's recurrences as fused graph ops: an `RNNCell` or a `GRUCell`
 * run over every position of B lines, forward and back through time (BPTT),
 * with the elementwise part of each step in one kernel (wasm/recurrent.ts)
 * and the products of the hidden state in gemm calls between them.
 *
 * Every gate is a Linear over [x_t, h_{t-1}] with W [E + H, H] (x rows
 * first), so a gate is x_t W_x + h_{t-1} W_h + b: the x halves of all gates
 * at all steps are one product before the loop ({@link gateInputs}) and a step
 * only multiplies the [B, H] hidden state ({@link recurrence}).
 *
 * Inside the recurrence everything is time-major (row t·B + b): the B rows of
 * a step are contiguous, for the step's products and for the weight
 * gradients' products over all steps at once. The embeddings come in
 * time-major ({@link tokensByTime}); the hidden states go out batch-major
 * (row b·T + t), the order of the logits.
 *
 * @module
 */
import type { GraphBuilder, GraphNode } from "./graph";
import type { KernelExports } from "./kernels";

/** One gate's Linear over [x, h]: W [E + H, H], b [1, H]. */
export interface GateParams {
  W: GraphNode;
  b: GraphNode;
}

/** Which cell: makemore.py's RNNCell (one gate) or GRUCell (z, r, h̄ in that order). */
export type Cell = "rnn" | "gru";

/** The graph's tokens time-major: int32 [T·B], id of line b at step t at t·B + b (byte offset). */
export function tokensByTime(g: GraphBuilder): number {
  const { batch: B, time: T } = g;
  const ids = g.scratch(B * T);
  // the transpose moves 4-byte words without arithmetic: int32 ids pass through unchanged
  g.push({ name: "tokens by time", forward: (k) => k.transpose(B, T, g.tokens, ids) });
  return ids;
}

/**
 * The x halves of every gate with their biases, x [T·B, E] · W_x + b, side by
 * side: [T·B, G·H] (G gates). Its gradient flows back to x only; the weights'
 * and biases' gradients come from {@link recurrence}, which owns them.
 */
export function gateInputs(g: GraphBuilder, x: GraphNode, gates: readonly GateParams[]): GraphNode {
  const [M, E] = [x.rows, x.cols];
  const H = gates[0]?.b.cols ?? 0;
  const GH = gates.length * H;
  for (const { W, b } of gates) {
    if (W.rows !== E + H || W.cols !== H || b.cols !== H) throw new Error(`fused graph: a gate [${W.rows}, ${W.cols}]`);
  }
  const out = g.value(M, GH);
  const wT = g.training ? g.scratch(GH * E) : 0; // the x rows of every gate transposed: [G·H, E]
  g.push({
    name: "gate inputs",
    forward: (k) => {
      gates.forEach(({ W, b }, i) => k.gemm(M, H, E, x.at, x.ld, 1, W.at, H, out.at + i * H * 4, GH, 0, b.at));
    },
    backward: (k, bw) => {
      if (x.grad < 0) return;
      gates.forEach(({ W }, i) => k.transpose(E, H, W.at, wT + i * H * E * 4));
      k.gemm(M, E, GH, out.grad, GH, 1, wT, E, x.grad, x.ld, bw.acc(x), 0); // dx = dA · W_xᵀ
    },
  });
  return out;
}

/** Buffers of a recurrence besides its input and output (byte offsets; 0 when not needed). */
interface Loop {
  B: number;
  T: number;
  E: number;
  H: number;
  /** gate inputs [T·B, G·H]: pre-activations, made activations in place step by step */
  A: GraphNode;
  /** the x the gate inputs were made from [T·B, E] (for the weights' gradients) */
  x: GraphNode;
  /** hidden states, time-major: the start state at block 0, h_t at block t + 1: [(T + 1)·B, H] */
  hs: number;
  /** the batch-major hidden states [B·T, H] (the op's output) */
  out: GraphNode;
  /** GRU: r ∘ h_{t-1} at every step, time-major [T·B, H] */
  rh: number;
  /** the hidden rows of the gates' weights packed (GRU: z | r, [H, 2H]), for the step products */
  wh: number;
  /** their transposes ([G'·H, H]) for the backward products */
  whT: number;
  /** the gradient of the gate pre-activations [T·B, G·H] (the gate inputs' gradient) */
  dA: number;
  /** the gradient reaching h_{t-1}, [B, H] */
  dn: number;
  /** GRU: the gradient of r ∘ h_{t-1}, [B, H] */
  drh: number;
  /** column sums of dA [G·H] */
  dbias: number;
}

/**
 * The recurrence over the gate inputs A [T·B, G·H] (from {@link gateInputs})
 * from the learned start state [1, H] (every line starts there): the hidden
 * states [B·T, H], batch-major. Backward writes the gradients of the start
 * state, of every gate's weight (x rows from `x`, hidden rows from the states)
 * and bias, and of A.
 */
export function recurrence(
  g: GraphBuilder,
  cell: Cell,
  A: GraphNode,
  x: GraphNode,
  start: GraphNode,
  gates: readonly GateParams[],
): GraphNode {
  const { batch: B, time: T } = g;
  const [E, H] = [x.cols, start.cols];
  if (gates.length !== (cell === "gru" ? 3 : 1) || A.cols !== gates.length * H || A.rows !== T * B) {
    throw new Error(`fused graph: a ${cell} recurrence over [${A.rows}, ${A.cols}]`);
  }
  const GH = A.cols;
  const train = g.training;
  const hWidth = cell === "gru" ? 2 * H : H; // hidden products per step before h̄'s: z and r together
  const loop: Loop = {
    B,
    T,
    E,
    H,
    A,
    x,
    hs: g.scratch((T + 1) * B * H),
    out: g.value(B * T, H),
    rh: cell === "gru" ? g.scratch(T * B * H) : 0,
    wh: cell === "gru" ? g.scratch(H * hWidth) : 0,
    whT: train ? g.scratch(GH * H) : 0,
    dA: A.grad,
    dn: train ? g.scratch(B * H) : 0,
    drh: train && cell === "gru" ? g.scratch(B * H) : 0,
    dbias: train ? g.scratch(GH) : 0,
  };
  const [fwd, bwd] = cell === "gru" ? [gruForward, gruBackward] : [rnnForward, rnnBackward];
  g.push({
    name: cell,
    forward: (k) => {
      k.broadcastRow(B, H, start.at, loop.hs);
      fwd(k, loop, gates);
    },
    backward: (k, b) => {
      if (b.acc(A)) throw new Error("fused graph: gate inputs read twice");
      k.zero(B * H, loop.dn);
      bwd(k, loop, gates);
      k.colSum(B, H, loop.dn, start.grad, b.acc(start)); // the start state is every line's h_{-1}
      weightGrads(k, loop, gates, cell, (n) => b.acc(n));
    },
  });
  return loop.out;
}

/** Byte offset of float `i` after `at`. */
const f = (at: number, i: number): number => at + i * 4;

/** The hidden rows of a gate's W [E + H, H]: [H, H] from row E. */
const hidden = (W: GraphNode, E: number): number => f(W.at, E * W.cols);

/** RNN forward: h_t = tanh(A_t + h_{t-1} W_h), step by step. */
function rnnForward(k: KernelExports, l: Loop, [gate]: readonly GateParams[]): void {
  const { B, T, E, H } = l;
  const wh = hidden(gate!.W, E);
  for (let t = 0; t < T; t++) {
    const [At, hp] = [f(l.A.at, t * B * H), f(l.hs, t * B * H)];
    k.gemm(B, H, H, hp, H, 1, wh, H, At, H, 1, 0);
    k.rnnForwardStep(B, H, At, f(hp, B * H), f(l.out.at, t * H), T * H);
  }
}

/** RNN backward through time: dA_t = (dh_t + dn) (1 - h_t²), dn = dA_t W_hᵀ. */
function rnnBackward(k: KernelExports, l: Loop, [gate]: readonly GateParams[]): void {
  const { B, T, E, H } = l;
  k.transpose(H, H, hidden(gate!.W, E), l.whT);
  for (let t = T - 1; t >= 0; t--) {
    const dAt = f(l.dA, t * B * H);
    k.rnnBackwardStep(B, H, f(l.hs, (t + 1) * B * H), f(l.out.grad, t * H), T * H, l.dn, dAt);
    k.gemm(B, H, H, dAt, H, 1, l.whT, H, l.dn, H, 0, 0);
  }
}

/**
 * GRU forward, step by step: A_t's z and r columns += h_{t-1} [W_z | W_r]_h
 * (one product), σ; then h̄'s += (r ∘ h_{t-1}) W_h̄_h, tanh, and the blend.
 */
function gruForward(k: KernelExports, l: Loop, [z, r, c]: readonly GateParams[]): void {
  const { B, T, E, H } = l;
  const GH = 3 * H;
  k.copyRows(H, H, hidden(z!.W, E), H, l.wh, 2 * H);
  k.copyRows(H, H, hidden(r!.W, E), H, f(l.wh, H), 2 * H);
  const wc = hidden(c!.W, E);
  for (let t = 0; t < T; t++) {
    const [At, hp, rh] = [f(l.A.at, t * B * GH), f(l.hs, t * B * H), f(l.rh, t * B * H)];
    k.gemm(B, 2 * H, H, hp, H, 1, l.wh, 2 * H, At, GH, 1, 0);
    k.gruGatesStep(B, H, At, hp, rh);
    k.gemm(B, H, H, rh, H, 1, wc, H, f(At, 2 * H), GH, 1, 0);
    k.gruForwardStep(B, H, At, hp, f(hp, B * H), f(l.out.at, t * H), T * H);
  }
}

/** GRU backward through time, the forward's steps in reverse (see wasm/recurrent.ts). */
function gruBackward(k: KernelExports, l: Loop, [, , c]: readonly GateParams[]): void {
  const { B, T, E, H } = l;
  const GH = 3 * H;
  const [wzrT, wcT] = [l.whT, f(l.whT, 2 * H * H)]; // [2H, H] and [H, H]
  k.transpose(H, 2 * H, l.wh, wzrT);
  k.transpose(H, H, hidden(c!.W, E), wcT);
  for (let t = T - 1; t >= 0; t--) {
    const [At, dAt, hp] = [f(l.A.at, t * B * GH), f(l.dA, t * B * GH), f(l.hs, t * B * H)];
    k.gruBackwardStep(B, H, At, hp, f(l.out.grad, t * H), T * H, l.dn, dAt);
    k.gemm(B, H, H, f(dAt, 2 * H), GH, 1, wcT, H, l.drh, H, 0, 0); // d(r ∘ h) = dA_h̄ W_h̄ᵀ
    k.gruResetBackward(B, H, At, hp, l.drh, l.dn, dAt);
    k.gemm(B, H, 2 * H, dAt, GH, 1, wzrT, H, l.dn, H, 1, 0); // + [dA_z, dA_r] [W_z | W_r]_hᵀ
  }
}

/**
 * Every gate's weight and bias gradients from dA [T·B, G·H], over all steps at
 * once: x rows xᵀ dA_i, hidden rows h_{t-1}ᵀ dA_i (h̄'s: (r ∘ h_{t-1})ᵀ dA_h̄),
 * bias Σ dA_i.
 */
function weightGrads(
  k: KernelExports,
  l: Loop,
  gates: readonly GateParams[],
  cell: Cell,
  acc: (n: GraphNode) => 0 | 1,
): void {
  const { B, T, E, H } = l;
  const [M, GH] = [T * B, gates.length * H];
  k.colSum(M, GH, l.dA, l.dbias, 0);
  gates.forEach(({ W, b }, i) => {
    const dAi = f(l.dA, i * H);
    const a = acc(W); // both row blocks of W share one first write
    k.gemm(E, H, M, l.x.at, 1, l.x.ld, dAi, GH, W.grad, H, a, 0);
    const states = cell === "gru" && i === 2 ? l.rh : l.hs; // blocks 0..T-1 of hs are h_{t-1}
    k.gemm(H, H, M, states, 1, H, dAi, GH, f(W.grad, E * H), H, a, 0);
    k.addGrad(H, f(l.dbias, i * H), b.grad, acc(b));
  });
}
