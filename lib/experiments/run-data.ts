/**
 * The data of an experiment: the 80/10/10 split by line, the examples the
 * model reads (context windows or whole padded lines), and fixed subsets of
 * the train and val splits for the periodic evaluations.
 *
 * @module
 */
import { buildContexts, splitWords, type Contexts, type Split } from "../data/contexts";
import { DataError } from "../data/lines";
import { Generator } from "../random/generator";
import { TorchGenerator } from "../random/torch";
import { subsetExamples, type ExampleKind, type Examples } from "../data/examples";
import { buildSequences, longestLine } from "../data/sequences";
import { Vocab } from "../data/vocab";

/** Seed of the 80/10/10 split by word (the lectures' 42). */
export const SPLIT_SEED = 42;

/** Evaluations use at most this many examples of each split (a fixed, seeded subset). */
export const EVAL_MAX_EXAMPLES = 25000;

/**
 * ...and, for lines, at most this many positions: all 25,000 lines of names
 * (16 positions), but 790 of Brown's sentences of 506, so that an evaluation
 * of long lines takes seconds rather than minutes (makemore.py evaluates 500
 * to 1,000 lines).
 */
export const EVAL_MAX_POSITIONS = 400_000;

/**
 * Tokens per evaluation chunk of a sequence model on the fused engine. The
 * graph keeps every activation of a chunk, so a chunk of 16,384 tokens lays
 * out 378 MB for the transformer on names, and touching that fresh memory
 * costs more than the arithmetic: evaluating 1,000 lines took 1.7 s of CPU
 * in one chunk, 0.4 s in chunks of 64 lines (1,024 tokens), with the same
 * loss to the last bit (lines do not interact; measured on a loaded machine).
 */
export const EVAL_CHUNK_TOKENS = 1024;

/** Lines per evaluation chunk of a sequence model of `blockSize` on the fused engine ({@link EVAL_CHUNK_TOKENS}). */
export function evalChunkLines(blockSize: number): number {
  return Math.max(1, Math.floor(EVAL_CHUNK_TOKENS / blockSize));
}

/** Examples an evaluation subset of examples of `kind` and `blockSize` holds at most. */
export function evalSubsetSize(kind: ExampleKind, blockSize: number): number {
  if (kind === "context") return EVAL_MAX_EXAMPLES;
  return Math.max(1, Math.min(EVAL_MAX_EXAMPLES, Math.floor(EVAL_MAX_POSITIONS / blockSize)));
}

/** At most `max` contexts of a split: all of them, or a fixed subset drawn with `seed`, in order. */
export function subsetContexts(data: Contexts, max: number, seed = SPLIT_SEED): Contexts {
  return subsetExamples(data, max, seed);
}

/** The data of an experiment: vocabulary, training examples, and the evaluation subsets. */
export interface ExperimentData {
  /** the vocabulary (built from every word, or the checkpoint's) */
  vocab: Vocab;
  /** every example of the training split */
  train: Examples;
  /** what evaluations measure: a fixed sample of the train split's lines, and the val split (see {@link evalSubsetSize}) */
  evalSplits: { train: Examples; val: Examples };
}

/**
 * The block size a model kind reads from these lines: `blockSize` for
 * context windows, the longest line + 1 for sequences.
 */
export function dataBlockSize(words: readonly string[], kind: ExampleKind, blockSize: number): number {
  return kind === "sequence" ? longestLine(words) + 1 : blockSize;
}

/** Which lines of the training split an evaluation measures: a sample of `lines` drawn with `seed`, or all. */
export interface EvalSample {
  /** lines in the sample, or "all" */
  lines: number | "all";
  /** the run's seed (the sample is drawn with a generator derived from it) */
  seed: number;
}

/** Seed of the generator that draws a run's evaluation sample (derived from the config seed, apart from the batches'). */
export function evalSampleSeed(seed: number): number {
  return Math.imul(seed ^ 0x2545f491, 0x9e3779b1) | 0;
}

