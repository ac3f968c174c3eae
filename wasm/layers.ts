// Kernels of the lecture models (lib/engines/fused.ts): tanh, the SGD update
// and L2 penalty, the embedding, batch normalization in both modes, and the
// cross-entropy of one target per example. Their matrix products are gemm's.

import { expRow, tanh4 } from "./math";
import { storeLanes } from "./simd";

// ---------------------------------------------------------------------------
// elementwise

/** y = tanh(x) over n values, in vectors of 4 (up to 3 values past n are read and written too). */
export function tanhForward(n: i32, x: usize, y: usize): void {
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 16) v128.store(y + o, tanh4(v128.load(x + o)));
}

/** dx = dy · (1 - y²) over n values, y = tanh(x); in vectors of 4 like tanhForward. */
export function tanhBackward(n: i32, y: usize, dy: usize, dx: usize): void {
  const end = (<usize>n) << 2;
  const one = f32x4.splat(1.0);
  for (let o: usize = 0; o < end; o += 16) {
    const t = v128.load(y + o);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(t, t))));
  }
}

/** p -= lr · g over n values, in vectors of 4 like tanhForward. */
export function sgdUpdate(n: i32, lr: f32, g: usize, p: usize): void {
  const end = (<usize>n) << 2;
  const l = f32x4.splat(lr);
  for (let o: usize = 0; o < end; o += 16) {
    v128.store(p + o, f32x4.sub(v128.load(p + o), f32x4.mul(l, v128.load(g + o))));
  }
}

/** Fills n floats with zeros. */
export function zero(n: i32, p: usize): void {
  memory.fill(p, 0, (<usize>n) << 2);
}

/**
 * L2 regularization `coef · mean(p²)` over n parameters: adds its gradient
 * `2 coef p / n` to g and returns its value.
 */
export function l2Penalty(n: i32, coef: f32, p: usize, g: usize): f32 {
  let ss: f64 = 0;
  const k = (<f32>2.0 * coef) / <f32>n;
  for (let i = 0; i < n; i++) {
    const o = (<usize>i) << 2;
    const v = load<f32>(p + o);
    ss += <f64>(v * v);
    store<f32>(g + o, load<f32>(g + o) + k * v);
  }
  return <f32>((<f64>coef * ss) / <f64>n);
}

// ---------------------------------------------------------------------------
// embedding

/**
 * out[b, t·D + d] = table[ix[b, t], d] for B rows of T int32 indices:
 * the lookup and the concatenation of the context embeddings.
 */
export function embedForward(B: i32, T: i32, D: i32, ix: usize, table: usize, out: usize): void {
  const rowBytes = (<usize>D) << 2;
  let po = out;
  const n = B * T;
  for (let k = 0; k < n; k++) {
    const row = load<i32>(ix + ((<usize>k) << 2));
    memory.copy(po, table + <usize>row * rowBytes, rowBytes);
    po += rowBytes;
  }
}

/**
 * dTable[ix[k], :] += dOut[k, :] for the n looked-up rows, after zeroing dTable [V, D]: D columns
 * of rows `ld` values apart (a block of columns: a part of a split), each sum in the order of k.
 */
export function embedBackward(n: i32, D: i32, ld: i32, V: i32, ix: usize, dOut: usize, dTable: usize): void {
  const rowBytes = (<usize>ld) << 2;
  for (let v = 0; v < V; v++) memory.fill(dTable + <usize>v * rowBytes, 0, (<usize>D) << 2);
  let pd = dOut;
  for (let k = 0; k < n; k++) {
    const pt = dTable + <usize>load<i32>(ix + ((<usize>k) << 2)) * rowBytes;
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = (<usize>d) << 2;
      v128.store(pt + o, f32x4.add(v128.load(pt + o), v128.load(pd + o)));
    }
    for (; d < D; d++) {
      const o = (<usize>d) << 2;
      store<f32>(pt + o, load<f32>(pt + o) + load<f32>(pd + o));
    }
    pd += rowBytes;
  }
}

