/**
 * A seeded random number generator with the semantics of `torch.Generator`:
 * one seed gives one reproducible stream, and every draw (uniform, normal,
 * integer, multinomial, shuffle) advances that same stream.
 *
 * The core is xoshiro128** (32-bit state words, so it runs on plain JS
 * integers), seeded through splitmix32. It is not PyTorch's Mersenne Twister:
 * the same seed gives different numbers than PyTorch, but always the same
 * numbers here, on every backend.
 *
 * @module
 */

/** One step of splitmix32, used to spread a seed over the state words. */
function splitmix32(state: number): [next: number, out: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

/** A reproducible stream of random draws, like `torch.Generator().manual_seed(seed)`. */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  /**
   * @param seed - any integer (taken modulo 2^32); the same seed gives the same stream.
   */
  constructor(seed: number) {
    this.manualSeed(seed);
  }

  /**
   * Restarts the stream from `seed`.
   * @returns this generator, for chaining.
   */
  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    let st = Math.trunc(seed) | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st);
      st = next;
      words.push(out);
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spareNormal = null;
    return this;
  }

  /** The next raw 32-bit unsigned integer of the stream. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * A uniform integer in [low, high), like `torch.randint(low, high, ...)`.
   * @throws RangeError when the range is empty.
   */
  randint(low: number, high: number): number {
    if (!(high > low)) throw new RangeError(`randint needs low < high, got [${low}, ${high})`);
    return low + Math.floor(this.random() * (high - low));
  }

  /** `n` uniform integers in [low, high), as an Int32Array. */
  randintArray(n: number, low: number, high: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.randint(low, high);
    return out;
  }

  /** A standard normal draw (Box-Muller; the second value of each pair is kept for the next call). */
  randn(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** `n` standard normal draws as a Float32Array, like `torch.randn(n)`. */
  randnArray(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.randn();
    return out;
  }

  /**
   * One draw from a categorical distribution, like
   * `torch.multinomial(p, 1, replacement=True)`. The weights need not sum to 1.
   * @param weights - non-negative weights, at least one of them positive.
   * @returns the index drawn.
   */
  multinomial(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] as number;
      if (!(w >= 0) || !Number.isFinite(w)) {
        throw new RangeError(`multinomial weights must be finite and non-negative, got ${w} at ${i}`);
      }
      total += w;
    }
    if (!(total > 0)) throw new RangeError("multinomial weights must not all be zero");
    const u = this.random() * total;
    let acc = 0;
    let last = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] as number;
      if (w > 0) last = i;
      acc += w;
      if (u < acc) return i;
    }
    return last; // rounding left u at the very top: the last index with weight
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
