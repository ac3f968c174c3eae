/**
 * The 32-bit Mersenne Twister (MT19937) that both PyTorch's CPU generator and
 * CPython's `random` module draw from. The two differ only in how a seed
 * becomes the 624-word state, so both seedings live here.
 *
 * @module
 */

const N = 624;
const M = 397;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

/** A Mersenne Twister stream of unsigned 32-bit integers. */
export class Mt19937 {
  private readonly state = new Uint32Array(N);
  /** Position of the next word to temper; N means the state must be regenerated first. */
  private index = N;

  /** Seeds from one 32-bit word, as `std::mt19937(seed)` and PyTorch's `at::mt19937` do. */
  seedWord(seed: number): void {
    const mt = this.state;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] as number;
      mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
    this.index = N;
  }

  /**
   * Seeds from a list of 32-bit words, as the reference `init_by_array` (and so
   * CPython's `random.seed`) does: it starts from a fixed word, then mixes each
   * key word into the state, so every bit of a long seed matters.
   */
  seedWords(key: readonly number[]): void {
    if (key.length === 0) throw new RangeError("seedWords needs at least one key word");
    this.seedWord(19650218);
    const mt = this.state;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] as number;
      mt[i] = ((mt[i] as number) ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + (key[j] as number) + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1] as number;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] as number;
      mt[i] = ((mt[i] as number) ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1] as number;
        i = 1;
      }
    }
    mt[0] = UPPER_MASK; // guarantees a non-zero state whatever the key
    this.index = N;
  }

  /** The next tempered 32-bit word, as an unsigned number. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Regenerates all 624 words at once, as the reference implementation does. */
  private twist(): void {
    const mt = this.state;
    for (let kk = 0; kk < N; kk++) {
      const y = ((mt[kk] as number) & UPPER_MASK) | ((mt[(kk + 1) % N] as number) & LOWER_MASK);
      mt[kk] = (mt[(kk + M) % N] as number) ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}