// ---------------------------------------------------------------------------
// batch normalization over the rows of x [M, N], column by column
//
// SIMD over columns: each lane sums its own column down the rows in row order,
// as a scalar loop would, so the bits are those of the column-by-column sums.
// Blocks of 16 columns (four independent vector chains, which the adds'
// latency needs), then of 4 (the last one partial: up to 3 values past a row
// are read, none written).

/**
 * Training-mode batch norm: mean and variance of each column, with the
 * variance divided by `divisor` (M or M - 1) for the normalization;
 * xhat = (x - mean) / sqrt(var + eps), y = gamma · xhat + beta. Writes
 * invStd [N], and the unbiased batch variance to `unbiasedVar` [N] (for the
 * running statistics), and the batch mean to `mean` [N].
 */
export function bnForward(
  M: i32,
  N: i32,
  x: usize,
  gamma: usize,
  beta: usize,
  eps: f32,
  divisor: f32,
  mean: usize,
  invStd: usize,
  unbiasedVar: usize,
  xhat: usize,
  y: usize,
): void {
  let j = 0;
  for (; j + 16 <= N; j += 16) {
    const o = (<usize>j) << 2;
    bnStats16(M, N, x + o, eps, divisor, mean + o, invStd + o, unbiasedVar + o);
  }
  for (; j < N; j += 4) {
    const o = (<usize>j) << 2;
    bnStats4(M, N, x + o, eps, divisor, N - j, mean + o, invStd + o, unbiasedVar + o);
  }
  bnNormalize(M, N, x, mean, invStd, gamma, beta, xhat, y);
}

/** 1/M in every lane (a mean is a sum times it). */
function invRows(M: i32): v128 {
  return f32x4.splat(<f32>1.0 / <f32>M);
}

/** Column sums of four lanes from column block p, rows stride bytes apart, in row order. */
function colSum4(M: i32, stride: usize, p: usize): v128 {
  let s = f32x4.splat(0);
  for (let i = 0; i < M; i++, p += stride) s = f32x4.add(s, v128.load(p));
  return s;
}

/** Σ over rows of (x - mu)², four lanes, from column block p. */
function sqDev4(M: i32, stride: usize, p: usize, mu: v128): v128 {
  let ss = f32x4.splat(0);
  for (let i = 0; i < M; i++, p += stride) {
    const d = f32x4.sub(v128.load(p), mu);
    ss = f32x4.add(ss, f32x4.mul(d, d));
  }
  return ss;
}

/**
 * Stores the first `r` lanes of four columns' mean, invStd = 1 / sqrt(ss / divisor + eps) and
 * unbiased variance ss / (M - 1), from their mean and squared deviations ss.
 */
function bnStatsStore(
  M: i32,
  mu: v128,
  ss: v128,
  eps: f32,
  divisor: f32,
  r: i32,
  mean: usize,
  invStd: usize,
  uvar: usize,
): void {
  const v = f32x4.add(f32x4.div(ss, f32x4.splat(divisor)), f32x4.splat(eps));
  storeLanes(mean, mu, r, 0);
  storeLanes(uvar, f32x4.div(ss, f32x4.splat(<f32>(M - 1))), r, 0);
  storeLanes(invStd, f32x4.div(f32x4.splat(1.0), f32x4.sqrt(v)), r, 0);
}

