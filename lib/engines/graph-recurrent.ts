/**
 * makemore.py's recurrences as one graph op: an `RNNCell` or a `GRUCell`
 * run over every position of B lines, forward and back through time (BPTT),
 * with the elementwise part of each step in one kernel (wasm/recurrent.ts)
 * and the products of the hidden state between them.
 *
 * Every gate is a Linear over [x_t, h_{t-1}] with W [E + H, H] (x rows
 * first), so a gate is x_t W_x + h_{t-1} W_h + b, and x_t is a row of the
 * token embedding: the x halves of all gates at all steps are look-ups in
 * table · W_x [V, H], and a step only multiplies the [B, H] hidden state.
 *
 * Inside the recurrence everything is time-major (row t·B + b): the B rows of
 * a step are contiguous, for the step's products and for the weight
 * gradients' products over all steps at once. The tokens come in
 * time-major; the hidden states go out batch-major (row b·T + t), the order
 * of the logits.
 *
 * @module
 */
import type { Cell } from "../nn/ops-interface";
import { gradOf, type GraphBuilder, type GraphNode } from "./graph";
import * as kc from "./kernel-calls";
import type { KernelExports } from "./kernels";

/** One gate's Linear over [x, h]: W [E + H, H], b [1, H]. */
export interface GateParams {
  W: GraphNode;
  b: GraphNode;
}

/** Buffers of a recurrence (time-major). */
interface Loop {
  B: number;
  T: number;
  E: number;
  H: number;
  /** the token embedding [V, E] */
  table: GraphNode;
  /** the tokens time-major, int32 [T·B, 1] */
  ids: kc.Mat;
  /** the table's x halves of every gate with their biases: table · [W_x…] + [b…], [V, G·H] */
  P: kc.Mat;
  /** gate inputs [T·B, G·H]: rows of P, then pre-activations and activations in place, step by step */
  A: kc.Mat;
  /** hidden states: the start state at block 0, h_t at block t + 1: [(T + 1)·B, H] */
  hs: kc.Mat;
  /** the batch-major hidden states [B·T, H] (the op's output) */
  out: GraphNode;
  /** the output's gradient time-major [T·B, H] */
  dH: kc.Mat;
  /** GRU: r ∘ h_{t-1} at every step [T·B, H] */
  rh: kc.Mat;
  /** the hidden rows of the gates' weights packed (GRU: z | r, [H, 2H]), for the step products */
  wh: kc.Mat;
  /** their transposes ([G'·H, H]) for the backward products */
  whT: kc.Mat;
  /** the x rows of every gate transposed, [G·H, E] */
  wxT: kc.Mat;
  /** the gradient of the gate pre-activations [T·B, G·H] */
  dA: kc.Mat;
  /** the gradient of P [V, G·H] */
  dP: kc.Mat;
  /** the gradient reaching h_{t-1}, [B, H] */
  dn: kc.Mat;
  /** GRU: the gradient of r ∘ h_{t-1}, [B, H] */
  drh: kc.Mat;
  /** column sums of dP [1, G·H] */
  dbias: kc.Mat;
}

/**
 * The recurrence over the graph's tokens embedded by `table` [V, E], from the
 * learned start state [1, H] (every line starts there): the hidden states
 * [B·T, H], batch-major. Backward writes the gradients of the table, the
 * start state, and every gate's weight (x rows through table · W_x, hidden
 * rows from the states) and bias.
 */
