/**
 * The data every check compares on: the names, their vocabulary, and the
 * lectures' split (Python's `random.seed(42); random.shuffle(words)`, then
 * 80/10/10), read once and kept. The exercises ask learners to use the same
 * (`lectureSplit(words, 42)`), so a check can recompute what a right answer is.
 *
 * @module
 */
import { buildContexts, type Contexts } from "../data/contexts";
import { loadDataset } from "../data/datasets";
import { Vocab } from "../data/vocab";
import { lectureSplit, type LectureSplit } from "../random/python";

/** The names, their vocabulary and the lectures' split. */
export interface ExerciseData {
  /** every name of data/names.txt */
  words: string[];
  /** 27 tokens: "." and a-z */
  vocab: Vocab;
  /** `lectureSplit(words, 42)`: train, val (the dev split) and test */
  split: LectureSplit<string>;
}

let data: ExerciseData | null = null;
const contexts = new Map<string, Contexts>();

/** The names, vocabulary and split, read on first use. */
export function exerciseData(): ExerciseData {
  if (!data) {
    const words = loadDataset("names").words;
    data = { words, vocab: Vocab.fromWords(words), split: lectureSplit(words, 42) };
  }
  return data;
}

/** Which words: every name, or one part of the split. */
export type Part = "all" | "train" | "val" | "test";

/** The words of a part. */
export function wordsOf(part: Part): string[] {
  const d = exerciseData();
  return part === "all" ? d.words : d.split[part];
}

/** Context windows of `blockSize` tokens of a part (built once per part and size). */
export function contextsOf(part: Part, blockSize: number): Contexts {
  const key = `${part}/${blockSize}`;
  let c = contexts.get(key);
  if (!c) {
    c = buildContexts(wordsOf(part), exerciseData().vocab, blockSize);
    contexts.set(key, c);
  }
  return c;
}

/** Computes a value on first use and keeps it (the checks' reference values). */
export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}
