// Kernels of makemore.py's Transformer on the fused graphs
// (lib/engines/graph-transformer.ts): LayerNorm over rows, the tanh GELU, and
// causal self-attention over the rows of c_attn's output.
//
// Gradient kernels take `acc` flags like those of sequence.ts: 0 writes the
// gradient, 1 adds to what is there.

import { gemm } from "./gemm";
import { expNeg4, splatAt } from "./math";

/** The four lanes of v added. */
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Byte offset of float `i`. */
function f(i: i32): usize {
  return (<usize>i) << 2;
}

// ---------------------------------------------------------------------------
// LayerNorm

/** Σ x[0..N) of one row (vectors, then the last N % 4 values one by one). */
function rowSum(N: i32, x: usize): f32 {
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= N; j += 4) sv = f32x4.add(sv, v128.load(x + f(j)));
  let s = hsum(sv);
  for (; j < N; j++) s += load<f32>(x + f(j));
  return s;
}

/** Σ (x - mu)² of one row. */
function rowSquares(N: i32, x: usize, mu: f32): f32 {
  const mv = f32x4.splat(mu);
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const d = f32x4.sub(v128.load(x + f(j)), mv);
    sv = f32x4.add(sv, f32x4.mul(d, d));
  }
  let s = hsum(sv);
  for (; j < N; j++) {
    const d = load<f32>(x + f(j)) - mu;
    s += d * d;
  }
  return s;
}

/**
 * nn.LayerNorm over each row of x [M, N]: y = (x - mean) · rstd · gamma + beta
 * with rstd = 1 / √(biased variance + eps). The row's mean and rstd go to
 * mean[M] and rstd[M] for the backward pass.
 */
export function layerNormForward(
  M: i32,
  N: i32,
  x: usize,
  gamma: usize,
  beta: usize,
  eps: f32,
  mean: usize,
  rstd: usize,
  y: usize,
): void {
  for (let i = 0; i < M; i++) {
    const px = x + f(i * N);
    const py = y + f(i * N);
    const mu = rowSum(N, px) / <f32>N;
    const r = <f32>1.0 / Mathf.sqrt(rowSquares(N, px, mu) / <f32>N + eps);
    store<f32>(mean + f(i), mu);
    store<f32>(rstd + f(i), r);
    const mv = f32x4.splat(mu);
    const rv = f32x4.splat(r);
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const o = f(j);
      const xhat = f32x4.mul(f32x4.sub(v128.load(px + o), mv), rv);
      v128.store(py + o, f32x4.add(f32x4.mul(xhat, v128.load(gamma + o)), v128.load(beta + o)));
    }
    for (; j < N; j++) {
      const o = f(j);
      store<f32>(py + o, (load<f32>(px + o) - mu) * r * load<f32>(gamma + o) + load<f32>(beta + o));
    }
  }
}

/**
 * Backward pass of {@link layerNormForward}: with xhat = (x - mean) · rstd and
 * g = dy · gamma, dx = rstd (g - mean(g) - xhat · mean(g · xhat)) per row;
 * dgamma = Σ_rows dy · xhat and dbeta = Σ_rows dy. Each of dx, dgamma and
 * dbeta is written or added to by its own flag.
 */
export function layerNormBackward(
  M: i32,
  N: i32,
  x: usize,
  dy: usize,
  gamma: usize,
  mean: usize,
  rstd: usize,
  dx: usize,
  accX: i32,
  dgamma: usize,
  accG: i32,
  dbeta: usize,
  accB: i32,
): void {
  if (!accG) memory.fill(dgamma, 0, f(N));
  if (!accB) memory.fill(dbeta, 0, f(N));
  for (let i = 0; i < M; i++) {
    const px = x + f(i * N);
    const pdy = dy + f(i * N);
    const pdx = dx + f(i * N);
    const mu = load<f32>(mean + f(i));
    const r = load<f32>(rstd + f(i));
    const sums = layerNormRowSums(N, px, pdy, gamma, mu, r, dgamma, dbeta);
    const mg = f32x4.extract_lane(sums, 0) / <f32>N;
    const mgx = f32x4.extract_lane(sums, 1) / <f32>N;
    layerNormRowDx(N, px, pdy, gamma, mu, r, mg, mgx, pdx, accX);
  }
}

