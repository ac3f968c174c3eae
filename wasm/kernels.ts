// AssemblyScript source of the fused training kernels (compiled to
// wasm/build/kernels.wasm by `npm run setup`; see wasm/README.md).
//
// Every function works on float32 (or int32) buffers addressed by byte
// offsets into this module's linear memory, which lib/engines/kernels.ts lays out.
// Matrices are row-major. The loops use 128-bit SIMD (f32x4) along the
// contiguous axis; the last few columns are either full vectors of which only
// the valid lanes are stored (gemm) or scalar code.
//
// This file is the module's entry: the kernels of makemore.py's sequence
// models live in the files it re-exports at the end.

import { expRow, tanh4 } from "./math";

// ---------------------------------------------------------------------------
// matrix products

/** Rows of B (the shared dimension) multiplied per pass, so that a pass of B stays in cache. */
const K_BLOCK = 256;

/**
 * C[M, N] = bias + (acc ? C : 0) + A · B.
 * A(i, k) is read at a + 4 (i·sar + k·sac), so A may be transposed (sar = 1).
 * B is row-major with leading dimension ldb, C with ldc. bias is a [N] vector
 * or 0 for none. A long shared dimension (a weight gradient over a full batch)
 * is taken in blocks of K_BLOCK, accumulating into C.
 */
export function gemm(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  sar: i32,
  sac: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  acc: i32,
  bias: usize,
): void {
  if (K <= K_BLOCK) {
    gemmPanel(M, N, K, a, sar, sac, b, ldb, c, ldc, acc, bias);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += K_BLOCK) {
    const kb = min(K_BLOCK, K - k0);
    const ak = a + ((<usize>(k0 * sac)) << 2);
    const bk = b + ((<usize>(k0 * ldb)) << 2);
    if (k0 == 0) gemmPanel(M, N, kb, ak, sar, sac, bk, ldb, c, ldc, acc, bias);
    else gemmPanel(M, N, kb, ak, sar, sac, bk, ldb, c, ldc, 1, 0);
  }
}

/** {@link gemm} for one block of the shared dimension. */
function gemmPanel(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  sar: i32,
  sac: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  acc: i32,
  bias: usize,
): void {
  const sa = (<usize>sac) << 2;
  const sb = (<usize>ldb) << 2;
  const sc = (<usize>ldc) << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + ((<usize>(i * sar)) << 2);
    const a1 = a0 + ((<usize>sar) << 2);
    const a2 = a1 + ((<usize>sar) << 2);
    const a3 = a2 + ((<usize>sar) << 2);
    const pc = c + ((<usize>(i * ldc)) << 2);
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const jo = (<usize>j) << 2;
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      if (bias) {
        c00 = v128.load(bias + jo);
        c01 = v128.load(bias + jo, 16);
      }
      let c10 = c00;
      let c11 = c01;
      let c20 = c00;
      let c21 = c01;
      let c30 = c00;
      let c31 = c01;
      let pb = b + jo;
      let off: usize = 0;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(pb);
        const b1 = v128.load(pb, 16);
        let x = f32x4.splat(load<f32>(a0 + off));
        c00 = f32x4.add(c00, f32x4.mul(x, b0));
        c01 = f32x4.add(c01, f32x4.mul(x, b1));
        x = f32x4.splat(load<f32>(a1 + off));
        c10 = f32x4.add(c10, f32x4.mul(x, b0));
        c11 = f32x4.add(c11, f32x4.mul(x, b1));
        x = f32x4.splat(load<f32>(a2 + off));
        c20 = f32x4.add(c20, f32x4.mul(x, b0));
        c21 = f32x4.add(c21, f32x4.mul(x, b1));
        x = f32x4.splat(load<f32>(a3 + off));
        c30 = f32x4.add(c30, f32x4.mul(x, b0));
        c31 = f32x4.add(c31, f32x4.mul(x, b1));
        pb += sb;
        off += sa;
      }
      const p0 = pc + jo;
      const p1 = p0 + sc;
      const p2 = p1 + sc;
      const p3 = p2 + sc;
      if (acc) {
        c00 = f32x4.add(c00, v128.load(p0));
        c01 = f32x4.add(c01, v128.load(p0, 16));
        c10 = f32x4.add(c10, v128.load(p1));
        c11 = f32x4.add(c11, v128.load(p1, 16));
        c20 = f32x4.add(c20, v128.load(p2));
        c21 = f32x4.add(c21, v128.load(p2, 16));
        c30 = f32x4.add(c30, v128.load(p3));
        c31 = f32x4.add(c31, v128.load(p3, 16));
      }
      v128.store(p0, c00);
      v128.store(p0, c01, 16);
      v128.store(p1, c10);
      v128.store(p1, c11, 16);
      v128.store(p2, c20);
      v128.store(p2, c21, 16);
      v128.store(p3, c30);
      v128.store(p3, c31, 16);
    }
    // then 4 columns at a time; the last 1 to 3 columns as full vectors too (reading a few
    // floats past the row, which the buffers leave room for), storing only the valid lanes
    for (; j < N; j += 4) {
      const jo = (<usize>j) << 2;
      let c0 = bias ? v128.load(bias + jo) : f32x4.splat(0);
      let c1 = c0;
      let c2 = c0;
      let c3 = c0;
      let pb = b + jo;
      let off: usize = 0;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(pb);
        c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + off)), b0));
        c1 = f32x4.add(c1, f32x4.mul(f32x4.splat(load<f32>(a1 + off)), b0));
        c2 = f32x4.add(c2, f32x4.mul(f32x4.splat(load<f32>(a2 + off)), b0));
        c3 = f32x4.add(c3, f32x4.mul(f32x4.splat(load<f32>(a3 + off)), b0));
        pb += sb;
        off += sa;
      }
      const p0 = pc + jo;
      const r = N - j;
      storeLanes(p0, c0, r, acc);
      storeLanes(p0 + sc, c1, r, acc);
      storeLanes(p0 + 2 * sc, c2, r, acc);
      storeLanes(p0 + 3 * sc, c3, r, acc);
    }
  }
  // the last M % 4 rows, one at a time
  for (; i < M; i++) {
    const a0 = a + ((<usize>(i * sar)) << 2);
    const pc = c + ((<usize>(i * ldc)) << 2);
    for (let j = 0; j < N; j += 4) {
      const jo = (<usize>j) << 2;
      let c0 = bias ? v128.load(bias + jo) : f32x4.splat(0);
      let pb = b + jo;
      let off: usize = 0;
      for (let k = 0; k < K; k++) {
        c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + off)), v128.load(pb)));
        pb += sb;
        off += sa;
      }
      storeLanes(pc + jo, c0, N - j, acc);
    }
  }
}

