/**
 * CPython's `random` module, reproduced bit for bit, for the lectures that
 * shuffle and split the dataset with `random.seed(42); random.shuffle(words)`.
 *
 * @module
 */

import { Mt19937 } from "./mt19937";

const TWO_POW_26 = 67108864;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/**
 * `random.Random` of CPython 3.11 for integer seeds: the same Mersenne
 * Twister, seeded by `init_by_array` on the seed's 32-bit words, with
 * `random()`, `getrandbits`, `_randbelow` and `shuffle` consuming the
 * stream exactly as CPython does.
 */
export class PythonRandom {
  private readonly engine = new Mt19937();

  /** @param seed - as for `seed`. */
  constructor(seed: number | bigint) {
    this.seed(seed);
  }

  /**
   * Restarts the stream like `random.seed(seed)` for an int: the absolute
   * value, split into 32-bit words from the least significant, is the key.
   * @throws RangeError when the seed is not a finite integer.
   */
  seed(seed: number | bigint): void {
    if (typeof seed === "number" && !Number.isFinite(seed)) {
      throw new RangeError(`seed must be a finite number, got ${seed}`);
    }
    if (typeof seed === "number" && !Number.isInteger(seed)) {
      throw new RangeError(`seed must be an integer (CPython hashes other types), got ${seed}`);
    }
    let rest = BigInt(seed);
    if (rest < 0n) rest = -rest;
    const key: number[] = [];
    do {
      key.push(Number(rest & 0xffffffffn));
      rest >>= 32n;
    } while (rest > 0n);
    this.engine.seedWords(key);
  }

  /** A float in [0, 1) with 53 random bits: 27 from one word, 26 from the next. */
  random(): number {
    const a = this.engine.nextUint32() >>> 5;
    const b = this.engine.nextUint32() >>> 6;
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }

  /**
   * An integer of `k` random bits, like `random.getrandbits(k)`, for k up to 53
   * (so it stays exact in a number); `getrandbitsBig` takes any k.
   */
  getrandbits(k: number): number {
    if (!Number.isSafeInteger(k) || k < 0 || k > 53) {
      throw new RangeError(`getrandbits(k) needs an integer k in [0, 53], got ${k}; use getrandbitsBig`);
    }
    if (k <= 32) return this.topBits(k);
    const low = this.engine.nextUint32();
    return this.topBits(k - 32) * TWO_POW_32 + low;
  }

  /** An integer of `k` random bits as a bigint, like `random.getrandbits(k)` for any k >= 0. */
  getrandbitsBig(k: number): bigint {
    if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`getrandbits(k) needs an integer k >= 0, got ${k}`);
    // CPython fills 32-bit words from the least significant; the last keeps only its top bits
    let out = 0n;
    for (let shift = 0n, left = k; left > 0; shift += 32n, left -= 32) {
      out |= BigInt(this.topBits(Math.min(left, 32))) << shift;
    }
    return out;
  }

  /**
   * A uniform integer in [0, n), like CPython's `_randbelow` (and so
   * `random.randrange(n)`): draws of n's bit length, rejected until below n.
   */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`randbelow(n) needs an integer n >= 1, got ${n}`);
    const k = n.toString(2).length;
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** Shuffles `items` in place exactly as `random.shuffle` (Python 3.11) does, and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** The top `k` bits (0 <= k <= 32) of one word; no word is drawn for k = 0, as in CPython. */
  private topBits(k: number): number {
    if (k === 0) return 0;
    return this.engine.nextUint32() >>> (32 - k);
  }
}

/** The three parts of a shuffled word list, as lecture 3 splits it. */
export interface LectureSplit<T> {
  train: T[];
  val: T[];
  test: T[];
}

/**
 * Lecture 3's split: `random.seed(seed); random.shuffle(words)` on a copy,
 * then the first 80% for training, the next 10% for validation, the rest
 * for testing, with Python's `int(0.8 * n)` and `int(0.9 * n)` boundaries.
 * With the names dataset and seed 42 the block-3 example counts are
 * 182,625 / 22,655 / 22,866, as in the lecture.
 */
export function lectureSplit<T>(words: readonly T[], seed = 42): LectureSplit<T> {
  const shuffled = new PythonRandom(seed).shuffle([...words]);
  const n1 = Math.trunc(0.8 * shuffled.length);
  const n2 = Math.trunc(0.9 * shuffled.length);
  return { train: shuffled.slice(0, n1), val: shuffled.slice(n1, n2), test: shuffled.slice(n2) };
}
