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
import { block, mat, type Mat, type KernelCalls } from "./kernel-calls";

/** One gate's Linear over [x, h]: W [E + H, H], b [1, H]. */
export interface GateParams {
  W: GraphNode;
  b: GraphNode;
}

/** Buffers of a recurrence (time-major), and the views the steps use (laid out once, read every step). */
interface Loop {
  B: number;
  T: number;
  E: number;
  H: number;
  /** the token embedding [V, E] */
  table: GraphNode;
  /** the tokens time-major, int32 [T·B, 1] */
  ids: Mat;
  /** the table's x halves of every gate with their biases: table · [W_x…] + [b…], [V, G·H] */
  P: Mat;
  /** gate inputs [T·B, G·H]: rows of P, then pre-activations and activations in place, step by step */
  A: Mat;
  /** hidden states: the start state at block 0, h_t at block t + 1: [(T + 1)·B, H] */
  hs: Mat;
  /** the batch-major hidden states [B·T, H] (the op's output) */
  out: GraphNode;
  /** the output's gradient time-major [T·B, H] */
  dH: Mat;
  /** GRU: r ∘ h_{t-1} at every step [T·B, H] */
  rh: Mat;
  /** the hidden rows of the gates' weights packed (GRU: z | r, [H, 2H]), for the step products */
  wh: Mat;
  /** their transposes ([G'·H, H]) for the backward products */
  whT: Mat;
  /** the x rows of every gate transposed, [G·H, E] */
  wxT: Mat;
  /** the gradient of the gate pre-activations [T·B, G·H] */
  dA: Mat;
  /** the gradient of P [V, G·H] */
  dP: Mat;
  /** the gradient reaching h_{t-1}, [B, H] */
  dn: Mat;
  /** GRU: the gradient of r ∘ h_{t-1}, [B, H] */
  drh: Mat;
  /** column sums of dP [1, G·H] */
  dbias: Mat;
  /** step t's B rows of each time-major buffer */
  steps: StepViews[];
}

/** Step t's rows: ids [B, 1]; A, dA [B, G·H] (and the GRU's z | r and h̄ columns); h_{t-1}, h_t, r ∘ h_{t-1}, dOut_t [B, H]. */
interface StepViews {
  ids: Mat;
  A: Mat;
  dA: Mat;
  hp: Mat;
  hn: Mat;
  rh: Mat;
  dH: Mat;
  /** GRU: the z | r columns of A and dA [B, 2H], and the h̄ ones [B, H] */
  Azr: Mat;
  Ah: Mat;
  dAzr: Mat;
  dAh: Mat;
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
  const w = gates.map((gate, i) => gateViews(l, gate, i));
  const [fwd, bwd] = cell === "gru" ? [gruForward, gruBackward] : [rnnForward, rnnBackward];
  const [startState, states, dStart] = [block(l.hs, 0, 0, l.B, H), block(l.hs, l.B, 0, l.T * l.B, H), gradOf(start)];
  const idsByTime = mat(l.ids.at, l.T, l.B); // [T·B, 1] as [T, B]
  g.push({ name: "tokens by time", forward: (k) => k.transpose(idsByTime, g.tokens) }); // int32 ids pass unchanged
  g.push({
    name: cell,
    forward: (k) => {
      for (const v of w) k.matmul(v.P, table, v.Wx, 0, v.b);
      k.broadcastRow(startState, start);
      fwd(k, l, w);
      k.permuteRows(l.out, states, l.T); // h_t of line b to row b·T + t
    },
    backward: (k, b) => {
      k.permuteRows(l.dH, gradOf(l.out), l.B); // and back: the steps read their B rows together
      k.zero(l.dn);
      bwd(k, l, w);
      k.colSum(dStart, l.dn, b.acc(start)); // the start state is every line's h_{-1}
      weightGrads(k, l, w, (n) => b.acc(n));
    },
  });
  return l.out;
}

/** The buffers of a recurrence of `cell` with G·H gate columns. */
function layOutLoop(g: GraphBuilder, cell: Cell, table: GraphNode, GH: number, H: number): Loop {
  const { batch: B, time: T } = g;
  const [V, E] = [table.rows, table.cols];
  const train = g.training;
  const need = (rows: number, cols: number, yes = train): Mat => (yes ? g.scratch(rows, cols) : mat(0, rows, cols));
  const gru = cell === "gru";
  const buffers = {
    B,
    T,
    E,
    H,
    table,
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
    steps: [] as StepViews[],
  };
  for (let t = 0; t < T; t++) buffers.steps.push(stepViews(buffers, t));
  return buffers;
}

/** Step t's views of the time-major buffers. */
function stepViews(l: Loop, t: number): StepViews {
  const { B, H } = l;
  const rows = (m: Mat, step: number): Mat => block(m, step * B, 0, B, m.cols);
  const [A, dA] = [rows(l.A, t), rows(l.dA, t)];
  return {
    ids: rows(l.ids, t),
    A,
    dA,
    hp: rows(l.hs, t),
    hn: rows(l.hs, t + 1),
    rh: rows(l.rh, t),
    dH: rows(l.dH, t),
    Azr: block(A, 0, 0, B, 2 * H),
    Ah: block(A, 0, 2 * H, B, H),
    dAzr: block(dA, 0, 0, B, 2 * H),
    dAh: block(dA, 0, 2 * H, B, H),
  };
}

