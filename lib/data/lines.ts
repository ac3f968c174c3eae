/**
 * Reading line datasets: one example (a name, a word, a line of text) per line.
 *
 * @module
 */
import * as fs from "fs";
import { READ_LIMITS, readFileBounded } from "../runtime/files";

/** An error in the input data, with a message meant to be shown as is. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

/**
 * Splits text into examples: one per line, CRLF or LF endings, blank lines dropped.
 * A leading byte-order mark is removed; other whitespace inside a line is kept.
 */
export function splitLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r?\n/).filter((line) => line.trim() !== "");
}

/**
 * Reads a UTF-8 text file of examples, one per line.
 *
 * @param path - the file to read.
 * @returns the non-blank lines, in file order.
 * @throws DataError for a missing file, a directory, a file over 256 MB (or
 *   an endless one such as /dev/zero), a binary or non-UTF-8 file, or a file
 *   with no non-blank line.
 */
export function readLines(path: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch {
    throw new DataError(`cannot read ${path}: no such file`);
  }
  if (stat.isDirectory()) throw new DataError(`cannot read ${path}: it is a directory, not a text file`);
  const bytes = readFileBounded(path, READ_LIMITS.data, "a dataset", (m) => new DataError(m));
  if (bytes.includes(0)) throw new DataError(`cannot read ${path}: it looks binary (it holds NUL bytes)`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(`cannot read ${path}: it is not valid UTF-8 text`);
  }
  const lines = splitLines(text);
  if (lines.length === 0) throw new DataError(`cannot read ${path}: it holds no non-blank line`);
  return lines;
}

/** Summary facts of a list of examples, as notebook 01 shows them. */
export interface DatasetFacts {
  /** number of examples */
  count: number;
  /** length in characters of the shortest example */
  shortest: number;
  /** length in characters of the longest example */
  longest: number;
  /** one shortest example */
  shortestExample: string;
  /** one longest example */
  longestExample: string;
}

/**
 * Counts examples and finds the shortest and longest (lengths in Unicode characters).
 * @throws DataError when `words` is empty.
 */
export function datasetFacts(words: readonly string[]): DatasetFacts {
  if (words.length === 0) throw new DataError("the dataset is empty");
  let shortestExample = words[0] as string;
  let longestExample = shortestExample;
  for (const w of words) {
    if (charLength(w) < charLength(shortestExample)) shortestExample = w;
    if (charLength(w) > charLength(longestExample)) longestExample = w;
  }
  return {
    count: words.length,
    shortest: charLength(shortestExample),
    longest: charLength(longestExample),
    shortestExample,
    longestExample,
  };
}

/** Length in Unicode code points (an emoji counts as one character). */
export function charLength(s: string): number {
  return Array.from(s).length;
}