/** One row's Σ g and Σ g · xhat (lanes 0 and 1), adding its dy · xhat and dy to dgamma and dbeta. */
function layerNormRowSums(
  N: i32,
  px: usize,
  pdy: usize,
  gamma: usize,
  mu: f32,
  r: f32,
  dgamma: usize,
  dbeta: usize,
): v128 {
  const mv = f32x4.splat(mu);
  const rv = f32x4.splat(r);
  let sg = f32x4.splat(0);
  let sgx = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const o = f(j);
    const xhat = f32x4.mul(f32x4.sub(v128.load(px + o), mv), rv);
    const d = v128.load(pdy + o);
    const g = f32x4.mul(d, v128.load(gamma + o));
    sg = f32x4.add(sg, g);
    sgx = f32x4.add(sgx, f32x4.mul(g, xhat));
    v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(d, xhat)));
    v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
  }
  let g1 = hsum(sg);
  let gx1 = hsum(sgx);
  for (; j < N; j++) {
    const o = f(j);
    const xhat = (load<f32>(px + o) - mu) * r;
    const d = load<f32>(pdy + o);
    const g = d * load<f32>(gamma + o);
    g1 += g;
    gx1 += g * xhat;
    store<f32>(dgamma + o, load<f32>(dgamma + o) + d * xhat);
    store<f32>(dbeta + o, load<f32>(dbeta + o) + d);
  }
  return f32x4.replace_lane(f32x4.splat(g1), 1, gx1);
}

/** One row's dx = rstd (g - mg - xhat · mgx), written or added. */
function layerNormRowDx(
  N: i32,
  px: usize,
  pdy: usize,
  gamma: usize,
  mu: f32,
  r: f32,
  mg: f32,
  mgx: f32,
  pdx: usize,
  acc: i32,
): void {
  const mv = f32x4.splat(mu);
  const rv = f32x4.splat(r);
  const mgv = f32x4.splat(mg);
  const mgxv = f32x4.splat(mgx);
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const o = f(j);
    const xhat = f32x4.mul(f32x4.sub(v128.load(px + o), mv), rv);
    const g = f32x4.mul(v128.load(pdy + o), v128.load(gamma + o));
    let d = f32x4.mul(rv, f32x4.sub(f32x4.sub(g, mgv), f32x4.mul(xhat, mgxv)));
    if (acc) d = f32x4.add(d, v128.load(pdx + o));
    v128.store(pdx + o, d);
  }
  for (; j < N; j++) {
    const o = f(j);
    const xhat = (load<f32>(px + o) - mu) * r;
    const g = load<f32>(pdy + o) * load<f32>(gamma + o);
    let d = r * (g - mg - xhat * mgx);
    if (acc) d += load<f32>(pdx + o);
    store<f32>(pdx + o, d);
  }
}

// ---------------------------------------------------------------------------
// NewGELU: 0.5 x (1 + tanh(u)) with u = √(2/π) (x + 0.044715 x³), computed as
// x · σ(2u) (the same function: ½(1 + tanh u) = σ(2u)), one exponential a value.

const GELU_C: f32 = 0.7978845608028654; // √(2/π)
const GELU_A: f32 = 0.044715;
// read from memory, as math.ts's constants (splatAt)
const GELU_A_AT = memory.data<f32>([GELU_A]);
const GELU_2C_AT = memory.data<f32>([2 * GELU_C]);
const ONE_AT = memory.data<f32>([1.0]);

/** σ(2u) at x: 1 / (1 + e^-z) for z = 2u ≥ 0, e^z / (1 + e^z) below, from one exp(-|z|). */
function geluGate(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  const z = f32x4.mul(f32x4.add(x, f32x4.mul(x3, splatAt(GELU_A_AT))), splatAt(GELU_2C_AT));
  const e = expNeg4(f32x4.neg(f32x4.abs(z)));
  const one = splatAt(ONE_AT);
  const r = f32x4.div(one, f32x4.add(one, e));
  return v128.bitselect(f32x4.mul(e, r), r, f32x4.lt(z, f32x4.splat(0)));
}

/**
 * y = NewGELU(x) over n values, in vectors of 4 (up to 3 values past n are
 * touched too); the gate σ(2u) goes to `gate` for the backward pass.
 */
export function geluForward(n: i32, x: usize, y: usize, gate: usize): void {
  const end = f(n);
  for (let o: usize = 0; o < end; o += 16) {
    const v = v128.load(x + o);
    const s = geluGate(v);
    v128.store(gate + o, s);
    v128.store(y + o, f32x4.mul(v, s));
  }
}

/**
 * dx (+)= dy · NewGELU'(x) over n values, in vectors of 4, from the gate s =
 * σ(2u) of the forward pass: GELU' = s + x · 2 s (1 - s) · du/dx, du/dx = c (1 + 3a x²).
 */
