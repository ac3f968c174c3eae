// Kernels of makemore.py's recurrent cells (lib/engines/graph-recurrent.ts):
// the elementwise part of one time step of an RNNCell or a GRUCell, forward
// and backward, for the B lines of a batch at once. The matrix products of a
// step (hidden state times the hidden rows of the weights) are gemm calls
// between them.
//
// Layout, time-major inside the recurrence: a step's gate pre-activations are
// one block G_t [B, G·H] (GRU: columns z | r | h̄), the previous hidden state
// hp [B, H] contiguous. Rows of H values are taken 4 at a time, and the last
// H % 4 one at a time through lane 0 of the same vector code, so that no
// write leaves a row (the gates of a row sit side by side).

import { expNeg4, splatAt, tanh4 } from "./math";

const ONE = memory.data<f32>([1.0]); // read from memory, as math.ts's constants (splatAt)

/** σ(x) = 1 / (1 + e^-x), from e = exp(-|x|) so that the exponential never overflows. */
function sigmoid4(x: v128): v128 {
  const e = expNeg4(f32x4.neg(f32x4.abs(x)));
  const one = splatAt(ONE);
  const num = v128.bitselect(one, e, f32x4.ge(x, f32x4.splat(0.0)));
  return f32x4.div(num, f32x4.add(one, e));
}

/** Four values at p, or (not full) the one at p in every lane. */
function ld(p: usize, full: bool): v128 {
  return full ? v128.load(p) : f32x4.splat(load<f32>(p));
}

/** Stores four lanes at p, or (not full) lane 0 only. */
function st(p: usize, v: v128, full: bool): void {
  if (full) v128.store(p, v);
  else store<f32>(p, f32x4.extract_lane(v, 0));
}

/** y = σ(x) over n values (n % 4 at the end one by one): for tests of the vector sigmoid. */
export function sigmoidForward(n: i32, x: usize, y: usize): void {
  for (let j = 0; j < n;) {
    const full = j + 4 <= n;
    const o = (<usize>j) << 2;
    st(y + o, sigmoid4(ld(x + o, full)), full);
    j += full ? 4 : 1;
  }
}

/** dst[i, :] = src[0, :] for B rows of H values: the learned start state at every line. */
export function broadcastRow(B: i32, H: i32, src: usize, dst: usize): void {
  const bytes = (<usize>H) << 2;
  for (let b = 0; b < B; b++) memory.copy(dst + <usize>b * bytes, src, bytes);
}

/**
 * dst row q·P + p = src row p·Q + q, rows of D values: [P, Q] blocks of rows
 * regrouped as [Q, P] (time-major states to batch-major and back). Written in
 * order, read with a stride.
 */
export function permuteRows(P: i32, Q: i32, D: i32, src: usize, dst: usize): void {
  const row = (<usize>D) << 2;
  let out = dst;
  for (let q = 0; q < Q; q++) {
    for (let p = 0; p < P; p++) {
      memory.copy(out, src + <usize>(p * Q + q) * row, row);
      out += row;
    }
  }
}

/** dst[i, :] = src[i, :] for `rows` rows of `cols` values, rows lds and ldd floats apart. */
export function copyRows(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  const bytes = (<usize>cols) << 2;
  for (let i = 0; i < rows; i++) {
    memory.copy(dst + ((<usize>(i * ldd)) << 2), src + ((<usize>(i * lds)) << 2), bytes);
  }
}

/** RNN step: h = tanh(G_t) for G_t [B, H], written to the next state hn [B, H]. */
export function rnnForwardStep(B: i32, H: i32, G: usize, hn: usize): void {
  const row = (<usize>H) << 2;
  for (let b = 0; b < B; b++) {
    const g = G + <usize>b * row;
    const h = hn + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      st(h + o, tanh4(ld(g + o, full)), full);
      j += full ? 4 : 1;
    }
  }
}

/**
 * RNN step backward: with dh = dOut_t + dn (dOut's rows ldo floats apart; dn
 * [B, H] the gradient from step t + 1), dA = dh (1 - h²) into dG [B, H].
 */
