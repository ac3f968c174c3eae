/**
 * PyTorch's CPU random generator, reproduced bit for bit, so a notebook seeded
 * like a lecture draws the lecture's numbers.
 *
 * @module
 */

import { logAvx, sinCosAvx } from "./avx-math";
import { Mt19937 } from "./mt19937";

const f = Math.fround;
const TWO_POW_24 = 16777216;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
const TWO_PI_F32 = f(2 * Math.PI);
/** The seed of a fresh `torch.Generator()` that was never seeded. */
const DEFAULT_SEED = 67280421310721n;
/** From this many elements on, a float32 `randn` takes PyTorch's vectorised path. */
const VECTOR_NORMAL_MIN = 16;

/**
 * Anything that draws standard normal values in bulk, like `torch.randn(n, generator=g)`:
 * both the lib's `Generator` and {@link TorchGenerator}. Model and layer
 * constructors take it so a notebook can hand them the lecture's generator.
 */
export interface NormalDraws {
  randnArray(n: number): Float32Array;
}

/**
 * The public methods of the lib's simple `Generator` (lib/random.ts), written as
 * an interface so that `manualSeed` returns whichever generator it was called
 * on. Code typed against it takes either generator.
 */
export interface RandomSource {
  manualSeed(seed: number): this;
  nextUint32(): number;
  random(): number;
  randint(low: number, high: number): number;
  randintArray(n: number, low: number, high: number): Int32Array;
  randn(): number;
  randnArray(n: number): Float32Array;
  multinomial(weights: ArrayLike<number>): number;
  shuffle<T>(items: T[]): T[];
}

/**
 * `torch.Generator()` on the CPU as PyTorch 1.13 implements it: a Mersenne
 * Twister seeded with the low 32 bits of `manual_seed`, read through the same
 * transformations, each call taking exactly as many words as PyTorch's does.
 *
 * Bit for bit with PyTorch 1.13 (checked against Debian's build, see
 * scripts/fixtures/torch_random.py):
 * - `rand(n)` = `torch.rand(n, generator=g)`; `random()` = one element of
 *   `torch.rand(n, dtype=torch.float64, generator=g)`.
 * - `randn(n)` = `torch.randn(n, generator=g)` (any shape flattened: (27, 27) is
 *   `randn(729)`), including the cached second Box-Muller value of the
 *   scalar path and the recomputed last 16 values of the vectorised one.
 *   The vectorised path (16 or more elements) is reproduced as PyTorch's AVX2
 *   kernel computes it, which is what x86-64 builds run on AVX2 machines.
 *   Builds that run the plain kernel instead (ARM machines such as Apple
 *   silicon Macs, or ATEN_CPU_CAPABILITY=default) use the C library's
 *   logf/sinf/cosf: there about 38% of such values differ in their last bits
 *   (by at most 2.2e-6 in 3.2 million draws), invisible at printed precision.
 * - `randn()` = `torch.randn(1, generator=g).item()`.
 * - `randint(low, high)` = one element of `torch.randint(low, high, (k,), generator=g)`;
 *   `randintArray(k, low, high)` = that whole tensor.
 * - `randperm(n)` = `torch.randperm(n, generator=g)`; `shuffle(items)` reorders
 *   items as `items[torch.randperm(len(items), generator=g)]`.
 * - `multinomial(p, k, replacement)` = `torch.multinomial(p, k, replacement, generator=g)`
 *   for a 1-D float32 `p`; `multinomial(p)` = `torch.multinomial(p, 1, True, generator=g).item()`.
 *
 * The only steps that use a math library are the float64 logarithm, sine and
 * cosine of the scalar normal path and of the exponential draws behind
 * multinomial without replacement. JavaScript's and glibc's may differ in the
 * last float64 bit, which survives the rounding to float32 at most about once in
 * half a billion values; 300,000 of each matched PyTorch exactly.
 */
export class TorchGenerator implements RandomSource {
  private readonly engine = new Mt19937();
  private seed = DEFAULT_SEED;
  /** PyTorch keeps the second value of each scalar Box-Muller pair for the next scalar draw. */
  private cachedNormal: number | null = null;

  /** @param seed - as for `manualSeed`; defaults to PyTorch's default seed. */
  constructor(seed: number | bigint = DEFAULT_SEED) {
    this.manualSeed(seed);
  }

  /**
   * Restarts the stream, like `g.manual_seed(seed)`: an integer in
   * [-2^63, 2^64); negative seeds count as their 64-bit two's complement.
   * @returns this generator, for chaining.
   */
  manualSeed(seed: number | bigint): this {
    this.seed = seedToUint64(seed);
    this.engine.seedWord(Number(this.seed & 0xffffffffn));
    this.cachedNormal = null;
    return this;
  }

  /** The seed last set, as `g.initial_seed()` reports it. */
  initialSeed(): bigint {
    return this.seed;
  }

  /** The next raw 32-bit word of the Mersenne Twister (PyTorch's `random()`). */
  nextUint32(): number {
    return this.engine.nextUint32();
  }

