/**
 * makemore.py's recurrences as fused graph ops: an `RNNCell` or a `GRUCell`
 * run over every position of B lines, forward and back through time (BPTT),
 * with the elementwise part of each step in one kernel (wasm/recurrent.ts)
 * and the products of the hidden state in gemm calls between them.
 *
 * Every gate is a Linear over [x_t, h_{t-1}] with W [E + H, H] (x rows
 * first), so a gate is x_t W_x + h_{t-1} W_h + b, and x_t is a row of the
 * token embedding: the x halves of all gates at all steps are look-ups in
 * table · W_x [V, H], and a step only multiplies the [B, H] hidden state.
 *
 * Inside the recurrence everything is time-major (row t·B + b): the B rows of
 * a step are contiguous, for the step's products and for the weight
 * gradients' products over all steps at once. The tokens come in
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

/** Buffers of a recurrence (byte offsets; 0 when not needed). */
interface Loop {
  B: number;
  T: number;
  E: number;
  H: number;
  /** the token embedding [V, E] */
  table: GraphNode;
  /** the tokens time-major, int32 [T·B] */
  ids: number;
  /** the table's x halves of every gate with their biases: table · [W_x…] + [b…], [V, G·H] */
  P: number;
  /** gate inputs [T·B, G·H]: rows of P, then pre-activations and activations in place, step by step */
  A: number;
  /** hidden states, time-major: the start state at block 0, h_t at block t + 1: [(T + 1)·B, H] */
  hs: number;
  /** the batch-major hidden states [B·T, H] (the op's output) */
  out: GraphNode;
  /** the output's gradient time-major [T·B, H] */
  dH: number;
  /** GRU: r ∘ h_{t-1} at every step, time-major [T·B, H] */
  rh: number;
  /** the hidden rows of the gates' weights packed (GRU: z | r, [H, 2H]), for the step products */
  wh: number;
  /** their transposes ([G'·H, H]) for the backward products */
  whT: number;
  /** the x rows of every gate transposed, [G·H, E] */
  wxT: number;
  /** the gradient of the gate pre-activations [T·B, G·H] */
  dA: number;
  /** the gradient of P [V, G·H] */
  dP: number;
  /** the gradient reaching h_{t-1}, [B, H] */
  dn: number;
  /** GRU: the gradient of r ∘ h_{t-1}, [B, H] */
  drh: number;
  /** column sums of dP [G·H] */
  dbias: number;
}

/**
 * The recurrence over the tokens (`ids`, time-major from {@link tokensByTime})
 * embedded by `table` [V, E], from the learned start state [1, H] (every line
 * starts there): the hidden states [B·T, H], batch-major. An embedding then
 * a gate's x half is a look-up in table · W_x [V, H], so the x halves of all
 * gates at all steps are V rows of products and B·T look-ups. Backward
 * writes the gradients of the table, the start state, and every gate's
 * weight (x rows through table · W_x, hidden rows from the states) and bias.
 */