export function geluBackward(n: i32, x: usize, gate: usize, dy: usize, dx: usize, acc: i32): void {
  const one = f32x4.splat(1);
  const c2 = f32x4.splat(2 * GELU_C);
  const a3 = f32x4.splat(3 * GELU_A);
  const end = f(n);
  for (let o: usize = 0; o < end; o += 16) {
    const v = v128.load(x + o);
    const s = v128.load(gate + o);
    const dz = f32x4.mul(c2, f32x4.add(one, f32x4.mul(a3, f32x4.mul(v, v)))); // d(2u)/dx
    const ds = f32x4.mul(f32x4.mul(s, f32x4.sub(one, s)), dz); // dσ(2u)/dx
    let d = f32x4.mul(v128.load(dy + o), f32x4.add(s, f32x4.mul(v, ds)));
    if (acc) d = f32x4.add(d, v128.load(dx + o));
    v128.store(dx + o, d);
  }
}

// ---------------------------------------------------------------------------
// causal self-attention
//
// qkv [B·T, 3C] holds q, k and v side by side (columns [0, C), [C, 2C),
// [2C, 3C)); head h owns columns h·hs..(h+1)·hs of each, hs = C / nh. Each
// (line, head) is worked on alone: its q, k and v are first gathered into
// contiguous scratch rows of hsp = hs rounded up to 4 (zeros after hs). Then
// it goes by blocks of ROWS query positions, everything a block needs done
// while its scores are in cache: its products are gemm calls as wide as the
// block's causal extent (the upper triangle is skipped, but for the diagonal
// blocks' corners).
//
// The probabilities are kept as [B·nh, T, Tp], Tp = T rounded up to ROWS:
// row t holds P[t, s] for s < ceil_ROWS(t + 1), zeros after t (the causal
// mask). Columns further right are never read; they are not even written.

/** Positions per block of the attention products. */
const ROWS = 16;

/** n rounded up to a multiple of ROWS. */
function roundRows(n: i32): i32 {
  return (n + ROWS - 1) & ~(ROWS - 1);
}

/** Floats of scratch the attention kernels need for lines of T positions and heads of hs channels. */
export function attentionWork(T: i32, hs: i32): i32 {
  const Tp = roundRows(T);
  const hsp = (hs + 3) & ~3;
  return 7 * Tp * hsp + ROWS * Tp; // 7 head-sized buffers, and the scores of one block of rows
}

/** dst[t, 0..hsp) = src[t, 0..hs) (then zeros) for T rows of src `ld` floats apart. */
function gather(T: i32, hs: i32, hsp: i32, src: usize, ld: i32, dst: usize): void {
  for (let t = 0; t < T; t++) {
    const ps = src + f(t * ld);
    const pd = dst + f(t * hsp);
    copyFloats(hs, ps, pd);
    if (hsp > hs) memory.fill(pd + f(hs), 0, f(hsp - hs));
  }
}

/**
 * n floats from ps to pd, 4 at a time while 4 remain: a head's row is a few
 * vectors, and memory.copy on shared memory is a call into the runtime (the
 * forward kernel took 140 µs for [32·16, 192] with it, 130 without).
 */
function copyFloats(n: i32, ps: usize, pd: usize): void {
  let d = 0;
  for (; d + 4 <= n; d += 4) v128.store(pd + f(d), v128.load(ps + f(d)));
  for (; d < n; d++) store<f32>(pd + f(d), load<f32>(ps + f(d)));
}

/** dst[d, t] = src[t, d] for d < hs, t < T (dst is [hsp, Tp]; its padding stays as it is: zeros). */
function gatherT(T: i32, hs: i32, Tp: i32, src: usize, ld: i32, dst: usize): void {
  for (let t = 0; t < T; t++) {
    const ps = src + f(t * ld);
    for (let d = 0; d < hs; d++) store<f32>(dst + f(d * Tp + t), load<f32>(ps + f(d)));
  }
}

/** dst[t, 0..hs) (+)= src[t, 0..hs) for T rows of dst `ld` floats apart. */
function scatter(T: i32, hs: i32, hsp: i32, src: usize, dst: usize, ld: i32, acc: i32): void {
  for (let t = 0; t < T; t++) {
    const ps = src + f(t * hsp);
    const pd = dst + f(t * ld);
    if (!acc) {
      copyFloats(hs, ps, pd);
      continue;
    }
    let d = 0;
    for (; d + 4 <= hs; d += 4) v128.store(pd + f(d), f32x4.add(v128.load(pd + f(d)), v128.load(ps + f(d))));
    for (; d < hs; d++) store<f32>(pd + f(d), load<f32>(pd + f(d)) + load<f32>(ps + f(d)));
  }
}