export function rnnBackwardStep(B: i32, H: i32, h: usize, dOut: usize, ldo: i32, dn: usize, dG: usize): void {
  const row = (<usize>H) << 2;
  const so = (<usize>ldo) << 2;
  const one = f32x4.splat(1.0);
  for (let b = 0; b < B; b++) {
    const hb = h + <usize>b * row;
    const db = dOut + <usize>b * so;
    const nb = dn + <usize>b * row;
    const gb = dG + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      const y = ld(hb + o, full);
      const dh = f32x4.add(ld(db + o, full), ld(nb + o, full));
      st(gb + o, f32x4.mul(dh, f32x4.sub(one, f32x4.mul(y, y))), full);
      j += full ? 4 : 1;
    }
  }
}

/**
 * GRU step, first half: G_t [B, 3H] holds the pre-activations of z and r
 * (columns 0..2H); makes them σ in place and writes rh = r ∘ hp [B, H], the
 * input of h̄'s hidden product.
 */
export function gruGatesStep(B: i32, H: i32, G: usize, hp: usize, rh: usize): void {
  const row = (<usize>H) << 2;
  for (let b = 0; b < B; b++) {
    const zb = G + <usize>(3 * b) * row;
    const rb = zb + row;
    const hb = hp + <usize>b * row;
    const ob = rh + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      st(zb + o, sigmoid4(ld(zb + o, full)), full);
      const r = sigmoid4(ld(rb + o, full));
      st(rb + o, r, full);
      st(ob + o, f32x4.mul(r, ld(hb + o, full)), full);
      j += full ? 4 : 1;
    }
  }
}

/**
 * GRU step, second half: h̄ = tanh(G_t[:, 2H..3H]) in place, then
 * h = hp + z (h̄ - hp), written to the next state hn [B, H].
 */
export function gruForwardStep(B: i32, H: i32, G: usize, hp: usize, hn: usize): void {
  const row = (<usize>H) << 2;
  for (let b = 0; b < B; b++) {
    const zb = G + <usize>(3 * b) * row;
    const cb = zb + 2 * row;
    const pb = hp + <usize>b * row;
    const nb = hn + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      const c = tanh4(ld(cb + o, full));
      st(cb + o, c, full);
      const p = ld(pb + o, full);
      st(nb + o, f32x4.add(p, f32x4.mul(ld(zb + o, full), f32x4.sub(c, p))), full);
      j += full ? 4 : 1;
    }
  }
}

/**
 * GRU step backward, first half. With dh = dOut_t + dn (dOut's rows ldo
 * apart, dn [B, H] from step t + 1) and G_t holding z, r, h̄:
 * dA_z = dh (h̄ - hp) z (1 - z) and dA_h̄ = dh z (1 - h̄²) into dG [B, 3H];
 * dn becomes dh (1 - z), the part of hp's gradient that skips the gates.
 */
export function gruBackwardStep(
  B: i32,
  H: i32,
  G: usize,
  hp: usize,
  dOut: usize,
  ldo: i32,
  dn: usize,
  dG: usize,
): void {
  const row = (<usize>H) << 2;
  const so = (<usize>ldo) << 2;
  const one = f32x4.splat(1.0);
  for (let b = 0; b < B; b++) {
    const zb = G + <usize>(3 * b) * row;
    const cb = zb + 2 * row;
    const dzb = dG + <usize>(3 * b) * row;
    const dcb = dzb + 2 * row;
    const pb = hp + <usize>b * row;
    const db = dOut + <usize>b * so;
    const nb = dn + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      const z = ld(zb + o, full);
      const c = ld(cb + o, full);
      const dh = f32x4.add(ld(db + o, full), ld(nb + o, full));
      const dz = f32x4.mul(dh, f32x4.sub(c, ld(pb + o, full)));
      st(dzb + o, f32x4.mul(dz, f32x4.mul(z, f32x4.sub(one, z))), full);
      st(dcb + o, f32x4.mul(f32x4.mul(dh, z), f32x4.sub(one, f32x4.mul(c, c))), full);
      st(nb + o, f32x4.mul(dh, f32x4.sub(one, z)), full);
      j += full ? 4 : 1;
    }
  }
}