export function recurrence(
  g: GraphBuilder,
  cell: Cell,
  table: GraphNode,
  start: GraphNode,
  gates: readonly GateParams[],
): GraphNode {
  const [E, H] = [table.cols, start.cols];
  if (gates.length !== (cell === "gru" ? 3 : 1)) throw new Error(`fused graph: a ${cell} of ${gates.length} gates`);
  for (const { W, b } of gates) {
    if (W.rows !== E + H || W.cols !== H || b.cols !== H) throw new Error(`fused graph: a gate [${W.rows}, ${W.cols}]`);
  }
  const l = layOutLoop(g, cell, table, gates.length * H, H);
  const [fwd, bwd] = cell === "gru" ? [gruForward, gruBackward] : [rnnForward, rnnBackward];
  g.push({ name: "tokens by time", forward: (k) => kc.transpose(k, l.ids, g.tokens) }); // int32 ids pass unchanged
  g.push({
    name: cell,
    forward: (k) => {
      gates.forEach(({ W, b }, i) => kc.matmul(k, kc.block(l.P, 0, i * H, l.P.rows, H), table, xRows(W, E), { bias: b })); // prettier-ignore
      kc.broadcastRow(k, step(l.hs, 0, l.B), start);
      fwd(k, l, gates);
      kc.permuteRows(k, l.out, kc.block(l.hs, l.B, 0, l.T * l.B, H), l.T); // h_t of line b to row b·T + t
    },
    backward: (k, b) => {
      kc.permuteRows(k, l.dH, gradOf(l.out), l.B); // and back: the steps read their B rows together
      kc.zero(k, l.dn);
      bwd(k, l, gates);
      kc.colSum(k, gradOf(start), l.dn, b.acc(start)); // the start state is every line's h_{-1}
      weightGrads(k, l, gates, cell, (n) => b.acc(n));
    },
  });
  return l.out;
}

/** The buffers of a recurrence of `cell` with G·H gate columns. */
function layOutLoop(g: GraphBuilder, cell: Cell, table: GraphNode, GH: number, H: number): Loop {
  const { batch: B, time: T } = g;
  const [V, E] = [table.rows, table.cols];
  const train = g.training;
  const need = (rows: number, cols: number, yes = train): kc.Mat => (yes ? g.scratch(rows, cols) : kc.mat(0, rows, cols)); // prettier-ignore
  const gru = cell === "gru";
  return {
    ...{ B, T, E, H, table },
    ids: g.scratch(T * B, 1),
    P: g.scratch(V, GH),
    A: g.scratch(T * B, GH),
    hs: g.scratch((T + 1) * B, H),
    out: g.value(B * T, H),
    rh: need(T * B, H, gru),
    wh: need(H, 2 * H, gru),
    whT: need(GH, H),
    wxT: need(GH, E),
    dH: need(T * B, H),
    dA: need(T * B, GH),
    dP: need(V, GH),
    dn: need(B, H),
    drh: need(B, H, train && gru),
    dbias: need(1, GH),
  };
}

/** The x rows of a gate's W [E + H, H]: [E, H]. */
const xRows = (W: GraphNode, E: number): kc.Mat => kc.block(W, 0, 0, E, W.cols);

/** The hidden rows of a gate's W [E + H, H]: [H, H] from row E. */
const hRows = (W: GraphNode, E: number): kc.Mat => kc.block(W, E, 0, W.cols, W.cols);

/** Step t's B rows of a time-major matrix (all its columns). */
const step = (m: kc.Mat, t: number, B: number): kc.Mat => kc.block(m, t * B, 0, B, m.cols);

/** RNN forward: h_t = tanh(A_t + h_{t-1} W_h), step by step. */
function rnnForward(k: KernelExports, l: Loop, [gate]: readonly GateParams[]): void {
  const wh = hRows(gate!.W, l.E);
  for (let t = 0; t < l.T; t++) {
    const At = step(l.A, t, l.B);
    kc.gatherSum(k, At, l.P, step(l.ids, t, l.B), null); // the step's gate inputs, just before their use
    kc.matmul(k, At, step(l.hs, t, l.B), wh, { acc: 1 });
    kc.rnnForwardStep(k, step(l.hs, t + 1, l.B), At);
  }
}

/** RNN backward through time: dA_t = (dh_t + dn) (1 - h_t²), dn = dA_t W_hᵀ. */
function rnnBackward(k: KernelExports, l: Loop, [gate]: readonly GateParams[]): void {
  kc.transpose(k, l.whT, hRows(gate!.W, l.E));
  for (let t = l.T - 1; t >= 0; t--) {
    const dAt = step(l.dA, t, l.B);
    kc.rnnBackwardStep(k, dAt, step(l.hs, t + 1, l.B), step(l.dH, t, l.B), l.dn);
    kc.matmul(k, l.dn, dAt, l.whT);
  }
}