/** A gate's blocks: its x and hidden rows, their gradients, and its columns of P, dP, dA, the bias sums and W_xᵀ. */
interface GateViews {
  W: GraphNode;
  b: GraphNode;
  Wx: Mat;
  Wh: Mat;
  dWx: Mat;
  dWh: Mat;
  db: Mat;
  P: Mat;
  dP: Mat;
  dA: Mat;
  dbias: Mat;
  wxT: Mat;
}

/** Gate i's views: W [E + H, H] is its x rows [E, H] over its hidden rows [H, H]. */
function gateViews(l: Loop, { W, b }: GateParams, i: number): GateViews {
  const { E, H } = l;
  const dW = gradOf(W);
  const cols = (m: Mat): Mat => block(m, 0, i * H, m.rows, H);
  return {
    W,
    b,
    db: gradOf(b),
    Wx: block(W, 0, 0, E, H),
    Wh: block(W, E, 0, H, H),
    dWx: block(dW, 0, 0, E, H),
    dWh: block(dW, E, 0, H, H),
    P: cols(l.P),
    dP: cols(l.dP),
    dA: cols(l.dA),
    dbias: cols(l.dbias),
    wxT: block(l.wxT, i * H, 0, H, E),
  };
}

/** RNN forward: h_t = tanh(A_t + h_{t-1} W_h), step by step. */
function rnnForward(k: KernelCalls, l: Loop, [gate]: readonly GateViews[]): void {
  for (const s of l.steps) {
    k.gatherSum(s.A, l.P, s.ids, null); // the step's gate inputs, just before their use
    k.matmul(s.A, s.hp, gate!.Wh, 1);
    k.rnnForwardStep(s.hn, s.A);
  }
}

/** RNN backward through time: dA_t = (dh_t + dn) (1 - h_t²), dn = dA_t W_hᵀ. */
function rnnBackward(k: KernelCalls, l: Loop, [gate]: readonly GateViews[]): void {
  k.transpose(l.whT, gate!.Wh);
  for (let t = l.T - 1; t >= 0; t--) {
    const s = l.steps[t] as StepViews;
    k.rnnBackwardStep(s.dA, s.hn, s.dH, l.dn);
    k.matmul(l.dn, s.dA, l.whT);
  }
}

/**
 * GRU forward, step by step: A_t's z and r columns += h_{t-1} [W_z | W_r]_h
 * (one product), σ; then h̄'s += (r ∘ h_{t-1}) W_h̄_h, tanh, and the blend.
 */
function gruForward(k: KernelCalls, l: Loop, [z, r, c]: readonly GateViews[]): void {
  const H = l.H;
  k.copyRows(block(l.wh, 0, 0, H, H), z!.Wh);
  k.copyRows(block(l.wh, 0, H, H, H), r!.Wh);
  for (const s of l.steps) {
    k.gatherSum(s.A, l.P, s.ids, null); // the step's gate inputs, just before their use
    k.matmul(s.Azr, s.hp, l.wh, 1);
    k.gruGatesStep(s.A, s.hp, s.rh);
    k.matmul(s.Ah, s.rh, c!.Wh, 1);
    k.gruForwardStep(s.hn, s.A, s.hp);
  }
}

/** GRU backward through time, the forward's steps in reverse (see wasm/recurrent.ts). */
function gruBackward(k: KernelCalls, l: Loop, [, , c]: readonly GateViews[]): void {
  const H = l.H;
  const [wzrT, wcT] = [block(l.whT, 0, 0, 2 * H, H), block(l.whT, 2 * H, 0, H, H)];
  k.transpose(wzrT, l.wh);
  k.transpose(wcT, c!.Wh);
  for (let t = l.T - 1; t >= 0; t--) {
    const s = l.steps[t] as StepViews;
    k.gruBackwardStep(s.dA, s.A, s.hp, s.dH, l.dn);
    k.matmul(l.drh, s.dAh, wcT); // d(r ∘ h) = dA_h̄ W_h̄ᵀ
    k.gruResetBackward(s.dA, s.A, s.hp, l.drh, l.dn);
    k.matmul(l.dn, s.dAzr, wzrT, 1); // + [dA_z, dA_r] [W_z | W_r]_hᵀ
  }
}

/**
 * Every gate's weight and bias gradients from dA [T·B, G·H], over all steps at
 * once: hidden rows h_{t-1}ᵀ dA_i (h̄'s: (r ∘ h_{t-1})ᵀ dA_h̄); then dA summed
 * into the table rows the steps read (dP [V, G·H]) gives the x rows tableᵀ dP_i,
 * the biases Σ dP_i and the table's gradient dP W_xᵀ.
 */
function weightGrads(k: KernelCalls, l: Loop, gates: readonly GateViews[], acc: (n: GraphNode) => 0 | 1): void {
  const { H, table } = l;
  const h = block(l.hs, 0, 0, l.T * l.B, H); // h_{t-1} of every step
  k.scatterRows(l.dP, l.dA, l.ids);
  k.colSum(l.dbias, l.dP);
  gates.forEach((v, i) => {
    const a = acc(v.W); // both row blocks of W share one first write
    k.matmulAtB(v.dWh, gates.length === 3 && i === 2 ? l.rh : h, v.dA, a);
    k.matmulAtB(v.dWx, table, v.dP, a);
    k.addGrad(v.db, v.dbias, acc(v.b));
    k.transpose(v.wxT, v.Wx);
  });
  if (table.grad >= 0) k.matmul(gradOf(table), l.dP, l.wxT, acc(table));
}
