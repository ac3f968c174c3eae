/**
 * Sampling words from any next-character model, one character at a time.
 *
 * @module
 */
import type { Generator } from "../random/generator";
import type { Vocab } from "../data/vocab";

/**
 * A model as sampling sees it: given the last `blockSize` token indices,
 * the probabilities (or any non-negative weights) of the next token.
 */
export type NextTokenModel = (context: readonly number[]) => ArrayLike<number>;

/** Options of {@link sampleWord} and {@link sampleWords}. */
export interface SampleOptions {
  /** tokens of context the model reads (1 for a bigram model) */
  blockSize: number;
  /** the random stream (the lib's {@link Generator}, or one that follows PyTorch's); the same seed gives the same words */
  generator: Pick<Generator, "multinomial">;
  /** stop a word after this many characters even without a boundary token (default 1000) */
  maxLength?: number;
}

/**
 * Samples one word: start from a context of boundary tokens, draw the next token
 * from the model, slide the context, and stop at the boundary token.
 */
export function sampleWord(model: NextTokenModel, vocab: Vocab, options: SampleOptions): string {
  const { blockSize, generator, maxLength = 1000 } = options;
  const context: number[] = new Array<number>(blockSize).fill(0);
  const out: number[] = [];
  while (out.length < maxLength) {
    const ix = generator.multinomial(model(context));
    if (ix === 0) break;
    out.push(ix);
    context.shift();
    context.push(ix);
  }
  return vocab.decode(out);
}

/** Samples `n` words in a row from one generator. */
export function sampleWords(model: NextTokenModel, vocab: Vocab, n: number, options: SampleOptions): string[] {
  return Array.from({ length: n }, () => sampleWord(model, vocab, options));
}

/** A {@link NextTokenModel} that reads rows of a bigram probability table. */
export function tableModel(probs: readonly (readonly number[])[]): NextTokenModel {
  return (context) => {
    const row = probs[context[context.length - 1] as number];
    if (!row) throw new RangeError(`no probability row for token ${context[context.length - 1]}`);
    return row;
  };
}
