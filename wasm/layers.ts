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

/** dTable[ix[k], :] += dOut[k, :] for the B·T looked-up rows (dTable zeroed first). */
export function embedBackward(B: i32, T: i32, D: i32, V: i32, ix: usize, dOut: usize, dTable: usize): void {
  memory.fill(dTable, 0, (<usize>(V * D)) << 2);
  const n = B * T;
  let pd = dOut;
  for (let k = 0; k < n; k++) {
    const pt = dTable + <usize>(load<i32>(ix + ((<usize>k) << 2)) * D) * 4;
    for (let d = 0; d < D; d++) {
      const o = (<usize>d) << 2;
      store<f32>(pt + o, load<f32>(pt + o) + load<f32>(pd + o));
    }
    pd += (<usize>D) << 2;
  }
}

// ---------------------------------------------------------------------------
// batch normalization over the rows of x [M, N], column by column

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
  const inv = <f32>1.0 / <f32>M;
  const stride = (<usize>N) << 2;
  for (let j = 0; j < N; j++) {
    const jo = (<usize>j) << 2;
    let s: f32 = 0;
    let p = x + jo;
    for (let i = 0; i < M; i++) {
      s += load<f32>(p);
      p += stride;
    }
    const mu = s * inv;
    let ss: f32 = 0;
    p = x + jo;
    for (let i = 0; i < M; i++) {
      const d = load<f32>(p) - mu;
      ss += d * d;
      p += stride;
    }
    store<f32>(mean + jo, mu);
    store<f32>(unbiasedVar + jo, ss / <f32>(M - 1));
    store<f32>(invStd + jo, <f32>1.0 / Mathf.sqrt(ss / divisor + eps));
  }
  // normalize row by row, SIMD over the columns
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const jo = (<usize>j) << 2;
    const mu = v128.load(mean + jo);
    const is = v128.load(invStd + jo);
    const g = v128.load(gamma + jo);
    const bt = v128.load(beta + jo);
    let o = jo;
    for (let i = 0; i < M; i++) {
      const xh = f32x4.mul(f32x4.sub(v128.load(x + o), mu), is);
      v128.store(xhat + o, xh);
      v128.store(y + o, f32x4.add(f32x4.mul(xh, g), bt));
      o += stride;
    }
  }
  for (; j < N; j++) {
    const jo = (<usize>j) << 2;
    const mu = load<f32>(mean + jo);
    const is = load<f32>(invStd + jo);
    const g = load<f32>(gamma + jo);
    const bt = load<f32>(beta + jo);
    let o = jo;
    for (let i = 0; i < M; i++) {
      const xh = (load<f32>(x + o) - mu) * is;
      store<f32>(xhat + o, xh);
      store<f32>(y + o, xh * g + bt);
      o += stride;
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
  const stride = (<usize>N) << 2;
  const invM = <f32>1.0 / <f32>M;
  const invD = <f32>1.0 / divisor;
  for (let j = 0; j < N; j++) {
    const jo = (<usize>j) << 2;
    let sb: f32 = 0;
    let sg: f32 = 0;
    let o = jo;
    for (let i = 0; i < M; i++) {
      const g = load<f32>(dy + o);
      sb += g;
      sg += g * load<f32>(xhat + o);
      o += stride;
    }
    store<f32>(dbeta + jo, sb);
    store<f32>(dgamma + jo, sg);
    const scale = load<f32>(gamma + jo) * load<f32>(invStd + jo);
    const mb = sb * invM;
    const mg = sg * invD;
    o = jo;
    for (let i = 0; i < M; i++) {
      store<f32>(dx + o, scale * (load<f32>(dy + o) - mb - load<f32>(xhat + o) * mg));
      o += stride;
    }
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
