/**
 * What a run was trained on, so that `--resume` can tell the same data from
 * other data. A run folder's config.json gets two fields:
 *
 *     "data":        the dataset now in use: source, lines, bytes, SHA-256,
 *                    the run's vocabulary and the seed of the train/val/test split
 *     "dataHistory": every dataset the run has trained on, with the step and
 *                    the run tag at which each one started
 *
 * The fingerprint is of the lines as the model sees them (each followed by
 * "\n", blank lines dropped, CRLF read as LF), so the same names re-saved with
 * other line endings are the same data, and any changed, added or removed
 * line is not.
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DataError } from "../data/lines";
import type { Vocab } from "../data/vocab";
import { ConfigError } from "./hyperparams";

/** A dataset as a run records it. */
export interface DatasetRecord {
  /** the registry name or the path as given to -i */
  source: string;
  /** the absolute path when the data came from a file, else null */
  file: string | null;
  /** examples (non-blank lines) */
  lines: number;
  /** bytes of the lines as loaded, UTF-8, each ending in "\n" */
  bytes: number;
  /** SHA-256 of those bytes, hex */
  sha256: string;
  /** the run's vocabulary as one string, boundary token first (what the model reads) */
  vocab: string;
  /** seed of the 80/10/10 split by word */
  splitSeed: number;
}

/** One dataset of a run's history. */
export interface DataHistoryEntry {
  /** the registry name or path as given */
  source: string;
  /** examples */
  lines: number;
  /** bytes of the lines as loaded */
  bytes: number;
  /** SHA-256 of the lines as loaded */
  sha256: string;
  /** the step at which training on it started */
  fromStep: number;
  /** the tag of the run that started it */
  tag: string;
  /** the best checkpoint on the data before it, kept under this name (null for the first dataset) */
  previousBest: string | null;
}

/** The fields a run's config.json gets from this module. */
export interface RunDataFields {
  /** the dataset in use */
  data: DatasetRecord;
  /** every dataset the run has trained on, oldest first */
  dataHistory: DataHistoryEntry[];
}

/** `--resume` was given other data than the run's, without --new-data (or data the run cannot read). */
export class DataChangedError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = "DataChangedError";
  }
}

/** The fingerprint of a dataset's lines (see the module comment). */
export function fingerprintLines(words: readonly string[]): Pick<DatasetRecord, "lines" | "bytes" | "sha256"> {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  for (const w of words) {
    const b = Buffer.from(w + "\n", "utf8");
    hash.update(b);
    bytes += b.length;
  }
  return { lines: words.length, bytes, sha256: hash.digest("hex") };
}

/** True when `source` names an existing file (not a registry name). */
function fileOf(source: string): string | null {
  try {
    return fs.statSync(source).isFile() ? path.resolve(source) : null;
  } catch {
    return null;
  }
}

/** The record of a dataset for a run with vocabulary `vocab`, split with `splitSeed`. */
export function datasetRecord(
  source: string,
  words: readonly string[],
  vocab: Vocab,
  splitSeed: number,
): DatasetRecord {
  return { source, file: fileOf(source), ...fingerprintLines(words), vocab: vocab.chars.join(""), splitSeed };
}

/** A short description for messages: "names.txt (300 lines, 2,104 bytes, sha256 1a2b3c4d)". */
export function describeData(r: Pick<DatasetRecord, "source" | "lines" | "bytes" | "sha256">): string {
  const n = (v: number): string => v.toLocaleString("en-US");
  return `${r.source} (${n(r.lines)} lines, ${n(r.bytes)} bytes, sha256 ${r.sha256.slice(0, 8)})`;
}

function isRecord(v: unknown): v is DatasetRecord {
  const r = v as Partial<DatasetRecord> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.source === "string" &&
    typeof r.sha256 === "string" &&
    typeof r.lines === "number" &&
    typeof r.bytes === "number" &&
    typeof r.vocab === "string" &&
    typeof r.splitSeed === "number"
  );
}

