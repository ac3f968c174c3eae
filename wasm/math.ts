// Vector math shared by the kernel files: exp of non-positive values and
// tanh, four lanes at a time, float32 throughout.
//
// Their constants are read from memory (splatAt): V8 builds a v128 constant
// with three instructions, through a general register, at every use, and
// loads one from memory in one.

/** The float32 at p in every lane. */
export function splatAt(p: usize): v128 {
  return v128.load32_splat(p);
}

const EXP_MIN = memory.data<f32>([-87.0]);
const LOG2E = memory.data<f32>([1.4426950408889634]);
const ROUNDER = memory.data<f32>([12582912.0]); // 1.5·2^23
const LN2_HI = memory.data<f32>([0.693145751953125]);
const LN2_LO = memory.data<f32>([1.428606765330187e-6]);
// exp(r)'s Taylor coefficients, 1/6! down to 1/0!
const EXP_P = memory.data<f32>([1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]);
// tanh's odd Taylor coefficients of x^11 down to x^3 (over x^2 steps)
const TANH_P = memory.data<f32>([-1382.0 / 155925.0, 62.0 / 2835.0, -17.0 / 315.0, 2.0 / 15.0, -1.0 / 3.0]);
const MINUS_TWO = memory.data<f32>([-2.0]);
const ONE = memory.data<f32>([1.0]);
const TANH_SMALL = memory.data<f32>([0.3]);
const EXP_BIAS = memory.data<i32>([0x4b400000 - 127]); // the bits of 1.5·2^23, less 127
const SIGN = memory.data<i32>([0x80000000]);

// exp(x) for x <= 0 down to about -87: x = n ln2 + r with |r| <= ln2 / 2,
// a degree-6 Taylor polynomial for exp(r), and 2^n built in the exponent bits.
export function expNeg4(x: v128): v128 {
  // pmax (a < b ? b : a) is one instruction where max's NaN rules take several
  const xc = f32x4.pmax(x, splatAt(EXP_MIN));
  // n = round(x / ln2), to nearest even like f32x4.nearest, by adding 1.5·2^23: its low
  // mantissa bits then hold n, which builds 2^n below without a float-to-int conversion
  const rounder = splatAt(ROUNDER);
  const shifted = f32x4.add(f32x4.mul(xc, splatAt(LOG2E)), rounder);
  const n = f32x4.sub(shifted, rounder);
  let r = f32x4.sub(xc, f32x4.mul(n, splatAt(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, splatAt(LN2_LO)));
  let p = splatAt(EXP_P);
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 4));
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 8));
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 12));
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 16));
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 20));
  p = f32x4.add(f32x4.mul(p, r), splatAt(EXP_P + 24));
  // the bits of 1.5·2^23 + n are 0x4B400000 + n: their difference from 0x4B400000 - 127 is n + 127
  const scale = i32x4.shl(i32x4.sub(shifted, splatAt(EXP_BIAS)), 23);
  return f32x4.mul(p, scale);
}

// tanh(x): an odd Taylor polynomial below |x| = 0.3, else (1 - t) / (1 + t)
// with t = exp(-2|x|), which has no cancellation there.
export function tanh4(x: v128): v128 {
  const ax = f32x4.abs(x);
  const t = expNeg4(f32x4.mul(ax, splatAt(MINUS_TWO)));
  const one = splatAt(ONE);
  const big = f32x4.div(f32x4.sub(one, t), f32x4.add(one, t));
  const x2 = f32x4.mul(x, x);
  let p = splatAt(TANH_P);
  p = f32x4.add(f32x4.mul(p, x2), splatAt(TANH_P + 4));
  p = f32x4.add(f32x4.mul(p, x2), splatAt(TANH_P + 8));
  p = f32x4.add(f32x4.mul(p, x2), splatAt(TANH_P + 12));
  p = f32x4.add(f32x4.mul(p, x2), splatAt(TANH_P + 16));
  const small = f32x4.add(ax, f32x4.mul(f32x4.mul(p, x2), ax));
  const mag = v128.bitselect(small, big, f32x4.lt(ax, splatAt(TANH_SMALL)));
  // copy the sign of x
  return v128.or(mag, v128.and(x, splatAt(SIGN)));
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