/** Stores the first min(r, 4) lanes of v at p, added to what is there when acc. */
function storeLanes(p: usize, v: v128, r: i32, acc: i32): void {
  if (r >= 4) {
    v128.store(p, acc ? f32x4.add(v, v128.load(p)) : v);
    return;
  }
  let x = f32x4.extract_lane(v, 0);
  if (acc) x += load<f32>(p);
  store<f32>(p, x);
  if (r > 1) {
    x = f32x4.extract_lane(v, 1);
    if (acc) x += load<f32>(p, 4);
    store<f32>(p, x, 4);
  }
  if (r > 2) {
    x = f32x4.extract_lane(v, 2);
    if (acc) x += load<f32>(p, 8);
    store<f32>(p, x, 8);
  }
}

/** dst[cols, rows] = src[rows, cols]ᵀ, in 4 x 4 blocks of SIMD shuffles. */
export function transpose(rows: i32, cols: i32, src: usize, dst: usize): void {
  const rs = (<usize>cols) << 2; // bytes per source row
  const ds = (<usize>rows) << 2; // bytes per destination row
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const s0 = src + <usize>i * rs;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const jo = (<usize>j) << 2;
      const r0 = v128.load(s0 + jo);
      const r1 = v128.load(s0 + rs + jo);
      const r2 = v128.load(s0 + 2 * rs + jo);
      const r3 = v128.load(s0 + 3 * rs + jo);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d0 = dst + <usize>j * ds + ((<usize>i) << 2);
      v128.store(d0, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(d0 + ds, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(d0 + 2 * ds, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(d0 + 3 * ds, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
    for (; j < cols; j++) {
      for (let r = 0; r < 4; r++) {
        store<f32>(dst + <usize>j * ds + ((<usize>(i + r)) << 2), load<f32>(s0 + <usize>r * rs + ((<usize>j) << 2)));
      }
    }
  }
  for (; i < rows; i++) {
    const ps = src + <usize>i * rs;
    for (let j = 0; j < cols; j++) {
      store<f32>(dst + <usize>j * ds + ((<usize>i) << 2), load<f32>(ps + ((<usize>j) << 2)));
    }
  }
}

/** out[N] = (acc ? out : 0) + Σ_i x[i, :] over M rows. */
export function colSum(M: i32, N: i32, x: usize, out: usize, acc: i32): void {
  let j = 0;
  const sx = (<usize>N) << 2;
  for (; j + 4 <= N; j += 4) {
    const jo = (<usize>j) << 2;
    let s = acc ? v128.load(out + jo) : f32x4.splat(0);
    let p = x + jo;
    for (let i = 0; i < M; i++) {
      s = f32x4.add(s, v128.load(p));
      p += sx;
    }
    v128.store(out + jo, s);
  }
  for (; j < N; j++) {
    const jo = (<usize>j) << 2;
    let s: f32 = acc ? load<f32>(out + jo) : 0;
    let p = x + jo;
    for (let i = 0; i < M; i++) {
      s += load<f32>(p);
      p += sx;
    }
    store<f32>(out + jo, s);
  }
}

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

// ---------------------------------------------------------------------------

/** First byte after this module's static data: where lib/engines/kernels.ts starts its buffers. */
export function heapBase(): usize {
  return __heap_base;
}

export * from "./sequence";
export * from "./attention";
export * from "./adamw";
export * from "./recurrent";
