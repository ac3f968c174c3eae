// Matrix products: gemm (every Linear, attention's products, the recurrent
// steps), and the transposes and column sums around them.
//
// Each element of C is summed in one fixed order, whatever the shapes, the
// tiling, or the part of C a call computes: start from the bias (or 0), add
// a(i, k)·b(k, j) for k = 0, 1, ... of a block of K_BLOCK, add what C held
// last when accumulating (a long K adds each later block's sum to C that way).
// So a split of C over rows or columns gives the same bits as one call, and the
// plain build gives the bits of the sequential float32 loop
// s = fround(s + fround(a·b)). The relaxed build fuses each multiply-add (madd).

import { madd, storeLanes } from "./simd";

/** Rows of B (the shared dimension) multiplied per pass, so that a pass of B stays in cache. */
const K_BLOCK = 256;

/** Bytes of n floats. */
function fb(n: i32): usize {
  return (<usize>n) << 2;
}

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
    gemmBlock(M, N, K, a, sar, sac, b, ldb, c, ldc, acc, bias);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += K_BLOCK) {
    const kb = min(K_BLOCK, K - k0);
    const ak = a + fb(k0 * sac);
    const bk = b + fb(k0 * ldb);
    if (k0 == 0) gemmBlock(M, N, kb, ak, sar, sac, bk, ldb, c, ldc, acc, bias);
    else gemmBlock(M, N, kb, ak, sar, sac, bk, ldb, c, ldc, 1, 0);
  }
}

/**
 * {@link gemm} for one block of the shared dimension. Four rows of C at a time, 8 columns at a
 * time in 8 vector accumulators: each B vector serves four rows, each A value (broadcast from
 * memory) two vectors. That is what fits V8's registers: bigger tiles spill. The inner loop walks
 * five pointers (B's row, A's four rows): written as offsets from fixed bases, V8 recomputed the
 * bases in the loop and spilled one (measured with callgrind: 20% more instructions). The loop is
 * written here, not called as {@link tile4x8} with 8 columns: as a call every product ran about
 * 20% slower, the shared dimension's long ones too (a BoW's 512 x 64 x 64, 84 → 103 µs).
 * The last 5 to 7 columns go the same way ({@link tile4x8}: a product of N = 30, the lecture
 * MLP's embedding gradient, 10.4 → 8.4 µs, where two 4 x 4 tiles took them), the last 1 to 4 in
 * a 4 x 4 tile (eight rows at a time in 8 accumulators ran 12% slower on N = 27). Then the last
 * M % 4 rows one by one.
 */
function gemmBlock(
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
  const sa = fb(sac);
  const sr = fb(sar);
  const sb = fb(ldb);
  const sc = fb(ldc);
  const kb = <usize>K * sb; // bytes of B a product reads down a column
  const N8 = N & ~7; // columns in whole tiles of 8
  const rest = N - N8;
  const M4 = M & ~3;
  for (let i = 0; i < M4; i += 4) {
    const ai = a + <usize>i * sr;
    const ci = c + <usize>i * sc;
    for (let j = 0; j < N8; j += 8) {
      const jo = fb(j);
      let c00 = bias ? v128.load(bias + jo) : f32x4.splat(0);
      let c01 = bias ? v128.load(bias + jo, 16) : f32x4.splat(0);
      let c10 = c00;
      let c11 = c01;
      let c20 = c00;
      let c21 = c01;
      let c30 = c00;
      let c31 = c01;
      let pb = b + jo;
      const end = pb + kb;
      let a0 = ai;
      let a1 = a0 + sr;
      let a2 = a1 + sr;
      let a3 = a2 + sr;
      while (pb < end) {
        const b0 = v128.load(pb);
        const b1 = v128.load(pb, 16);
        let x = v128.load32_splat(a0);
        c00 = madd(x, b0, c00);
        c01 = madd(x, b1, c01);
        x = v128.load32_splat(a1);
        c10 = madd(x, b0, c10);
        c11 = madd(x, b1, c11);
        x = v128.load32_splat(a2);
        c20 = madd(x, b0, c20);
        c21 = madd(x, b1, c21);
        x = v128.load32_splat(a3);
        c30 = madd(x, b0, c30);
        c31 = madd(x, b1, c31);
        pb += sb;
        a0 += sa;
        a1 += sa;
        a2 += sa;
        a3 += sa;
      }
      const p = ci + jo;
      store8(p, c00, c01, acc);
      store8(p + sc, c10, c11, acc);
      store8(p + 2 * sc, c20, c21, acc);
      store8(p + 3 * sc, c30, c31, acc);
    }
    if (rest > 4) tile4x8(kb, ai, sr, sa, b + fb(N8), sb, ci + fb(N8), sc, acc, bias ? bias + fb(N8) : 0, rest);
  }
  if (rest > 0 && rest <= 4) {
    const jo = fb(N8);
    for (let i = 0; i < M4; i += 4) {
      tile4x4(kb, a + <usize>i * sr, sr, sa, b + jo, sb, c + <usize>i * sc + jo, sc, acc, bias ? bias + jo : 0, rest);
    }
  }
  for (let i = M4; i < M; i++) row1(N, kb, a + <usize>i * sr, sa, b, sb, c + <usize>i * sc, acc, bias);
}