  /** A uniform float64 in [0, 1) from 53 bits of two words, like `torch.rand(1, dtype=torch.float64)`. */
  random(): number {
    const hi = this.engine.nextUint32() & 0x1fffff; // the first word is the high half
    const lo = this.engine.nextUint32();
    return (hi * TWO_POW_32 + lo) / TWO_POW_53;
  }

  /** `n` uniform float32 values in [0, 1), like `torch.rand(n)`: the low 24 bits of one word each. */
  rand(n: number): Float32Array {
    checkCount(n, "rand");
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    return out;
  }

  /** One standard normal value, like `torch.randn(1).item()` (rounded to float32). */
  randn(): number;
  /** `n` standard normal values, like `torch.randn(n)` or a tensor of `n` elements. */
  randn(n: number): Float32Array;
  randn(n?: number): number | Float32Array {
    if (n === undefined) return f(this.scalarNormal());
    return this.randnArray(n);
  }

  /** `n` standard normal values, like `torch.randn(n)`. */
  randnArray(n: number): Float32Array {
    checkCount(n, "randn");
    if (n >= VECTOR_NORMAL_MIN) return this.vectorNormals(n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.scalarNormal();
    return out;
  }

  /**
   * A uniform integer in [low, high), drawn as each element of `torch.randint`:
   * one word modulo the range (two words when the range reaches 2^32).
   * @throws RangeError when the range is empty or the bounds are not safe integers.
   */
  randint(low: number, high: number): number {
    const range = checkRange(low, high);
    if (range < TWO_POW_32) return low + (this.engine.nextUint32() % range);
    const hi = BigInt(this.engine.nextUint32());
    const lo = BigInt(this.engine.nextUint32());
    return low + Number(((hi << 32n) | lo) % BigInt(range));
  }

  /** `n` uniform integers in [low, high), like `torch.randint(low, high, (n,))`. */
  randintArray(n: number, low: number, high: number): Int32Array {
    checkCount(n, "randintArray");
    if (low < -(2 ** 31) || high > 2 ** 31) {
      throw new RangeError(`randintArray's values must fit an Int32Array, got [${low}, ${high})`);
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.randint(low, high);
    return out;
  }

  /** A random permutation of 0..n-1, like `torch.randperm(n)`. */
  randperm(n: number): Int32Array {
    checkCount(n, "randperm");
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    for (let i = 0; i < n - 1; i++) {
      const j = this.swapPartner(i, n);
      const tmp = perm[i] as number;
      perm[i] = perm[j] as number;
      perm[j] = tmp;
    }
    return perm;
  }

  /** Reorders `items` in place as `items[torch.randperm(len(items))]` would, and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = 0; i < items.length - 1; i++) {
      const j = this.swapPartner(i, items.length);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * One index drawn from the weights, like
   * `torch.multinomial(p, 1, replacement=True).item()`.
   */
  multinomial(weights: ArrayLike<number>): number;
  /**
   * `numSamples` indices drawn from the weights, like
   * `torch.multinomial(p, numSamples, replacement)` for a 1-D float32 `p`
   * (the weights are rounded to float32 first and need not sum to 1).
   * Without replacement, asking for more samples than there are non-zero
   * weights is an error here (PyTorch would pad with arbitrary zero-weight indices).
   */
  multinomial(weights: ArrayLike<number>, numSamples: number, replacement?: boolean): Int32Array;
  multinomial(weights: ArrayLike<number>, numSamples?: number, replacement = false): number | Int32Array {
    const p = checkWeights(weights);
    if (numSamples === undefined) return this.inverseCdf(p, 1)[0] as number;
    checkSamples(p, numSamples, replacement);
    return replacement ? this.inverseCdf(p, numSamples) : this.exponentialRace(p, numSamples);
  }

  /** The low 24 bits of one word, as a float32 in [0, 1). */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) / TWO_POW_24;
  }

  /**
   * One value of PyTorch's scalar normal path, in float64: Box-Muller on two
   * 53-bit uniforms, keeping the sine half for the next call.
   */
  private scalarNormal(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.random();
    const u2 = this.random();
    const radius = Math.sqrt(-2 * Math.log(1 - u2)); // 1 - u2 is exact: u2 is a multiple of 2^-53
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  /**
   * PyTorch's vectorised float32 normal fill: all uniforms first, then
   * Box-Muller on blocks of 16 (the first 8 feed the radii, the last 8 the
   * angles; cosines go to the first half, sines to the second). When n is not
   * a multiple of 16, the last 16 slots are refilled with fresh uniforms and
   * transformed again, overwriting values the previous block produced.
   */
  private vectorNormals(n: number): Float32Array {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(data, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = start; i < n; i++) data[i] = this.uniformFloat();
      boxMuller16(data, start);
    }
    return data;
  }

