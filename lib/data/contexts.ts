/**
 * Training examples for next-character models: context windows of any block
 * size, and the seeded 80/10/10 split by word used from lecture 2 on.
 *
 * @module
 */
import { DataError } from "./lines";
import { Generator } from "../random/generator";
import type { Vocab } from "./vocab";

/** Context windows and their targets, stored flat for fast minibatching. */
export interface Contexts {
  /** `n * blockSize` token indices: row r is `X.subarray(r * blockSize, (r + 1) * blockSize)` */
  X: Int32Array;
  /** `n` target indices: the token that follows each context */
  Y: Int32Array;
  /** number of examples */
  n: number;
  /** tokens of context per example */
  blockSize: number;
}

/**
 * Builds every (context, next token) example of every word. The context starts
 * as `blockSize` boundary tokens and slides one character at a time; the last
 * target of each word is the boundary token. "emma" with block size 3 gives
 * `... -> e`, `..e -> m`, `.em -> m`, `emm -> a`, `mma -> .`.
 *
 * @throws RangeError when blockSize is not a positive integer.
 */
export function buildContexts(words: readonly string[], vocab: Vocab, blockSize: number): Contexts {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  }
  const encoded = words.map((w) => vocab.encode(w));
  const n = encoded.reduce((a, e) => a + e.length + 1, 0);
  const X = new Int32Array(n * blockSize);
  const Y = new Int32Array(n);
  const context = new Int32Array(blockSize);
  let r = 0;
  for (const e of encoded) {
    context.fill(0);
    for (const ix of [...e, 0]) {
      X.set(context, r * blockSize);
      Y[r] = ix;
      r++;
      context.copyWithin(0, 1);
      context[blockSize - 1] = ix;
    }
  }
  return { X, Y, n, blockSize };
}

/** The three splits of a dataset, by word. */
export interface Split<T> {
  /** about 80%: fits the parameters */
  train: T;
  /** about 10%: tunes the hyperparameters */
  val: T;
  /** about 10%: reported once at the end */
  test: T;
}

/**
 * Shuffles the words with a seeded generator and cuts them 80/10/10
 * (the lectures' `n1 = int(0.8 * n)`, `n2 = int(0.9 * n)`). The input is not modified.
 *
 * @param seed - the shuffle seed (42 in the lectures).
 * @throws DataError when there are fewer than 3 words (a split would be empty).
 */
export function splitWords(
  words: readonly string[],
  seed = 42,
  fractions: [number, number] = [0.8, 0.9],
): Split<string[]> {
  if (words.length < 3) throw new DataError(`need at least 3 examples to split, got ${words.length}`);
  const shuffled = new Generator(seed).shuffle([...words]);
  const n1 = Math.max(1, Math.floor(fractions[0] * shuffled.length));
  const n2 = Math.min(shuffled.length - 1, Math.max(n1 + 1, Math.floor(fractions[1] * shuffled.length)));
  return { train: shuffled.slice(0, n1), val: shuffled.slice(n1, n2), test: shuffled.slice(n2) };
}

/** Context windows of each split, built with one vocabulary and block size. */
export function buildSplitContexts(split: Split<string[]>, vocab: Vocab, blockSize: number): Split<Contexts> {
  return {
    train: buildContexts(split.train, vocab, blockSize),
    val: buildContexts(split.val, vocab, blockSize),
    test: buildContexts(split.test, vocab, blockSize),
  };
}