/**
 * C[4, r] at c for the last r = 5 to 7 columns, as {@link gemmBlock}'s tiles of 8 (reading a few
 * floats past B's row, which the buffers leave room for, and storing only the r columns) from A's
 * four rows at a0 (sr bytes apart) and B's columns at pb, kb bytes of B down.
 */
function tile4x8(
  kb: usize,
  a0: usize,
  sr: usize,
  sa: usize,
  pb: usize,
  sb: usize,
  c: usize,
  sc: usize,
  acc: i32,
  bias: usize,
  r: i32,
): void {
  let c00 = bias ? v128.load(bias) : f32x4.splat(0);
  let c01 = bias ? v128.load(bias, 16) : f32x4.splat(0);
  let c10 = c00;
  let c11 = c01;
  let c20 = c00;
  let c21 = c01;
  let c30 = c00;
  let c31 = c01;
  const end = pb + kb;
  let a1 = a0 + sr;
  let a2 = a1 + sr;
  let a3 = a2 + sr;
  while (pb < end) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let x = v128.load32_splat(a0);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(a1);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(a2);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(a3);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    pb += sb;
    a0 += sa;
    a1 += sa;
    a2 += sa;
    a3 += sa;
  }
  store5to7(c, c00, c01, acc, r);
  store5to7(c + sc, c10, c11, acc, r);
  store5to7(c + 2 * sc, c20, c21, acc, r);
  store5to7(c + 3 * sc, c30, c31, acc, r);
}

/**
 * C[4, min(r, 4)] at c from A's four rows at a0 (sr bytes apart) and B's 4
 * columns at pb, kb bytes of B down: the last 1 to 3 columns as a full vector
 * too (reading a few floats past B's row, which the buffers leave room for),
 * storing only the valid lanes.
 */
function tile4x4(
  kb: usize,
  a0: usize,
  sr: usize,
  sa: usize,
  pb: usize,
  sb: usize,
  c: usize,
  sc: usize,
  acc: i32,
  bias: usize,
  r: i32,
): void {
  let a1 = a0 + sr;
  let a2 = a1 + sr;
  let a3 = a2 + sr;
  let c0 = bias ? v128.load(bias) : f32x4.splat(0);
  let c1 = c0;
  let c2 = c0;
  let c3 = c0;
  const end = pb + kb;
  while (pb < end) {
    const b0 = v128.load(pb);
    c0 = madd(v128.load32_splat(a0), b0, c0);
    c1 = madd(v128.load32_splat(a1), b0, c1);
    c2 = madd(v128.load32_splat(a2), b0, c2);
    c3 = madd(v128.load32_splat(a3), b0, c3);
    pb += sb;
    a0 += sa;
    a1 += sa;
    a2 += sa;
    a3 += sa;
  }
  storeLanes(c, c0, r, acc);
  storeLanes(c + sc, c1, r, acc);
  storeLanes(c + 2 * sc, c2, r, acc);
  storeLanes(c + 3 * sc, c3, r, acc);
}

/** One row of C from A's row at ai: 8 columns at a time, then 4 (the last as in {@link tile4x4}). */
function row1(N: i32, kb: usize, ai: usize, sa: usize, b: usize, sb: usize, c: usize, acc: i32, bias: usize): void {
  let j = 0;
  for (; j + 8 <= N; j += 8) {
    const jo = fb(j);
    let c0 = bias ? v128.load(bias + jo) : f32x4.splat(0);
    let c1 = bias ? v128.load(bias + jo, 16) : f32x4.splat(0);
    let pb = b + jo;
    const end = pb + kb;
    for (let pa = ai; pb < end; pa += sa) {
      const x = v128.load32_splat(pa);
      c0 = madd(x, v128.load(pb), c0);
      c1 = madd(x, v128.load(pb, 16), c1);
      pb += sb;
    }
    store8(c + jo, c0, c1, acc);
  }
  for (; j < N; j += 4) {
    const jo = fb(j);
    let c0 = bias ? v128.load(bias + jo) : f32x4.splat(0);
    let pb = b + jo;
    const end = pb + kb;
    for (let pa = ai; pb < end; pa += sa) {
      c0 = madd(v128.load32_splat(pa), v128.load(pb), c0);
      pb += sb;
    }
    storeLanes(c + jo, c0, N - j, acc);
  }
}

