/**
 * Float32 logarithm, sine and cosine exactly as PyTorch's AVX2 `randn` kernel
 * computes them (the Cephes-derived `log256_ps` and `sincos256_ps` of
 * ATen's avx_mathfun.h), so that normal draws match PyTorch bit for bit.
 *
 * Every step rounds to float32 as the vector instructions do. GCC compiles
 * that kernel with floating-point contraction, so each multiply whose only
 * use is an add becomes one fused multiply-add with a single rounding; the
 * functions below fuse the same steps (checked against 6.4 million draws of
 * PyTorch 1.13's `torch.randn`: unfused polynomials differ in about 1 in 1000).
 *
 * @module
 */

const f = Math.fround;

const scratch = new DataView(new ArrayBuffer(4));

/** The IEEE-754 bits of a float32 value. */
function floatBits(x: number): number {
  scratch.setFloat32(0, x);
  return scratch.getUint32(0);
}

function bitsToFloat(bits: number): number {
  scratch.setUint32(0, bits >>> 0);
  return scratch.getFloat32(0);
}

/**
 * `a * b + c` rounded once to float32, like the FMA instruction, for float32
 * inputs. The product is exact in float64, but the float64 sum may itself be
 * rounded; that only matters when it lands exactly halfway between two
 * float32 values, where the sign of the lost remainder decides the direction.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s || !Number.isFinite(s)) return r;
  // Knuth's two-sum: what the float64 addition lost
  const bv = s - p;
  const lost = p - (s - bv) + (c - bv);
  if (lost === 0) return r;
  const beyond = bitsToFloat(floatBits(r) + (s > r === r >= 0 ? 1 : -1));
  if ((r + beyond) / 2 !== s) return r;
  return lost > 0 === beyond > r ? beyond : r;
}

const MIN_NORMAL = 1.1754943508222875e-38;
const SQRT_HALF = f(Math.SQRT1_2);
/** Cephes' polynomial for log(1 + x) - x + x²/2, highest degree first. */
const LOG_POLY = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
/** ln 2 split in a short head (exact when multiplied by the exponent) and a small tail. */
const LN2_HEAD = f(0.693359375);
const LN2_TAIL = f(-2.1219444e-4);

/**
 * Natural logarithm of a positive float32, as `log256_ps` computes one lane.
 * Zero and negative inputs give NaN there; PyTorch never passes them.
 */
export function logAvx(input: number): number {
  if (!(input > 0)) return NaN;
  const bits = floatBits(Math.max(input, MIN_NORMAL));
  // the mantissa scaled into [0.5, 1), and the matching power of two
  let x = bitsToFloat((bits & ~0x7f800000) | 0x3f000000);
  let e = f((bits >>> 23) - 126);
  // below sqrt(1/2) use 2x - 1 with one power less, keeping x - 1 small
  const low = x < SQRT_HALF;
  const extra = low ? x : 0;
  x = f(x - 1);
  if (low) e = f(e - 1);
  x = f(x + extra);
  const z = f(x * x);
  let y = LOG_POLY[0] as number;
  for (let k = 1; k < LOG_POLY.length; k++) y = fmaf(y, x, LOG_POLY[k] as number);
  y = f(y * x);
  y = fmaf(y, z, f(e * LN2_TAIL));
  y = fmaf(z, -0.5, y);
  return fmaf(e, LN2_HEAD, f(x + y));
}

const FOUR_OVER_PI = f(1.27323954473516);
/** -π/4 split in three parts so the reduction keeps extra precision. */
const PI4_A = f(-0.78515625);
const PI4_B = f(-2.4187564849853515625e-4);
const PI4_C = f(-3.774894977445941e-8);
const SIN_POLY = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COS_POLY = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

/**
 * Sine and cosine of a float32 angle, as `sincos256_ps` computes one lane:
 * the angle is reduced by a multiple of π/4, then one of two short
 * polynomials gives each result, with signs from the octant.
 */
export function sinCosAvx(angle: number): { sin: number; cos: number } {
  let x = Math.abs(angle);
  const sinSign = angle < 0 || Object.is(angle, -0) ? -1 : 1;
  // the octant, rounded up to even as Cephes does
  let j = Math.trunc(f(x * FOUR_OVER_PI)) | 0;
  j = (j + 1) & ~1;
  const octant = j; // exact as a float: the vector code converts it back
  const flipSin = (j & 4) !== 0;
  const sinFromSinPoly = (j & 2) === 0;
  const flipCos = ((j - 2) & 4) === 0;
  x = fmaf(octant, PI4_A, x);
  x = fmaf(octant, PI4_B, x);
  x = fmaf(octant, PI4_C, x);
  const z = f(x * x);
  let c = fmaf(COS_POLY[0] as number, z, COS_POLY[1] as number);
  c = fmaf(c, z, COS_POLY[2] as number);
  c = f(c * z);
  c = f(fmaf(c, z, -f(z * 0.5)) + 1);
  let s = fmaf(SIN_POLY[0] as number, z, SIN_POLY[1] as number);
  s = fmaf(s, z, SIN_POLY[2] as number);
  s = f(s * z);
  s = fmaf(s, x, x);
  // the vector code blends the two with masks and adds; zeros keep its signs
  const sinPart = sinFromSinPoly ? s : 0;
  const cosPart = sinFromSinPoly ? 0 : c;
  const sinResult = f(cosPart + sinPart);
  const cosResult = f(f(c - cosPart) + f(s - sinPart));
  return {
    sin: (flipSin ? -sinResult : sinResult) * sinSign,
    cos: flipCos ? -cosResult : cosResult,
  };
}
