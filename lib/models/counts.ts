/**
 * The bigram counting model of lecture 1: count which character follows which,
 * normalize the rows into probabilities, and score words by their average
 * negative log-likelihood.
 *
 * @module
 */
import { DataError } from "../data/lines";
import type { Vocab } from "../data/vocab";

/** A dense matrix as rows of numbers (small: vocabulary by vocabulary). */
export type Matrix = number[][];

/** Input and target indices of every bigram, boundary tokens included. */
export interface BigramPairs {
  /** index of the first character of each bigram */
  xs: Int32Array;
  /** index of the character that follows it */
  ys: Int32Array;
}

/**
 * Every bigram of every word, with the boundary token at both ends
 * ("emma" gives .e em mm ma a.).
 */
export function bigramPairs(words: readonly string[], vocab: Vocab): BigramPairs {
  let n = 0;
  const encoded = words.map((w) => vocab.encode(w));
  for (const e of encoded) n += e.length + 1;
  const xs = new Int32Array(n);
  const ys = new Int32Array(n);
  let k = 0;
  for (const e of encoded) {
    let prev = 0;
    for (const ix of [...e, 0]) {
      xs[k] = prev;
      ys[k] = ix;
      k++;
      prev = ix;
    }
  }
  return { xs, ys };
}

/** The count matrix N: `N[i][j]` is how often token j follows token i. */
export function bigramCounts(words: readonly string[], vocab: Vocab): Matrix {
  const v = vocab.size;
  const counts: Matrix = Array.from({ length: v }, () => new Array<number>(v).fill(0));
  const { xs, ys } = bigramPairs(words, vocab);
  for (let k = 0; k < xs.length; k++) (counts[xs[k] as number] as number[])[ys[k] as number]! += 1;
  return counts;
}

/** One bigram and how often it occurs. */
export interface BigramCount {
  /** the two characters, e.g. "an" or "n." */
  bigram: string;
  /** its count */
  count: number;
}

/** The `k` most frequent bigrams, most frequent first (ties in index order). */
export function topBigrams(counts: Matrix, vocab: Vocab, k: number): BigramCount[] {
  const all: BigramCount[] = [];
  counts.forEach((row, i) =>
    row.forEach((count, j) => {
      if (count > 0) all.push({ bigram: vocab.itos(i) + vocab.itos(j), count });
    }),
  );
  return all.sort((a, b) => b.count - a.count).slice(0, k);
}

/**
 * Turns counts into next-character probabilities, adding `smoothing` to every
 * count first (the lectures' `P = (N + 1).float(); P /= P.sum(1, keepdim=True)`).
 *
 * @throws DataError when a row sums to zero (a character never followed by
 *   anything with no smoothing to rescue it).
 */
export function countsToProbs(counts: Matrix, smoothing = 1): Matrix {
  if (!(smoothing >= 0)) throw new RangeError(`smoothing must be >= 0, got ${smoothing}`);
  return counts.map((row, i) => {
    const total = row.reduce((a, c) => a + c + smoothing, 0);
    if (total === 0) throw new DataError(`row ${i} has no counts; use smoothing > 0`);
    return row.map((c) => (c + smoothing) / total);
  });
}

/** Log-likelihood of a set of bigrams under a probability table. */
export interface Likelihood {
  /** sum of log P over every bigram */
  logLikelihood: number;
  /** average negative log-likelihood: the loss */
  nll: number;
  /** number of bigrams scored */
  count: number;
}

/**
 * Scores words under a bigram probability table: the sum of log-probabilities
 * of every bigram and the average negative log-likelihood.
 */
export function bigramNll(probs: Matrix, words: readonly string[], vocab: Vocab): Likelihood {
  const { xs, ys } = bigramPairs(words, vocab);
  let logLikelihood = 0;
  for (let k = 0; k < xs.length; k++) {
    logLikelihood += Math.log((probs[xs[k] as number] as number[])[ys[k] as number] as number);
  }
  return { logLikelihood, nll: -logLikelihood / xs.length, count: xs.length };
}

/** One bigram of a word with its probability and log-probability. */
export interface BigramScore {
  /** the two characters */
  bigram: string;
  /** P(second | first) */
  prob: number;
  /** log of prob */
  logProb: number;
}

/**
 * The bigram-by-bigram breakdown of one word: shows where an odd word loses
 * its likelihood (a zero-count bigram gives -Infinity without smoothing).
 */
export function scoreWord(probs: Matrix, word: string, vocab: Vocab): BigramScore[] {
  const { xs, ys } = bigramPairs([word], vocab);
  return Array.from(xs, (x, k) => {
    const y = ys[k] as number;
    const prob = (probs[x] as number[])[y] as number;
    return { bigram: vocab.itos(x) + vocab.itos(y), prob, logProb: Math.log(prob) };
  });
}