/**
 * The data fields of a run folder's config.json: its record (null when the
 * run was written before runs recorded their data) and its history.
 * @throws DataError when config.json cannot be read.
 */
export function readRunData(configFile: string): { data: DatasetRecord | null; history: DataHistoryEntry[] } {
  let json: { data?: unknown; dataHistory?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(configFile, "utf8")) as typeof json;
  } catch (e) {
    throw new DataError(`cannot read ${configFile}: ${(e as Error).message.split("\n")[0]}`);
  }
  const data = isRecord(json.data) ? json.data : null;
  const history = Array.isArray(json.dataHistory) ? (json.dataHistory as DataHistoryEntry[]) : [];
  return { data, history };
}

/** Characters of `words` that `vocab` lacks, in order of first appearance. */
export function charsOutside(words: readonly string[], vocab: string): string[] {
  const known = new Set(Array.from(vocab));
  const out = new Set<string>();
  for (const w of words) for (const ch of w) if (!known.has(ch)) out.add(ch);
  return [...out];
}

/** What {@link checkResumeData} decided. */
export interface ResumeDataCheck {
  /** true when the data differs from the run's (allowed by --new-data) */
  changed: boolean;
  /** a note for the user when the check could not be complete (a run written before data records), else null */
  note: string | null;
}

/**
 * Checks the data given to `--resume` against the run's: the same lines
 * (by SHA-256) and split seed pass; other data is refused unless `newData`,
 * and even then only when the run's vocabulary covers its characters. A run
 * written before data records is compared by source name only.
 *
 * @param saved - the run's record, or null for an older run (then `savedSource` is config.json's dataset).
 * @throws DataChangedError saying what the run was trained on and what was given.
 */
export function checkResumeData(
  dir: string,
  saved: DatasetRecord | null,
  savedSource: string,
  current: DatasetRecord,
  words: readonly string[],
  newData: boolean,
): ResumeDataCheck {
  const lacking = charsOutside(words, current.vocab);
  if (lacking.length > 0) {
    const shown = lacking.slice(0, 5).map((c) => JSON.stringify(c));
    throw new DataChangedError(
      `cannot resume ${dir} on ${current.source}: it holds characters the run's vocabulary lacks ` +
        `(${shown.join(", ")}${lacking.length > 5 ? ", ..." : ""}), so it is not the data the run was trained on ` +
        `and the model cannot read it; train a new run in another folder`,
    );
  }
  if (!saved) {
    const same = path.resolve(savedSource) === path.resolve(current.source) || savedSource === current.source;
    if (!same && !newData) throw new DataChangedError(changedMessage(dir, savedSource, describeData(current)));
    const note = `${dir} records no fingerprint of its data (an older run): only the name ${savedSource} was compared`;
    return { changed: !same, note };
  }
  const same =
    saved.sha256 === current.sha256 && saved.lines === current.lines && saved.splitSeed === current.splitSeed;
  if (same || newData) return { changed: !same, note: null };
  const why = saved.sha256 === current.sha256 ? `, split with seed ${saved.splitSeed} (now ${current.splitSeed})` : "";
  throw new DataChangedError(changedMessage(dir, describeData(saved) + why, describeData(current)));
}

function changedMessage(dir: string, was: string, now: string): string {
  return (
    `cannot resume ${dir} on other data: it was trained on ${was}, not on ${now}; ` +
    `pass --new-data to go on training on it on purpose, or train into another folder`
  );
}

/** The entry of `record` in a history. */
export function historyEntry(
  record: DatasetRecord,
  fromStep: number,
  tag: string,
  previousBest: string | null,
): DataHistoryEntry {
  const { source, lines, bytes, sha256 } = record;
  return { source, lines, bytes, sha256, fromStep, tag, previousBest };
}

/** The name under which the best checkpoint on the data before a change is kept, e.g. "model.before-600.ckpt". */
export function previousBestName(step: number): string {
  return `model.before-${step}.ckpt`;
}
