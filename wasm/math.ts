// Vector math shared by the kernel files: exp of non-positive values and
// tanh, four lanes at a time, float32 throughout.
//
// Their constants are read from memory (splatAt): V8 builds a v128 constant
// with three instructions, through a general register, at every use, and
// loads one from memory in one.

import { madd } from "./simd";

/** The float32 at p in every lane. */
export function splatAt(p: usize): v128 {
  return v128.load32_splat(p);
}

const EXP_MIN = memory.data<f32>([-87.0]);
const LOG2E = memory.data<f32>([1.4426950408889634]);
const ROUNDER = memory.data<f32>([12582912.0]); // 1.5·2^23
const MINUS_LN2_HI = memory.data<f32>([-0.693145751953125]);
const MINUS_LN2_LO = memory.data<f32>([-1.428606765330187e-6]);
// exp(r)'s Taylor coefficients, 1/6! down to 1/0!
const EXP_P = memory.data<f32>([1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]);
// (exp(r) - 1 - r) / r²'s Taylor coefficients, 1/7! down to 1/2!
const EXPM1_P = memory.data<f32>([1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5]);
const MINUS_TWO = memory.data<f32>([-2.0]);
const ONE = memory.data<f32>([1.0]);
const TWO = memory.data<f32>([2.0]);
const EXP_BIAS = memory.data<i32>([0x4b400000 - 127]); // the bits of 1.5·2^23, less 127
const SIGN = memory.data<i32>([0x80000000]);

// x = n ln2 + r for x <= 0 down to about -87 (clamped there), |r| <= ln2 / 2. The
// multiply-adds here and in the polynomials below are fused in the relaxed-SIMD build (madd).

/** n·1.5·2^23-shifted: x / ln2 rounded to a whole number n, held in the low mantissa bits. */
function shiftedN(x: v128): v128 {
  // pmax (a < b ? b : a) is one instruction where max's NaN rules take several; adding
  // 1.5·2^23 rounds to nearest even like f32x4.nearest, without a float-to-int conversion
  return madd(f32x4.pmax(x, splatAt(EXP_MIN)), splatAt(LOG2E), splatAt(ROUNDER));
}

/** r = x - n ln2 (ln2 in two parts, so that n ln2's high part is exact). */
function reduced(x: v128, shifted: v128): v128 {
  const n = f32x4.sub(shifted, splatAt(ROUNDER));
  const xc = f32x4.pmax(x, splatAt(EXP_MIN));
  return madd(n, splatAt(MINUS_LN2_LO), madd(n, splatAt(MINUS_LN2_HI), xc));
}

/** 2^n from the shifted n: the bits of 1.5·2^23 + n are 0x4B400000 + n, less 0x4B400000 - 127 is n + 127. */
function twoToN(shifted: v128): v128 {
  return i32x4.shl(i32x4.sub(shifted, splatAt(EXP_BIAS)), 23);
}

/** exp(x) for x <= 0 down to about -87: 2^n times a degree-6 Taylor polynomial of exp(r). */
export function expNeg4(x: v128): v128 {
  const shifted = shiftedN(x);
  const r = reduced(x, shifted);
  let p = splatAt(EXP_P);
  p = madd(p, r, splatAt(EXP_P + 4));
  p = madd(p, r, splatAt(EXP_P + 8));
  p = madd(p, r, splatAt(EXP_P + 12));
  p = madd(p, r, splatAt(EXP_P + 16));
  p = madd(p, r, splatAt(EXP_P + 20));
  p = madd(p, r, splatAt(EXP_P + 24));
  return f32x4.mul(p, twoToN(shifted));
}

/**
 * exp(x) - 1 for x <= 0 down to about -87: exp(r) - 1 = r + r²·q(r) (Taylor to r^7), then
 * 2^n (exp(r) - 1) + (2^n - 1). Where n = 0 (|x| < ln2 / 2) that is r + r²·q(r) itself,
 * accurate relative to its own size down to the smallest x; below, no cancellation.
 */
function expm1Neg4(x: v128): v128 {
  const shifted = shiftedN(x);
  const r = reduced(x, shifted);
  // written out like expNeg4's polynomial: as a loop over the coefficients both ran 25% slower (measured)
  let q = splatAt(EXPM1_P);
  q = madd(q, r, splatAt(EXPM1_P + 4));
  q = madd(q, r, splatAt(EXPM1_P + 8));
  q = madd(q, r, splatAt(EXPM1_P + 12));
  q = madd(q, r, splatAt(EXPM1_P + 16));
  q = madd(q, r, splatAt(EXPM1_P + 20));
  const em = madd(f32x4.mul(r, r), q, r);
  const s = twoToN(shifted);
  return madd(s, em, f32x4.sub(s, splatAt(ONE)));
}

/**
 * tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|), as -m / (2 + m) with m = e - 1
 * from expm1Neg4: no cancellation near 0, so one formula serves every x (tiny ones come out
 * exact). About half the operations of an exp and a separate polynomial near 0.
 */
export function tanh4(x: v128): v128 {
  const m = expm1Neg4(f32x4.mul(f32x4.abs(x), splatAt(MINUS_TWO)));
  const mag = f32x4.abs(f32x4.div(m, f32x4.add(m, splatAt(TWO)))); // m <= 0: the quotient's size
  return v128.or(mag, v128.and(x, splatAt(SIGN))); // the sign of x
}

/** out[j] = exp(row[j] - mx) for N values; returns their sum (the softmax of a row before its division). */
export function expRow(N: i32, row: usize, out: usize, mx: f32): f32 {
  const mv = f32x4.splat(mx);
  let sum: f32 = 0;
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const o = (<usize>j) << 2;
    const e = expNeg4(f32x4.sub(v128.load(row + o), mv));
    v128.store(out + o, e);
    sum += f32x4.extract_lane(e, 0) + f32x4.extract_lane(e, 1) + f32x4.extract_lane(e, 2) + f32x4.extract_lane(e, 3);
  }
  for (; j < N; j++) {
    const o = (<usize>j) << 2;
    const e = Mathf.exp(load<f32>(row + o) - mx);
    store<f32>(out + o, e);
    sum += e;
  }
  return sum;
}