/** The statistics of 16 columns from x (four vector chains). */
function bnStats16(M: i32, N: i32, x: usize, eps: f32, divisor: f32, mean: usize, invStd: usize, uvar: usize): void {
  const stride = (<usize>N) << 2;
  const inv = invRows(M);
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0; // prettier-ignore
  let p = x;
  for (let i = 0; i < M; i++, p += stride) {
    s0 = f32x4.add(s0, v128.load(p));
    s1 = f32x4.add(s1, v128.load(p, 16));
    s2 = f32x4.add(s2, v128.load(p, 32));
    s3 = f32x4.add(s3, v128.load(p, 48));
  }
  const m0 = f32x4.mul(s0, inv), m1 = f32x4.mul(s1, inv); // prettier-ignore
  const m2 = f32x4.mul(s2, inv), m3 = f32x4.mul(s3, inv); // prettier-ignore
  let q0 = f32x4.splat(0), q1 = q0, q2 = q0, q3 = q0; // prettier-ignore
  p = x;
  for (let i = 0; i < M; i++, p += stride) {
    const d0 = f32x4.sub(v128.load(p), m0);
    const d1 = f32x4.sub(v128.load(p, 16), m1);
    const d2 = f32x4.sub(v128.load(p, 32), m2);
    const d3 = f32x4.sub(v128.load(p, 48), m3);
    q0 = f32x4.add(q0, f32x4.mul(d0, d0));
    q1 = f32x4.add(q1, f32x4.mul(d1, d1));
    q2 = f32x4.add(q2, f32x4.mul(d2, d2));
    q3 = f32x4.add(q3, f32x4.mul(d3, d3));
  }
  bnStatsStore(M, m0, q0, eps, divisor, 4, mean, invStd, uvar);
  bnStatsStore(M, m1, q1, eps, divisor, 4, mean + 16, invStd + 16, uvar + 16);
  bnStatsStore(M, m2, q2, eps, divisor, 4, mean + 32, invStd + 32, uvar + 32);
  bnStatsStore(M, m3, q3, eps, divisor, 4, mean + 48, invStd + 48, uvar + 48);
}

/** The statistics of the `r` (≤ 4 stored) columns from x. */
function bnStats4(
  M: i32,
  N: i32,
  x: usize,
  eps: f32,
  divisor: f32,
  r: i32,
  mean: usize,
  invStd: usize,
  uvar: usize,
): void {
  const stride = (<usize>N) << 2;
  const mu = f32x4.mul(colSum4(M, stride, x), invRows(M));
  bnStatsStore(M, mu, sqDev4(M, stride, x, mu), eps, divisor, r, mean, invStd, uvar);
}

/** xhat = (x - mean) · invStd and y = gamma · xhat + beta, row by row (in memory order), SIMD over the columns. */
function bnNormalize(
  M: i32,
  N: i32,
  x: usize,
  mean: usize,
  invStd: usize,
  gamma: usize,
  beta: usize,
  xhat: usize,
  y: usize,
): void {
  for (let i = 0; i < M; i++) {
    const row = (<usize>(i * N)) << 2;
    for (let j = 0; j < N; j += 4) {
      const jo = (<usize>j) << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(x + row + jo), v128.load(mean + jo)), v128.load(invStd + jo));
      storeLanes(xhat + row + jo, xh, N - j, 0);
      storeLanes(y + row + jo, f32x4.add(f32x4.mul(xh, v128.load(gamma + jo)), v128.load(beta + jo)), N - j, 0);
    }
  }
}

/**
 * Backward pass of {@link bnForward}:
 * dbeta = Σ dy, dgamma = Σ dy · xhat,
 * dx = gamma · invStd · (dy - dbeta / M - xhat · dgamma / divisor).
 */
export function bnBackward(
  M: i32,
  N: i32,
  dy: usize,
  xhat: usize,
  gamma: usize,
  invStd: usize,
  divisor: f32,
  dgamma: usize,
  dbeta: usize,
  dx: usize,
): void {
  for (let j = 0; j < N; j += 4) {
    const o = (<usize>j) << 2;
    bnBackward4(M, N, dy + o, xhat + o, gamma + o, invStd + o, divisor, N - j, dgamma + o, dbeta + o, dx + o);
  }
}

/** {@link bnBackward} of four columns (the first r stored). */
function bnBackward4(
  M: i32,
  N: i32,
  dy: usize,
  xhat: usize,
  gamma: usize,
  invStd: usize,
  divisor: f32,
  r: i32,
  dgamma: usize,
  dbeta: usize,
  dx: usize,
): void {
  const stride = (<usize>N) << 2;
  let sb = f32x4.splat(0), sg = sb; // prettier-ignore
  let o: usize = 0;
  for (let i = 0; i < M; i++, o += stride) {
    const g = v128.load(dy + o);
    sb = f32x4.add(sb, g);
    sg = f32x4.add(sg, f32x4.mul(g, v128.load(xhat + o)));
  }
  storeLanes(dbeta, sb, r, 0);
  storeLanes(dgamma, sg, r, 0);
  const scale = f32x4.mul(v128.load(gamma), v128.load(invStd));
  const mb = f32x4.mul(sb, invRows(M));
  const mg = f32x4.mul(sg, f32x4.splat(<f32>1.0 / divisor));
  o = 0;
  for (let i = 0; i < M; i++, o += stride) {
    const d = f32x4.sub(f32x4.sub(v128.load(dy + o), mb), f32x4.mul(v128.load(xhat + o), mg));
    storeLanes(dx + o, f32x4.mul(scale, d), r, 0);
  }
}

