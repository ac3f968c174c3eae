/**
 * Run logs: every training run gets a short random tag, and each evaluation
 * becomes one row of a CSV file (tag, step, train loss, val loss, seconds).
 * Runs in the same folder append to the same file, so one log.csv can hold a
 * run, its resumption and later runs, told apart by their tags.
 *
 * Rows are appended as whole lines in one write each, and other files are
 * replaced through a temporary file and a rename, so a crash never leaves a
 * half-written file behind.
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { READ_LIMITS, readFileBounded, writeFileAtomic } from "../runtime/files";

/** Column names of a run log, in file order. */
export const RUN_LOG_COLUMNS = ["tag", "step", "train_loss", "val_loss", "seconds"] as const;

/** One evaluation of one run: a row of log.csv. */
export interface RunLogRow {
  /** the run's 6-hex-digit tag */
  tag: string;
  /** training steps done when the losses were measured */
  step: number;
  /** mean loss on the training split (or its evaluation subset) */
  trainLoss: number;
  /** mean loss on the validation split (or its evaluation subset) */
  valLoss: number;
  /** wall-clock seconds since the run started */
  seconds: number;
}

/** A new random run tag: 24 bits from the crypto generator as 6 lowercase hex digits, e.g. "3fa2c1". */
export function newRunTag(): string {
  return crypto.randomBytes(3).toString("hex");
}

/** True for a string shaped like a run tag (6 lowercase hex digits). */
export function isRunTag(s: string): boolean {
  return /^[0-9a-f]{6}$/.test(s);
}

/** Formats a loss for the log: 6 decimals, or "nan"/"inf" for non-finite values. */
function formatLoss(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  return v.toFixed(6);
}

/** The CSV text of rows (no header), each row a whole line ending in "\n". */
export function runLogLines(rows: readonly RunLogRow[]): string {
  return stringify(
    rows.map((r) => [r.tag, String(r.step), formatLoss(r.trainLoss), formatLoss(r.valLoss), r.seconds.toFixed(3)]),
  );
}

/**
 * Appends rows to a run log, writing the header first when the file is new or
 * empty. All rows go out in one append of whole lines.
 */
export function appendRunLog(file: string, rows: readonly RunLogRow[]): void {
  if (rows.length === 0) return;
  let text = runLogLines(rows);
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  if (size === 0) text = stringify([[...RUN_LOG_COLUMNS]]) + text;
  fs.appendFileSync(file, text);
}

function parseLoss(s: string): number {
  if (s === "nan") return NaN;
  if (s === "inf") return Infinity;
  if (s === "-inf") return -Infinity;
  return Number(s);
}

/**
 * Parses the text of a run log. Rows are returned in file order. A last line
 * without its newline or with missing fields (a torn write) is ignored.
 *
 * @throws Error naming the source when the header is not a run log's.
 */
export function parseRunLog(text: string, source = "run log"): RunLogRow[] {
  let body = text;
  if (body.length > 0 && !body.endsWith("\n")) body = body.slice(0, body.lastIndexOf("\n") + 1);
  const records = parse(body, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  const header = records.shift();
  if (!header) return [];
  if (header.join(",") !== RUN_LOG_COLUMNS.join(",")) {
    throw new Error(`${source} is not a run log: its header is '${header.join(",")}'`);
  }
  const rows: RunLogRow[] = [];
  for (const rec of records) {
    if (rec.length !== RUN_LOG_COLUMNS.length) continue;
    const [tag, step, trainLoss, valLoss, seconds] = rec as [string, string, string, string, string];
    rows.push({
      tag,
      step: Number(step),
      trainLoss: parseLoss(trainLoss),
      valLoss: parseLoss(valLoss),
      seconds: Number(seconds),
    });
  }
  return rows;
}

/**
 * Reads a run log (for learning curves): every row, in file order.
 * @throws Error with one clear line when the file is missing or not a run log.
 */
export function readRunLog(file: string): RunLogRow[] {
  if (!fs.existsSync(file)) throw new Error(`no run log at ${file}`);
  return parseRunLog(readFileBounded(file, READ_LIMITS.log, "a run log").toString("utf8"), file);
}

/** The rows of a log grouped by run tag, runs in order of first appearance. */
export function runLogByTag(rows: readonly RunLogRow[]): Map<string, RunLogRow[]> {
  const out = new Map<string, RunLogRow[]>();
  for (const r of rows) {
    const list = out.get(r.tag);
    if (list) list.push(r);
    else out.set(r.tag, [r]);
  }
  return out;
}

/**
 * Makes a run log fit to append to, before a run writes to it: a torn last
 * row (a write cut short) is dropped, and for a run resumed at `fromStep`,
 * so are the rows written after that step's row by a part of the run that
 * no checkpoint holds (a run killed between its log row and its checkpoint),
 * so that the log continues from the step the run does, without overlaps.
 * The file is rewritten (atomically) only when something was dropped.
 * @returns notes for the user saying what was dropped.
 */
export function repairRunLog(file: string, fromStep: number | null): string[] {
  if (!fs.existsSync(file)) return [];
  const text = readFileBounded(file, READ_LIMITS.log, "a run log").toString("utf8");
  const notes: string[] = [];
  let lines = text.split("\n");
  const torn = lines.pop() ?? "";
  if (torn !== "") notes.push(`${file}: dropped a torn last row ('${torn.slice(0, 40)}')`);
  if (lines.length > 0 && lines[0] !== RUN_LOG_COLUMNS.join(",")) {
    throw new Error(`${file} is not a run log: its header is '${(lines[0] ?? "").slice(0, 40)}'`);
  }
  if (fromStep !== null) {
    const body = lines.slice(1);
    const steps = body.map((l) => Number(l.split(",")[1]));
    const at = steps.lastIndexOf(fromStep);
    const keep = body.filter((_, i) => at < 0 || i <= at || !((steps[i] as number) > fromStep));
    if (keep.length < body.length) {
      const n = body.length - keep.length;
      notes.push(
        `${file}: dropped ${n} row${n === 1 ? "" : "s"} after step ${fromStep}, of a part of the run no checkpoint holds`,
      );
      lines = [lines[0] as string, ...keep];
    }
  }
  if (notes.length > 0) writeFileAtomic(file, lines.map((l) => l + "\n").join(""));
  return notes;
}
