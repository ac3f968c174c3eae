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
import { z } from "zod";
import type { Vocab } from "../data/vocab";
import { ConfigError } from "./hyperparams";

/** A dataset as a run records it (config.json's `data`). */
export const recordSchema = z.object({
  /** the registry name or the path as given to -i */
  source: z.string(),
  /** the absolute path when the data came from a file, else null */
  file: z.string().nullable().default(null),
  /** examples (non-blank lines) */
  lines: z.number().int().nonnegative(),
  /** bytes of the lines as loaded, UTF-8, each ending in "\n" */
  bytes: z.number().int().nonnegative(),
  /** SHA-256 of those bytes, hex */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** the run's vocabulary as one string, boundary token first (what the model reads) */
  vocab: z.string(),
  /** seed of the 80/10/10 split by word */
  splitSeed: z.number().int(),
});

/** One dataset of a run's history (config.json's `dataHistory`, oldest first). */
export const historyEntrySchema = z.object({
  ...recordSchema.pick({ source: true, lines: true, bytes: true, sha256: true }).shape,
  /** the step at which training on it started */
  fromStep: z.number().int().nonnegative(),
  /** the tag of the run that started it */
  tag: z.string(),
  /** the best checkpoint on the data before it, kept under this name (null for the first dataset) */
  previousBest: z.string().nullable(),
});

/** A dataset as a run records it. */
export type DatasetRecord = z.infer<typeof recordSchema>;

/** One dataset of a run's history. */
export type DataHistoryEntry = z.infer<typeof historyEntrySchema>;

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