/**
 * GRU step backward, second half, from drh = dA_h̄ · W_h̄ʰᵀ [B, H] (the
 * gradient of r ∘ hp): dA_r = drh hp r (1 - r) into dG's r columns, and
 * dn += drh r.
 */
export function gruResetBackward(B: i32, H: i32, G: usize, hp: usize, drh: usize, dn: usize, dG: usize): void {
  const row = (<usize>H) << 2;
  const one = f32x4.splat(1.0);
  for (let b = 0; b < B; b++) {
    const rb = G + <usize>(3 * b + 1) * row;
    const drb = dG + <usize>(3 * b + 1) * row;
    const pb = hp + <usize>b * row;
    const xb = drh + <usize>b * row;
    const nb = dn + <usize>b * row;
    for (let j = 0; j < H;) {
      const full = j + 4 <= H;
      const o = (<usize>j) << 2;
      const r = ld(rb + o, full);
      const d = ld(xb + o, full);
      st(drb + o, f32x4.mul(f32x4.mul(d, ld(pb + o, full)), f32x4.mul(r, f32x4.sub(one, r))), full);
      st(nb + o, f32x4.add(ld(nb + o, full), f32x4.mul(d, r)), full);
      j += full ? 4 : 1;
    }
  }
}

// ---------------------------------------------------------------------------
// look-ups of projected embeddings: a Linear after an embedding is a look-up
// in the table's product with the weight ([V, E] · [E, N]), fewer products
// than one per position when the vocabulary is smaller than the batch

/**
 * out[m, :] = bias + Σ_k table[ids[m·w + k], :] for M rows of N values (bias
 * 0 for none): the rows of w look-ups summed.
 */
export function gatherSum(M: i32, w: i32, N: i32, ids: usize, table: usize, bias: usize, out: usize): void {
  const row = (<usize>N) << 2;
  for (let m = 0; m < M; m++) {
    const o = out + <usize>m * row;
    const first = <usize>load<i32>(ids + ((<usize>(m * w)) << 2));
    if (bias) addVec(N, bias, table + first * row, o);
    else memory.copy(o, table + first * row, row);
    for (let k = 1; k < w; k++) {
      const r = <usize>load<i32>(ids + ((<usize>(m * w + k)) << 2));
      addVec(N, o, table + r * row, o);
    }
  }
}

/** dTable [R, N] = 0, then dTable[ids[m·w + k], :] += dy[m, :] for every m < M, k < w (gatherSum's gradient). */
export function scatterRows(M: i32, w: i32, N: i32, R: i32, ids: usize, dy: usize, dTable: usize): void {
  const row = (<usize>N) << 2;
  memory.fill(dTable, 0, <usize>R * row);
  for (let m = 0; m < M; m++) {
    const d = dy + <usize>m * row;
    for (let k = 0; k < w; k++) {
      const t = dTable + <usize>load<i32>(ids + ((<usize>(m * w + k)) << 2)) * row;
      addVec(N, t, d, t);
    }
  }
}

/** out = a + b over exactly n values (out may be a or b). */
function addVec(n: i32, a: usize, b: usize, out: usize): void {
  const end = (<usize>n) << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  for (; o < end; o += 4) store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
}

// ---------------------------------------------------------------------------
// makemore.py's MLP (not recurrent, but read the same way: each position
// looks back along its line)

/**
 * ids[(b·T + t)·w + k] = k·stride + tokens[b·T + t - k] for k ≤ t, else
 * k·stride + blank: the w tokens each position of B lines of T reads, newest
 * first, with <BLANK> before the line's start (int32 throughout). A stride
 * of V + 1 numbers the rows of w stacked [V + 1, ·] tables, one per place.
 */
export function windowIds(B: i32, T: i32, w: i32, blank: i32, stride: i32, tokens: usize, ids: usize): void {
  for (let b = 0; b < B; b++) {
    const line = tokens + ((<usize>(b * T)) << 2);
    for (let t = 0; t < T; t++) {
      const out = ids + ((<usize>((b * T + t) * w)) << 2);
      for (let k = 0; k < w; k++) {
        const id = k <= t ? load<i32>(line + ((<usize>(t - k)) << 2)) : blank;
        store<i32>(out + ((<usize>k) << 2), id + k * stride);
      }
    }
  }
}