/** Lanes of the vector at column s that lie after t (the masked part), as all-ones lanes. */
function pastT(s: i32, t: i32): v128 {
  return i32x4.gt_s(i32x4.add(i32x4.splat(s), i32x4(0, 1, 2, 3)), i32x4.splat(t));
}

/**
 * Row t of scores becomes softmax(scale · row) over s ≤ t, with zeros after
 * t up to ceil_ROWS(t + 1) (the columns the next products read).
 */
function causalSoftmaxRow(p: usize, t: i32, scale: f32): void {
  const last = t & ~3; // the vector holding column t; the ones before it are whole
  const mask = pastT(last, t);
  const sv = f32x4.splat(scale);
  // the largest scaled score (pmax: one instruction, and no NaN here)
  let mx = v128.bitselect(f32x4.splat(-Infinity), f32x4.mul(v128.load(p + f(last)), sv), mask);
  for (let s = 0; s < last; s += 4) mx = f32x4.pmax(mx, f32x4.mul(v128.load(p + f(s)), sv));
  const m = f32x4.splat(
    max(
      max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)),
      max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)),
    ),
  );
  let sum = f32x4.splat(0);
  for (let s = 0; s < last; s += 4) {
    const e = expNeg4(f32x4.sub(f32x4.mul(v128.load(p + f(s)), sv), m));
    v128.store(p + f(s), e);
    sum = f32x4.add(sum, e);
  }
  // the masked lanes become exact zeros whatever the exponential gave for them
  const eLast = v128.andnot(expNeg4(f32x4.sub(f32x4.mul(v128.load(p + f(last)), sv), m)), mask);
  v128.store(p + f(last), eLast);
  sum = f32x4.add(sum, eLast);
  const inv = f32x4.splat(<f32>1.0 / hsum(sum));
  for (let s = 0; s <= last; s += 4) v128.store(p + f(s), f32x4.mul(v128.load(p + f(s)), inv));
  const zero = f32x4.splat(0);
  for (let s = last + 4; s < roundRows(t + 1); s += 4) v128.store(p + f(s), zero);
}

/**
 * Causal self-attention of B lines of T positions, nh heads: y [B·T, C] gets
 * softmax(q kᵀ / √hs, causal) v of each head in its columns h·hs... The
 * probabilities go to P [B·nh, T, Tp] when keep is 1 (training); else P
 * holds one block of ROWS rows, reused. work: attentionWork(T, hs) floats.
 */
export function attentionForward(
  B: i32,
  T: i32,
  C: i32,
  nh: i32,
  qkv: usize,
  y: usize,
  P: usize,
  keep: i32,
  work: usize,
): void {
  const hs = C / nh;
  const Tp = roundRows(T);
  const hsp = (hs + 3) & ~3;
  const blk = Tp * hsp;
  const qh = work;
  const vh = work + f(2 * blk);
  const kT = work + f(3 * blk);
  const out = work + f(4 * blk);
  const scale = <f32>1.0 / Mathf.sqrt(<f32>hs);
  for (let b = 0; b < B; b++) {
    const line = qkv + f(b * T * 3 * C);
    for (let h = 0; h < nh; h++) {
      gather(T, hs, hsp, line + f(h * hs), 3 * C, qh);
      gatherT(T, hs, Tp, line + f(C + h * hs), 3 * C, kT);
      gather(T, hs, hsp, line + f(2 * C + h * hs), 3 * C, vh);
      for (let t0 = 0; t0 < T; t0 += ROWS) {
        const rows = min(ROWS, T - t0);
        const p = keep ? P + f(((b * nh + h) * T + t0) * Tp) : P; // [rows, Tp]
        // scores of the block's rows up to its causal extent t0 + ROWS, then their softmax
        gemm(rows, t0 + ROWS, hsp, qh + f(t0 * hsp), hsp, 1, kT, Tp, p, Tp, 0, 0);
        for (let i = 0; i < rows; i++) causalSoftmaxRow(p + f(i * Tp), t0 + i, scale);
        // y rows = P rows · v over the positions they see
        gemm(rows, hsp, min(t0 + ROWS, T), p, Tp, 1, vh, hsp, out + f(t0 * hsp), hsp, 0, 0);
      }
      scatter(T, hs, hsp, out, y + f(b * T * C + h * hs), C, 0);
    }
  }
}

