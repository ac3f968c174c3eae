/**
 * The files of a run folder and the checks made on it before a run:
 *
 *     DIR/config.json   the dataset, the configuration, vocabulary size and parameter count
 *     DIR/log.csv       one row per evaluation: tag, step, train_loss, val_loss, seconds
 *     DIR/model.ckpt    the checkpoint with the best val loss (see lib/experiments/checkpoint.ts)
 *     DIR/last.ckpt     the state at the latest evaluation, where --resume continues
 *     DIR/samples.txt   a few words sampled from the best checkpoint
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { DataError } from "../data/lines";
import { READ_LIMITS, readFileBounded } from "../runtime/files";
import { decodeCheckpoint } from "./checkpoint";
import { historyEntrySchema, recordSchema, type DataHistoryEntry, type DatasetRecord } from "./data-record";
import { ConfigError, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { RUN_LOG_COLUMNS } from "./runlog";

/** File names inside a run folder. */
export const RUN_FILES = Object.freeze({
  config: "config.json",
  log: "log.csv",
  best: "model.ckpt",
  last: "last.ckpt",
  samples: "samples.txt",
});

/** What a run folder's config.json holds. */
export interface RunConfigFile {
  /** the dataset's registry name or file path */
  dataset: string;
  /** the full configuration */
  config: ExperimentConfig;
  /** size of the vocabulary */
  vocabSize: number;
  /** parameters of the model */
  params: number;
  /** the dataset in use (runs written before data records lack it) */
  data?: DatasetRecord;
  /** every dataset the run has trained on, oldest first */
  dataHistory?: DataHistoryEntry[];
}

/** What a checkpoint written by an experiment keeps besides the weights. */
export interface CheckpointMeta {
  /** tag of the run that wrote it */
  tag: string;
  /** training steps done */
  step: number;
  /** train loss at that step (evaluation subset) */
  trainLoss: number;
  /** val loss at that step (evaluation subset) */
  valLoss: number;
  /** the dataset's registry name or file path */
  dataset: string;
}

/** config.json as a run writes it; unknown fields pass (a later version may add some). */
const runConfigSchema = z
  .object({
    dataset: z.string(),
    config: z.record(z.string(), z.unknown()),
    vocabSize: z.number().int().positive(),
    params: z.number().int().nonnegative(),
    data: z.unknown().optional(),
    dataHistory: z.unknown().optional(),
  })
  .loose();

/** A saved run's config.json, read once: the file, its data record (null for older runs) and its history. */
export interface SavedRun {
  file: RunConfigFile;
  data: DatasetRecord | null;
  history: DataHistoryEntry[];
}

/**
 * Checks run files that came from another process (a queue worker's result, a
 * job's snapshot) before any is written: config.json is a run's config.json and
 * each checkpoint decodes (magic, header, sizes, checksum).
 * @throws DataError naming the file (prefixed by `source`) and its first problem.
 */
export function checkRunFileContents(files: Readonly<Partial<Record<string, string>>>, source: string): void {
  const bytes = (name: string): Buffer | null => {
    const b64 = files[name];
    return b64 === undefined ? null : Buffer.from(b64, "base64");
  };
  const config = bytes(RUN_FILES.config);
  if (config !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(config.toString("utf8"));
    } catch {
      throw new DataError(`${source}: its config.json is not JSON`);
    }
    const checked = runConfigSchema.safeParse(parsed);
    if (!checked.success)
      throw new DataError(`${source}: its config.json is not a run's (${firstIssue(checked.error)})`);
  }
  for (const name of [RUN_FILES.best, RUN_FILES.last]) {
    const ckpt = bytes(name);
    if (ckpt !== null) decodeCheckpoint(ckpt, `${source}: its ${name}`);
  }
}