/** `count` of the lines, drawn without replacement with `seed`, kept in their order. */
function sampleLines(lines: readonly string[], count: number, seed: number): string[] {
  if (count >= lines.length) return [...lines];
  const rows = new Generator(evalSampleSeed(seed))
    .shuffle(Array.from({ length: lines.length }, (_, i) => i))
    .slice(0, count)
    .sort((a, b) => a - b);
  return rows.map((r) => lines[r] as string);
}

/**
 * Splits the words 80/10/10 (seed {@link SPLIT_SEED}) and builds the examples
 * an experiment trains and evaluates on. The val split is evaluated whole
 * (up to {@link evalSubsetSize}); the train split's evaluation set is a
 * sample of its lines fixed for the run (`sample`), or every line.
 *
 * @param blockSize - context length, or (sequences) positions per line.
 * @param vocab - the vocabulary to encode with (default: built from the words).
 * @param kind - context windows (default) or padded lines.
 * @param sample - the train split's evaluation sample (default: every line).
 * @throws DataError when a word has a character outside `vocab`, a line does
 *   not fit the block size, or there are fewer than 3 words.
 */
export function prepareExperimentData(
  words: readonly string[],
  blockSize: number,
  vocab?: Vocab,
  kind: ExampleKind = "context",
  sample: EvalSample = { lines: "all", seed: 0 },
): ExperimentData {
  const v = vocab ?? Vocab.fromWords(words);
  const split = experimentSplit(words, kind);
  const build = (lines: readonly string[]): Examples =>
    kind === "sequence" ? buildSequences(lines, v, blockSize) : buildContexts(lines, v, blockSize);
  const train = build(split.train);
  const measured = sample.lines === "all" ? train : build(sampleLines(split.train, sample.lines, sample.seed));
  return {
    vocab: v,
    train,
    evalSplits: {
      train: subsetExamples(measured, evalSubsetSize(kind, blockSize), SPLIT_SEED),
      val: subsetExamples(build(split.val), evalSubsetSize(kind, blockSize), SPLIT_SEED),
    },
  };
}

/** makemore.py's default seed: its split is the first draw of torch's generator seeded with it. */
export const MAKEMORE_SEED = 3407;

/**
 * How an experiment splits its lines:
 *
 * - context windows (the lectures): 80/10/10, shuffled with seed {@link SPLIT_SEED},
 *   evaluated on the val split;
 * - lines (makemore.py's models): makemore.py's own split, line for line: the
 *   lines in the order of `torch.randperm(n)` after `torch.manual_seed(3407)`,
 *   the last min(1,000, 10%) of them the test split and the others the
 *   training split. Evaluations hold out the test split (it is `val` here as
 *   well as `test`): makemore.py reports its test loss and keeps the best checkpoint by it.
 * @throws DataError when there are fewer than 3 lines.
 */
export function experimentSplit(words: readonly string[], kind: ExampleKind): Split<string[]> {
  if (kind === "context") return splitWords(words, SPLIT_SEED);
  if (words.length < 3) throw new DataError(`need at least 3 examples to split, got ${words.length}`);
  const order = new TorchGenerator(MAKEMORE_SEED).randperm(words.length);
  const shuffled = Array.from(order, (i) => words[i] as string);
  const held = Math.max(1, Math.min(1000, Math.floor(words.length / 10)));
  const test = shuffled.slice(shuffled.length - held);
  return { train: shuffled.slice(0, shuffled.length - held), val: test, test };
}

/** Samples sorted as makemore.py prints them: found in the training split, in the held-out splits, or new. */
export interface SampleGroups {
  /** lines of the training split */
  train: string[];
  /** lines of the val or test split (never trained on) */
  heldOut: string[];
  /** lines of neither: what the model made up */
  fresh: string[];
}

/** Sorts samples by where they occur in the run's split of `words` (see {@link experimentSplit}). */
export function groupSamples(samples: readonly string[], words: readonly string[], kind: ExampleKind): SampleGroups {
  const split = experimentSplit(words, kind);
  const train = new Set(split.train);
  const heldOut = new Set([...split.val, ...split.test]);
  const groups: SampleGroups = { train: [], heldOut: [], fresh: [] };
  for (const s of samples) {
    if (train.has(s)) groups.train.push(s);
    else if (heldOut.has(s)) groups.heldOut.push(s);
    else groups.fresh.push(s);
  }
  return groups;
}