/**
 * Backward pass of {@link attentionForward} (kept probabilities P): with
 * dP = dy vᵀ and dS = P ∘ (dP - rowsum(dP ∘ P)) / √hs, writes (acc 0) or adds
 * (acc 1) dq = dS k, dk = dSᵀ q and dv = Pᵀ dy into dqkv [B·T, 3C]. Block by
 * block of rows t: dk and dv gather each block's part (its rows of dS and P
 * transposed), so P is read once.
 */
export function attentionBackward(
  B: i32,
  T: i32,
  C: i32,
  nh: i32,
  qkv: usize,
  P: usize,
  dy: usize,
  dqkv: usize,
  acc: i32,
  work: usize,
): void {
  const hs = C / nh;
  const Tp = roundRows(T);
  const hsp = (hs + 3) & ~3;
  const blk = Tp * hsp;
  const qh = work;
  const kh = work + f(blk);
  const dyh = work + f(2 * blk);
  const vT = work + f(3 * blk);
  const dq = work + f(4 * blk);
  const dk = work + f(5 * blk);
  const dv = work + f(6 * blk);
  const dS = work + f(7 * blk); // [ROWS, Tp]: one block's dP, then dS
  const scale = <f32>1.0 / Mathf.sqrt(<f32>hs);
  for (let b = 0; b < B; b++) {
    const line = qkv + f(b * T * 3 * C);
    const dline = dqkv + f(b * T * 3 * C);
    for (let h = 0; h < nh; h++) {
      gather(T, hs, hsp, line + f(h * hs), 3 * C, qh);
      gather(T, hs, hsp, line + f(C + h * hs), 3 * C, kh);
      gather(T, hs, hsp, dy + f(b * T * C + h * hs), C, dyh);
      gatherT(T, hs, Tp, line + f(2 * C + h * hs), 3 * C, vT);
      memory.fill(dk, 0, f(T * hsp));
      memory.fill(dv, 0, f(T * hsp));
      for (let t0 = 0; t0 < T; t0 += ROWS) {
        const rows = min(ROWS, T - t0);
        const seen = min(t0 + ROWS, T); // positions the block's rows attend to (zeros past each row's own)
        const p = P + f(((b * nh + h) * T + t0) * Tp);
        gemm(rows, t0 + ROWS, hsp, dyh + f(t0 * hsp), hsp, 1, vT, Tp, dS, Tp, 0, 0); // dP
        for (let i = 0; i < rows; i++) softmaxGradRow(p + f(i * Tp), dS + f(i * Tp), t0 + i, scale);
        gemm(rows, hsp, seen, dS, Tp, 1, kh, hsp, dq + f(t0 * hsp), hsp, 0, 0);
        // dk[s] += Σ_t dS[t, s] q[t] and dv[s] += Σ_t P[t, s] dy[t] over the block's rows t
        gemm(seen, hsp, rows, dS, 1, Tp, qh + f(t0 * hsp), hsp, dk, hsp, 1, 0);
        gemm(seen, hsp, rows, p, 1, Tp, dyh + f(t0 * hsp), hsp, dv, hsp, 1, 0);
      }
      scatter(T, hs, hsp, dq, dline + f(h * hs), 3 * C, acc);
      scatter(T, hs, hsp, dk, dline + f(C + h * hs), 3 * C, acc);
      scatter(T, hs, hsp, dv, dline + f(2 * C + h * hs), 3 * C, acc);
    }
  }
}

/**
 * Row t: dS = scale · P ∘ (dP - Σ_s dP ∘ P), in place of dP, over the
 * columns < ceil_ROWS(t + 1) (zeros after t, where P is 0).
 */
function softmaxGradRow(p: usize, ds: usize, t: i32, scale: f32): void {
  const n = roundRows(t + 1);
  let dot = f32x4.splat(0);
  for (let s = 0; s < n; s += 4) dot = f32x4.add(dot, f32x4.mul(v128.load(p + f(s)), v128.load(ds + f(s))));
  const sub = f32x4.splat(hsum(dot));
  const sv = f32x4.splat(scale);
  for (let s = 0; s < n; s += 4) {
    const g = f32x4.mul(v128.load(p + f(s)), f32x4.sub(v128.load(ds + f(s)), sub));
    v128.store(ds + f(s), f32x4.mul(g, sv));
  }
}
