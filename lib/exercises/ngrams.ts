/**
 * Counting models with any context length, for the checks of lecture 1: the
 * bigram (one token of context) and the trigram (two). The context windows
 * come from the lib's `buildContexts`, so a trigram of "emma" starts at `..e`
 * and every name gives as many trigrams as bigrams.
 *
 * @module
 */
import type { Contexts } from "../data/contexts";

/** Counts of every (context, next token): row = context as a base-V number. */
export interface NgramTable {
  /** tokens of context */
  order: number;
  /** tokens in the vocabulary (V) */
  vocabSize: number;
  /** V^order rows of V counts, flat */
  counts: Float64Array;
}

/** The row of example `r`: its context tokens read as a base-V number. */
function rowOf(c: Contexts, r: number, vocabSize: number): number {
  let row = 0;
  for (let j = 0; j < c.blockSize; j++) row = row * vocabSize + (c.X[r * c.blockSize + j] as number);
  return row;
}

/** Counts how often each token follows each context in `c`. */
export function ngramTable(c: Contexts, vocabSize: number): NgramTable {
  const counts = new Float64Array(vocabSize ** (c.blockSize + 1));
  for (let r = 0; r < c.n; r++) counts[rowOf(c, r, vocabSize) * vocabSize + (c.Y[r] as number)]! += 1;
  return { order: c.blockSize, vocabSize, counts };
}

/**
 * Average negative log-likelihood of the examples `c` under the table with
 * `smoothing` added to every count (Infinity when an example's count and the
 * smoothing are both 0).
 */
export function ngramNll(table: NgramTable, c: Contexts, smoothing: number): number {
  const V = table.vocabSize;
  const totals = new Float64Array(V ** table.order);
  for (let k = 0; k < totals.length; k++) {
    let s = 0;
    for (let y = 0; y < V; y++) s += table.counts[k * V + y] as number;
    totals[k] = s + smoothing * V;
  }
  let logLikelihood = 0;
  for (let r = 0; r < c.n; r++) {
    const row = rowOf(c, r, V);
    logLikelihood += Math.log(((table.counts[row * V + (c.Y[r] as number)] as number) + smoothing) / totals[row]!);
  }
  return -logLikelihood / c.n;
}

/**
 * The examples whose context is not all boundary tokens: what is left when
 * each name is padded with one boundary token only (".emma." gives the
 * trigrams .em, emm, mma, ma.), so the first character is never predicted.
 */
export function withoutStarts(c: Contexts): Contexts {
  const keep: number[] = [];
  for (let r = 0; r < c.n; r++) {
    if (c.X.subarray(r * c.blockSize, (r + 1) * c.blockSize).some((t) => t !== 0)) keep.push(r);
  }
  const X = new Int32Array(keep.length * c.blockSize);
  keep.forEach((r, i) => X.set(c.X.subarray(r * c.blockSize, (r + 1) * c.blockSize), i * c.blockSize));
  return { X, Y: Int32Array.from(keep, (r) => c.Y[r] as number), n: keep.length, blockSize: c.blockSize };
}

/**
 * The smoothing in [lo, hi] with the lowest `loss`, by golden-section search
 * on its logarithm (the loss is smooth and has one valley there).
 */
export function bestSmoothing(loss: (s: number) => number, lo = 1e-4, hi = 100): { smoothing: number; loss: number } {
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(lo);
  let b = Math.log(hi);
  for (let i = 0; i < 60 && b - a > 1e-4; i++) {
    const c = b - phi * (b - a);
    const d = a + phi * (b - a);
    if (loss(Math.exp(c)) < loss(Math.exp(d))) b = d;
    else a = c;
  }
  const smoothing = Math.exp((a + b) / 2);
  return { smoothing, loss: loss(smoothing) };
}
