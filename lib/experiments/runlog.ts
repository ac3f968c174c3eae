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
  return parseRunLog(fs.readFileSync(file, "utf8"), file);
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