/** "config.vocabSize: expected number, received string": the first problem a schema found. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.length > 0 ? issue.path.join(".") + ": " : ""}${issue.message.replace(/^Invalid input: /, "")}`;
}

/** Reads JSON of at most {@link READ_LIMITS}.json bytes. */
export function readJsonFile(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileBounded(file, READ_LIMITS.json, what, (m) => new DataError(m)).toString("utf8"));
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`cannot read ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/**
 * Reads and checks a run folder's config.json.
 * @throws DataError naming the file and its first problem.
 */
export function readSavedRun(dir: string): SavedRun {
  const file = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(file)) throw new DataError(`${dir} holds no run (no ${RUN_FILES.config})`);
  const parsed = runConfigSchema.safeParse(readJsonFile(file, "a run's config.json"));
  if (!parsed.success) throw new DataError(`${file} is not a makemore run's config.json (${firstIssue(parsed.error)})`);
  const json = parsed.data;
  const data = recordSchema.safeParse(json.data);
  const history = z.array(historyEntrySchema).safeParse(json.dataHistory);
  return {
    file: { ...json, config: resolveConfig(json.config, file) } as RunConfigFile,
    data: data.success ? data.data : null,
    history: history.success ? history.data : [],
  };
}

/** Reads a run folder's config.json. */
export function readRunConfig(dir: string): RunConfigFile {
  return readSavedRun(dir).file;
}

/** The files of a run found in a folder (empty when there is none). */
export function runFilesIn(dir: string): string[] {
  const names = [RUN_FILES.config, RUN_FILES.best, RUN_FILES.last, RUN_FILES.log];
  return names.filter((n) => fs.existsSync(path.join(dir, n)));
}

/**
 * Checks that a run can go into `outDir`: with `resume` it must hold a run,
 * otherwise it must not (unless `force`, and then only a makemore run is
 * replaced). Returns the run files found there.
 * @throws ConfigError with one line saying what to do instead.
 */
export function checkRunDir(outDir: string, options: { resume?: boolean; force?: boolean } = {}): string[] {
  const exists = fs.existsSync(outDir);
  if (exists && !fs.statSync(outDir).isDirectory()) throw new ConfigError(`${outDir} exists and is not a directory`);
  const existing = exists ? runFilesIn(outDir) : [];
  if (options.resume && options.force) throw new ConfigError("--resume and --force cannot be used together");
  if (options.resume) {
    const missing = [RUN_FILES.config, RUN_FILES.best].filter((n) => !existing.includes(n));
    if (missing.length > 0) throw new ConfigError(resumeRefusal(outDir, exists, existing, missing));
  } else if (existing.length > 0 && !options.force) {
    throw new ConfigError(
      `${outDir} already holds a run (${existing.join(", ")}); use --resume to continue it or --force to replace it`,
    );
  } else if (existing.length > 0) checkForeignFiles(outDir, existing);
  return existing;
}

/** Why a folder cannot be resumed, naming what it holds and what it lacks. */
function resumeRefusal(dir: string, exists: boolean, found: readonly string[], missing: readonly string[]): string {
  if (!exists) return `nothing to resume in ${dir}: no such folder`;
  if (found.length === 0) return `nothing to resume in ${dir}: it holds no run (no ${missing.join(", no ")})`;
  const verb = missing.length === 1 ? "is" : "are";
  return `cannot resume ${dir}: ${missing.join(" and ")} ${verb} missing (it holds ${found.join(", ")})`;
}

/** --force replaces a makemore run, never another program's config.json or log.csv. */
function checkForeignFiles(dir: string, existing: readonly string[]): void {
  const refuse = (why: string): never => {
    throw new ConfigError(`${why}; --force replaces only a makemore run: move it away or use another folder`);
  };
  if (existing.includes(RUN_FILES.config)) {
    try {
      readSavedRun(dir);
    } catch (e) {
      refuse((e as Error).message);
    }
  }
  if (existing.includes(RUN_FILES.log)) {
    const file = path.join(dir, RUN_FILES.log);
    const head = Buffer.alloc(256);
    const fd = fs.openSync(file, "r");
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const first = head.subarray(0, n).toString("utf8").split("\n")[0] ?? "";
    if (n > 0 && first !== RUN_LOG_COLUMNS.join(","))
      refuse(`${file} is not a run log (its header is '${first.slice(0, 40)}')`);
  }
}