/**
 * GRU forward, step by step: A_t's z and r columns += h_{t-1} [W_z | W_r]_h
 * (one product), σ; then h̄'s += (r ∘ h_{t-1}) W_h̄_h, tanh, and the blend.
 */
function gruForward(k: KernelExports, l: Loop, [z, r, c]: readonly GateParams[]): void {
  const { B, E, H } = l;
  kc.copyRows(k, kc.block(l.wh, 0, 0, H, H), hRows(z!.W, E));
  kc.copyRows(k, kc.block(l.wh, 0, H, H, H), hRows(r!.W, E));
  const wc = hRows(c!.W, E);
  for (let t = 0; t < l.T; t++) {
    const [At, hp, rh] = [step(l.A, t, B), step(l.hs, t, B), step(l.rh, t, B)];
    kc.gatherSum(k, At, l.P, step(l.ids, t, B), null); // the step's gate inputs, just before their use
    kc.matmul(k, kc.block(At, 0, 0, B, 2 * H), hp, l.wh, { acc: 1 });
    kc.gruGatesStep(k, At, hp, rh);
    kc.matmul(k, kc.block(At, 0, 2 * H, B, H), rh, wc, { acc: 1 });
    kc.gruForwardStep(k, step(l.hs, t + 1, B), At, hp);
  }
}

/** GRU backward through time, the forward's steps in reverse (see wasm/recurrent.ts). */
function gruBackward(k: KernelExports, l: Loop, [, , c]: readonly GateParams[]): void {
  const { B, E, H } = l;
  const [wzrT, wcT] = [kc.block(l.whT, 0, 0, 2 * H, H), kc.block(l.whT, 2 * H, 0, H, H)];
  kc.transpose(k, wzrT, l.wh);
  kc.transpose(k, wcT, hRows(c!.W, E));
  for (let t = l.T - 1; t >= 0; t--) {
    const [At, dAt, hp] = [step(l.A, t, B), step(l.dA, t, B), step(l.hs, t, B)];
    kc.gruBackwardStep(k, dAt, At, hp, step(l.dH, t, B), l.dn);
    kc.matmul(k, l.drh, kc.block(dAt, 0, 2 * H, B, H), wcT); // d(r ∘ h) = dA_h̄ W_h̄ᵀ
    kc.gruResetBackward(k, dAt, At, hp, l.drh, l.dn);
    kc.matmul(k, l.dn, kc.block(dAt, 0, 0, B, 2 * H), wzrT, { acc: 1 }); // + [dA_z, dA_r] [W_z | W_r]_hᵀ
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
  const { E, H, table } = l;
  const M = l.T * l.B;
  kc.scatterRows(k, l.dP, l.dA, l.ids);
  kc.colSum(k, l.dbias, l.dP);
  gates.forEach(({ W, b }, i) => {
    const a = acc(W); // both row blocks of W share one first write
    const states = cell === "gru" && i === 2 ? l.rh : kc.block(l.hs, 0, 0, M, H); // h_{t-1} of every step
    const dW = gradOf(W);
    kc.matmul(k, kc.block(dW, E, 0, H, H), states, kc.block(l.dA, 0, i * H, M, H), { aT: true, acc: a });
    kc.matmul(k, kc.block(dW, 0, 0, E, H), table, kc.block(l.dP, 0, i * H, l.dP.rows, H), { aT: true, acc: a });
    kc.addGrad(k, gradOf(b), kc.block(l.dbias, 0, i * H, 1, H), acc(b));
    kc.transpose(k, kc.block(l.wxT, i * H, 0, H, E), xRows(W, E));
  });
  if (table.grad >= 0) kc.matmul(k, gradOf(table), l.dP, l.wxT, { acc: acc(table) });
}
