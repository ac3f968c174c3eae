/**
 * makemore.py's examples: each line as one sequence, with a prediction at
 * every position. "emma" with block size 6 becomes
 *
 *     x = [., e, m, m, a, .]      (the start token, the line, then padding)
 *     y = [e, m, m, a, ., -1]     (the next token at each position; -1 is ignored)
 *
 * The block size is the longest line plus one, so every line fits with its
 * end token.
 *
 * @module
 */
import { DataError } from "./lines";
import type { Vocab } from "./vocab";

/** The target of padded positions, which the loss skips (PyTorch's `ignore_index=-1`). */
export const IGNORE_INDEX = -1;

/** Padded lines and their next-token targets, stored flat like {@link Contexts}. */
export interface Sequences {
  /** tells sequences from context windows */
  readonly kind: "sequence";
  /** `n * blockSize` inputs: row r is `X.subarray(r * blockSize, (r + 1) * blockSize)` */
  X: Int32Array;
  /** `n * blockSize` targets, {@link IGNORE_INDEX} after each line's end token */
  Y: Int32Array;
  /** number of lines */
  n: number;
  /** positions per line */
  blockSize: number;
}

/** Characters in the longest line (0 for none). */
export function longestLine(words: readonly string[]): number {
  return words.reduce((m, w) => Math.max(m, [...w].length), 0);
}

/**
 * Encodes every line as a padded sequence.
 *
 * @param blockSize - positions per line (default: the longest line + 1).
 * @throws DataError when a line does not fit in `blockSize - 1` characters.
 */
export function buildSequences(words: readonly string[], vocab: Vocab, blockSize?: number): Sequences {
  const T = blockSize ?? longestLine(words) + 1;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`block size must be a positive integer, got ${T}`);
  const n = words.length;
  const X = new Int32Array(n * T);
  const Y = new Int32Array(n * T).fill(IGNORE_INDEX);
  words.forEach((w, r) => {
    const ix = vocab.encode(w);
    if (ix.length >= T) {
      throw new DataError(`line ${r + 1} has ${ix.length} characters; block size ${T} holds at most ${T - 1}`);
    }
    X.set(ix, r * T + 1); // after the start token 0
    Y.set(ix, r * T);
    Y[r * T + ix.length] = 0; // the end token
  });
  return { kind: "sequence", X, Y, n, blockSize: T };
}