  /**
   * The exponential race PyTorch 1.13 uses for sampling without replacement:
   * each weight divided by an Exp(1) draw, in float32, and the largest `k`
   * ratios win, in decreasing order. (Later PyTorch versions use it for
   * single samples with replacement too, which changes the lectures' samples.)
   */
  private exponentialRace(p: Float32Array, k: number): Int32Array {
    const score = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) {
      // PyTorch's exponential: -log(1 - u) in float64, stored as float32
      const q = f(-Math.log(1 - this.random()));
      score[i] = (p[i] as number) / q;
    }
    const order = Array.from(score.keys());
    // NaN (0/0, possible only when a draw is exactly 0) ranks first, as in PyTorch's argmax
    const rank = (i: number): number => (Number.isNaN(score[i]) ? Infinity : (score[i] as number));
    order.sort((a, b) => rank(b) - rank(a) || a - b);
    return Int32Array.from(order.slice(0, k));
  }

  /**
   * PyTorch 1.13's sampling with replacement: a float32 running sum of the
   * weights, normalised, and one 53-bit uniform per sample located in it by
   * binary search (the first bucket whose cumulative value is not below it).
   */
  private inverseCdf(p: Float32Array, k: number): Int32Array {
    const cdf = new Float32Array(p.length);
    let sum = 0;
    for (let j = 0; j < p.length; j++) {
      sum = f(sum + (p[j] as number));
      cdf[j] = sum;
    }
    for (let j = 0; j < p.length; j++) cdf[j] = (cdf[j] as number) / sum;
    cdf[p.length - 1] = 1;
    const out = new Int32Array(k);
    for (let s = 0; s < k; s++) {
      const u = this.random();
      let left = 0;
      let right = p.length;
      while (right > left) {
        const mid = left + ((right - left) >> 1);
        if ((cdf[mid] as number) < u) left = mid + 1;
        else right = mid;
      }
      out[s] = left;
    }
    return out;
  }

  /**
   * Where PyTorch's randperm moves element `i` of `n`: it swaps position i with
   * one drawn from i..n-1 by a single word modulo the count left.
   */
  private swapPartner(i: number, n: number): number {
    return i + (this.engine.nextUint32() % (n - i));
  }
}

/**
 * Box-Muller on 16 uniforms at `start`, in float32 as the AVX2 kernel does:
 * lane j pairs radius sqrt(-2 log(1 - u[j])) with angle 2π u[j + 8].
 */
function boxMuller16(data: Float32Array, start: number): void {
  for (let j = start; j < start + 8; j++) {
    const radius = f(Math.sqrt(f(-2 * logAvx(f(1 - (data[j] as number))))));
    const { sin, cos } = sinCosAvx(f(TWO_PI_F32 * (data[j + 8] as number)));
    // the kernel's final multiply-add by std 1 and mean 0 turns -0 into +0
    data[j] = f(radius * cos) + 0;
    data[j + 8] = f(radius * sin) + 0;
  }
}

function seedToUint64(seed: number | bigint): bigint {
  if (typeof seed === "number" && !Number.isFinite(seed)) {
    throw new RangeError(`seed must be a finite number, got ${seed}`);
  }
  if (typeof seed === "number" && !Number.isInteger(seed)) {
    throw new RangeError(`seed must be an integer, got ${seed}`);
  }
  const big = BigInt(seed);
  if (big < -(2n ** 63n) || big >= 2n ** 64n) {
    throw new RangeError(`seed must lie in [-2^63, 2^64), got ${big}`);
  }
  return BigInt.asUintN(64, big);
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} needs a count >= 0, got ${n}`);
}

/** @returns the width of [low, high). */
function checkRange(low: number, high: number): number {
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
    throw new RangeError(`randint needs integer bounds, got [${low}, ${high})`);
  }
  if (!(high > low)) throw new RangeError(`randint needs low < high, got an empty range [${low}, ${high})`);
  const range = high - low;
  if (!Number.isSafeInteger(range)) throw new RangeError(`randint's range [${low}, ${high}) is too wide`);
  return range;
}

/** The weights as the float32 tensor PyTorch would hold, after its validity checks. */
function checkWeights(weights: ArrayLike<number>): Float32Array {
  if (weights.length === 0) throw new RangeError("multinomial needs at least one weight");
  const p = Float32Array.from(weights);
  let positive = false;
  for (let i = 0; i < p.length; i++) {
    const w = p[i] as number;
    if (!(w >= 0) || w === Infinity) {
      throw new RangeError(
        `multinomial weights must be finite (in float32) and non-negative, got ${weights[i]} at index ${i}`,
      );
    }
    if (w > 0) positive = true;
  }
  if (!positive) throw new RangeError("multinomial weights must not all be zero (in float32)");
  return p;
}

function checkSamples(p: Float32Array, numSamples: number, replacement: boolean): void {
  if (!Number.isSafeInteger(numSamples) || numSamples < 1) {
    throw new RangeError(`multinomial needs numSamples >= 1, got ${numSamples}`);
  }
  if (replacement) return;
  const nonZero = p.reduce((count, w) => count + (w > 0 ? 1 : 0), 0);
  if (numSamples > nonZero) {
    throw new RangeError(
      `multinomial without replacement cannot draw ${numSamples} samples from ${nonZero} non-zero weights`,
    );
  }
}