export function recurrence(
  g: GraphBuilder,
  cell: Cell,
  table: GraphNode,
  ids: number,
  start: GraphNode,
  gates: readonly GateParams[],
): GraphNode {
  const { batch: B, time: T } = g;
  const [V, E, H] = [table.rows, table.cols, start.cols];
  if (gates.length !== (cell === "gru" ? 3 : 1)) throw new Error(`fused graph: a ${cell} of ${gates.length} gates`);
  for (const { W, b } of gates) {
    if (W.rows !== E + H || W.cols !== H || b.cols !== H) throw new Error(`fused graph: a gate [${W.rows}, ${W.cols}]`);
  }
  const GH = gates.length * H;
  const train = g.training;
  const need = (n: number, yes = train): number => (yes ? g.scratch(n) : 0);
  const loop: Loop = {
    ...{ B, T, E, H, table, ids },
    P: g.scratch(V * GH),
    A: g.scratch(T * B * GH),
    hs: g.scratch((T + 1) * B * H),
    out: g.value(B * T, H),
    rh: need(T * B * H, cell === "gru"),
    wh: need(2 * H * H, cell === "gru"),
    whT: need(GH * H),
    wxT: need(GH * E),
    dH: need(T * B * H),
    dA: need(T * B * GH),
    dP: need(V * GH),
    dn: need(B * H),
    drh: need(B * H, train && cell === "gru"),
    dbias: need(GH),
  };
  const [fwd, bwd] = cell === "gru" ? [gruForward, gruBackward] : [rnnForward, rnnBackward];
  g.push({
    name: cell,
    forward: (k) => {
      gates.forEach(({ W, b }, i) => k.gemm(V, H, E, table.at, E, 1, W.at, H, f(loop.P, i * H), GH, 0, b.at));
      k.broadcastRow(B, H, start.at, loop.hs);
      fwd(k, loop, gates);
      k.permuteRows(T, B, H, f(loop.hs, B * H), loop.out.at); // h_t of line b to row b·T + t
    },
    backward: (k, b) => {
      k.permuteRows(B, T, H, loop.out.grad, loop.dH); // and back: the steps read their B rows together
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
    const [At, hp] = [f(l.A, t * B * H), f(l.hs, t * B * H)];
    k.gatherSum(B, 1, H, f(l.ids, t * B), l.P, 0, At); // the step's gate inputs, just before their use
    k.gemm(B, H, H, hp, H, 1, wh, H, At, H, 1, 0);
    k.rnnForwardStep(B, H, At, f(hp, B * H));
  }
}

/** RNN backward through time: dA_t = (dh_t + dn) (1 - h_t²), dn = dA_t W_hᵀ. */
function rnnBackward(k: KernelExports, l: Loop, [gate]: readonly GateParams[]): void {
  const { B, T, E, H } = l;
  k.transpose(H, H, hidden(gate!.W, E), l.whT);
  for (let t = T - 1; t >= 0; t--) {
    const dAt = f(l.dA, t * B * H);
    k.rnnBackwardStep(B, H, f(l.hs, (t + 1) * B * H), f(l.dH, t * B * H), H, l.dn, dAt);
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
    const [At, hp, rh] = [f(l.A, t * B * GH), f(l.hs, t * B * H), f(l.rh, t * B * H)];
    k.gatherSum(B, 1, GH, f(l.ids, t * B), l.P, 0, At); // the step's gate inputs, just before their use
    k.gemm(B, 2 * H, H, hp, H, 1, l.wh, 2 * H, At, GH, 1, 0);
    k.gruGatesStep(B, H, At, hp, rh);
    k.gemm(B, H, H, rh, H, 1, wc, H, f(At, 2 * H), GH, 1, 0);
    k.gruForwardStep(B, H, At, hp, f(hp, B * H));
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
    const [At, dAt, hp] = [f(l.A, t * B * GH), f(l.dA, t * B * GH), f(l.hs, t * B * H)];
    k.gruBackwardStep(B, H, At, hp, f(l.dH, t * B * H), H, l.dn, dAt);
    k.gemm(B, H, H, f(dAt, 2 * H), GH, 1, wcT, H, l.drh, H, 0, 0); // d(r ∘ h) = dA_h̄ W_h̄ᵀ
    k.gruResetBackward(B, H, At, hp, l.drh, l.dn, dAt);
    k.gemm(B, H, 2 * H, dAt, GH, 1, wzrT, H, l.dn, H, 1, 0); // + [dA_z, dA_r] [W_z | W_r]_hᵀ
  }
}

/**
 * Every gate's weight and bias gradients from dA [T·B, G·H], over all steps at
 * once: hidden rows h_{t-1}ᵀ dA_i (h̄'s: (r ∘ h_{t-1})ᵀ dA_h̄); then dA summed
 * into the table rows the steps read (dP [V, G·H]) gives the x rows tableᵀ dP_i,
 * the biases Σ dP_i and the table's gradient dP W_xᵀ.
 */
function weightGrads(
  k: KernelExports,
  l: Loop,
  gates: readonly GateParams[],
  cell: Cell,
  acc: (n: GraphNode) => 0 | 1,
): void {
  const { B, T, E, H, table } = l;
  const [M, V, GH] = [T * B, table.rows, gates.length * H];
  k.scatterRows(M, 1, GH, V, l.ids, l.dA, l.dP);
  k.colSum(V, GH, l.dP, l.dbias, 0);
  gates.forEach(({ W, b }, i) => {
    const a = acc(W); // both row blocks of W share one first write
    const states = cell === "gru" && i === 2 ? l.rh : l.hs; // blocks 0..T-1 of hs are h_{t-1}
    k.gemm(H, H, M, states, 1, H, f(l.dA, i * H), GH, f(W.grad, E * H), H, a, 0);
    k.gemm(E, H, V, table.at, 1, E, f(l.dP, i * H), GH, W.grad, H, a, 0);
    k.addGrad(H, f(l.dbias, i * H), b.grad, acc(b));
    k.transpose(E, H, W.at, f(l.wxT, i * H * E));
  });
  if (table.grad >= 0) k.gemm(V, E, GH, l.dP, GH, 1, l.wxT, E, table.grad, E, acc(table), 0);
}