/**
 * Evaluation-mode batch norm with running statistics: per column
 * scale = gamma / sqrt(running + eps) (or gamma / running when `isStd`, the
 * running std of the lecture's MLP), y = (x - mean) · scale + beta. Writes the
 * scales and shifts to `scale` and `shift` [N].
 */
export function bnEval(
  M: i32,
  N: i32,
  x: usize,
  gamma: usize,
  beta: usize,
  mean: usize,
  running: usize,
  eps: f32,
  isStd: i32,
  scale: usize,
  shift: usize,
  y: usize,
): void {
  for (let j = 0; j < N; j++) {
    const jo = (<usize>j) << 2;
    const r = load<f32>(running + jo);
    const sc = load<f32>(gamma + jo) / (isStd ? r : Mathf.sqrt(r + eps));
    store<f32>(scale + jo, sc);
    store<f32>(shift + jo, load<f32>(beta + jo) - load<f32>(mean + jo) * sc);
  }
  const stride = (<usize>N) << 2;
  for (let i = 0; i < M; i++) {
    const row = <usize>i * stride;
    for (let j = 0; j < N; j += 4) {
      const jo = (<usize>j) << 2;
      const v = f32x4.add(f32x4.mul(v128.load(x + row + jo), v128.load(scale + jo)), v128.load(shift + jo));
      storeLanes(y + row + jo, v, N - j, 0);
    }
  }
}

/** running = (1 - m) · running + m · value, over n values. */
export function blend(n: i32, m: f32, value: usize, running: usize): void {
  const keep: f32 = <f32>1.0 - m;
  for (let k = 0; k < n; k++) {
    const o = (<usize>k) << 2;
    store<f32>(running + o, keep * load<f32>(running + o) + m * load<f32>(value + o));
  }
}

/** out = sqrt(v + eps), over n values. */
export function sqrtEps(n: i32, v: usize, eps: f32, out: usize): void {
  for (let k = 0; k < n; k++) {
    const o = (<usize>k) << 2;
    store<f32>(out + o, Mathf.sqrt(load<f32>(v + o) + eps));
  }
}

// ---------------------------------------------------------------------------
// cross-entropy

/**
 * Mean cross-entropy of logits z [M, N] against int32 targets y [M]; writes
 * its gradient (softmax(z) - onehot(y)) / M to dz [M, N] and returns the loss.
 */
export function crossEntropy(M: i32, N: i32, z: usize, y: usize, dz: usize): f32 {
  let total: f64 = 0;
  const invM = <f32>1.0 / <f32>M;
  for (let i = 0; i < M; i++) {
    const row = z + ((<usize>(i * N)) << 2);
    const drow = dz + ((<usize>(i * N)) << 2);
    let mx = load<f32>(row);
    for (let j = 1; j < N; j++) mx = max(mx, load<f32>(row + ((<usize>j) << 2)));
    const sum = expRow(N, row, drow, mx);
    const target = load<i32>(y + ((<usize>i) << 2));
    const to = (<usize>target) << 2;
    total += <f64>(Mathf.log(sum) + mx - load<f32>(row + to));
    const scale = invM / sum;
    for (let j = 0; j < N; j++) {
      const o = (<usize>j) << 2;
      store<f32>(drow + o, load<f32>(drow + o) * scale);
    }
    store<f32>(drow + to, load<f32>(drow + to) - invM);
  }
  return <f32>(total / <f64>M);
}