/** Stores 8 floats at p, added to what is there when acc. */
function store8(p: usize, v0: v128, v1: v128, acc: i32): void {
  if (acc) {
    v0 = f32x4.add(v0, v128.load(p));
    v1 = f32x4.add(v1, v128.load(p, 16));
  }
  v128.store(p, v0);
  v128.store(p, v1, 16);
}

/** Stores the first r (5 to 7) of 8 floats at p, added to what is there when acc. */
function store5to7(p: usize, v0: v128, v1: v128, acc: i32, r: i32): void {
  storeLanes(p, v0, 4, acc);
  storeLanes(p + 16, v1, r - 4, acc);
}

/**
 * dst[cols, rows] = src[rows, cols]ᵀ, rows of src lds values apart and rows of
 * dst ldd apart (so a call may take a block of columns: a part of a split).
 * In 4 x 4 blocks of SIMD shuffles, 16 rows of src at a time: each row of dst
 * then gets a whole cache line at once, where 4 rows at a time wrote each of
 * dst's lines in four passes, and dst (a weight's transpose) falls out of the
 * L1 cache between them.
 */
export function transpose(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  const rs = fb(lds);
  const ds = fb(ldd);
  const c4 = cols & ~3;
  let i = 0;
  for (; i + 16 <= rows; i += 16) {
    for (let j = 0; j < c4; j += 4) {
      const s = src + <usize>i * rs + fb(j);
      const d = dst + <usize>j * ds + fb(i);
      transpose4(s, rs, d, ds);
      transpose4(s + 4 * rs, rs, d + 16, ds);
      transpose4(s + 8 * rs, rs, d + 32, ds);
      transpose4(s + 12 * rs, rs, d + 48, ds);
    }
  }
  for (; i + 4 <= rows; i += 4) {
    for (let j = 0; j < c4; j += 4) transpose4(src + <usize>i * rs + fb(j), rs, dst + <usize>j * ds + fb(i), ds);
  }
  transposeScalar(i, rows, 0, c4, src, rs, dst, ds); // the last rows % 4 rows
  transposeScalar(0, rows, c4, cols, src, rs, dst, ds); // the last cols % 4 columns
}

/** The 4 x 4 block of src at s (rows rs bytes apart), transposed to d (rows ds bytes apart). */
function transpose4(s: usize, rs: usize, d: usize, ds: usize): void {
  const r0 = v128.load(s);
  const r1 = v128.load(s + rs);
  const r2 = v128.load(s + 2 * rs);
  const r3 = v128.load(s + 3 * rs);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(d + ds, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * ds, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * ds, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** Rows [r0, r1) x columns [c0, c1) of src transposed into dst, value by value. */
function transposeScalar(r0: i32, r1: i32, c0: i32, c1: i32, src: usize, rs: usize, dst: usize, ds: usize): void {
  for (let i = r0; i < r1; i++) {
    for (let j = c0; j < c1; j++) store<f32>(dst + <usize>j * ds + fb(i), load<f32>(src + <usize>i * rs + fb(j)));
  }
}

/**
 * out[N] = (acc ? out : 0) + Σ_i x[i, :] over M rows of x, ld floats apart (a block of columns of
 * a wider x). In blocks of K_BLOCK rows as gemm takes its shared dimension: each block summed from
 * 0 in row order, then added to out (a bias's gradient split by rows with its weight's, one block a
 * thread, gives these bits).
 */
export function colSum(M: i32, N: i32, x: usize, ld: i32, out: usize, acc: i32): void {
  for (let i0 = 0; i0 < M; i0 += K_BLOCK) {
    colSumBlock(min(K_BLOCK, M - i0), N, x + fb(i0 * ld), ld, out, i0 > 0 ? 1 : acc);
  }
}

function colSumBlock(M: i32, N: i32, x: usize, ld: i32, out: usize, acc: i32): void {
  let j = 0;
  const sx = fb(ld);
  for (; j + 4 <= N; j += 4) {
    const jo = fb(j);
    let s = f32x4.splat(0);
    let p = x + jo;
    for (let i = 0; i < M; i++) {
      s = f32x4.add(s, v128.load(p));
      p += sx;
    }
    v128.store(out + jo, acc ? f32x4.add(s, v128.load(out + jo)) : s);
  }
  for (; j < N; j++) {
    const jo = fb(j);
    let s: f32 = 0;
    let p = x + jo;
    for (let i = 0; i < M; i++) {
      s += load<f32>(p);
      p += sx;
    }
    store<f32>(out + jo, acc ? s + load<f32>(out + jo) : s);
  }
}
