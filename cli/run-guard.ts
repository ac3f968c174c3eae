/**
 * What `makemore train` checks and holds around a run, so that a run folder
 * stays consistent:
 *
 * - everything that can refuse a run is checked before anything is written:
 *   the paths, the folder's state, the data against a resumed run's, the
 *   parameter count and the memory estimate;
 * - the run holds the folder's lock (lib/experiments/run-lock.ts) from before
 *   its first write to after its last, and the folder's state is checked
 *   again under the lock;
 * - config.json records the dataset and its history (lib/experiments/run-data.ts);
 * - a new run that fails before its first training step takes back what it
 *   wrote, and the folder if it made it, so the next try needs no --force.
 *
 * @module
 */
import { dataBlockSize } from "../lib/experiments/run-data";
import { findModel } from "../lib/models/registry";
import * as fs from "fs";
import * as path from "path";
import { InvalidArgumentError, Option } from "commander";
import { loadDataset, type Dataset } from "../lib/data/datasets";
import { Vocab } from "../lib/data/vocab";
import { kernelsAvailable } from "../lib/engines/kernels";
import { readCheckpoint } from "../lib/experiments/checkpoint";
import { checkRunDir, readRunConfig, RUN_FILES, type CheckpointMeta } from "../lib/experiments/run-files";
import { resumeConfig } from "../lib/experiments/run-model";
import { SPLIT_SEED } from "../lib/experiments/run-data";
import {
  ConfigError,
  parameterCount,
  ParameterLimitError,
  resolveConfig,
  type ExperimentConfig,
} from "../lib/experiments/hyperparams";
import {
  checkRunMemory,
  dataSize,
  estimateRunMemory,
  MAX_MEMORY_ENV,
  memoryCeiling,
  MemoryLimitError,
  parseByteSize,
} from "../lib/experiments/limits";
import type { GridJob, GridRow } from "../lib/experiments/grid";
import {
  checkResumeData,
  datasetRecord,
  historyEntry,
  previousBestName,
  readRunData,
  type DataHistoryEntry,
  type DatasetRecord,
  type RunDataFields,
} from "../lib/experiments/data-record";
import {
  acquireRunLock,
  checkNotLocked,
  makeDirs,
  removeIfEmpty,
  type LockHolder,
  type RunLock,
} from "../lib/experiments/run-lock";
import type { BackendName } from "../lib/runtime/backend";
import { nativeUnavailableReason } from "../lib/runtime/tf";
import { checkDatasetArg } from "./paths";
import type { Io } from "./common";

/** The flags of `makemore train` that decide what is checked. */
export interface GuardFlags {
  input?: string;
  resume?: boolean;
  force?: boolean;
  newData?: boolean;
  maxParams?: number;
  maxMemory?: number;
  maxLineLength?: number;
}

/** What a run will be, as far as its folder and data decide. */
export interface RunPlan {
  /** the full configuration */
  config: ExperimentConfig;
  /** the vocabulary the model reads (a resumed run's own) */
  vocab: Vocab;
  /** the dataset as config.json records it */
  record: DatasetRecord;
  /** for a resumed run: where it continues and what the data check found; null for a new run */
  resume: { fromStep: number; changed: boolean; note: string | null; history: DataHistoryEntry[] } | null;
}

/** The --max-memory flag (train, grid, lottery). */
export function maxMemoryOption(): Option {
  return new Option(
    "--max-memory <size>",
    `refuse runs whose memory estimate is larger, e.g. 4g (default: ${MAX_MEMORY_ENV}, else half of this machine's memory)`,
  ).argParser((value: string) => {
    try {
      return parseByteSize(value, "it");
    } catch (e) {
      throw new InvalidArgumentError(`${(e as Error).message}.`);
    }
  });
}

/**
 * The backend a run will use, known before it starts (so that sizes are
 * checked before any work): --backend, else MAKEMORE_BACKEND, else node when
 * the native binding loaded, else wasm.
 */
export function plannedBackend(requested?: BackendName): BackendName {
  const env = process.env.MAKEMORE_BACKEND;
  if (requested) return requested;
  if (env === "node" || env === "wasm" || env === "cpu") return env;
  return nativeUnavailableReason === "" ? "node" : "wasm";
}

/** Refuses flag combinations that mean nothing. */
export function checkGuardFlags(flags: GuardFlags): void {
  if (flags.resume && flags.force) throw new ConfigError("--resume and --force cannot be used together");
  if (flags.newData && !flags.resume) {
    throw new ConfigError("--new-data goes with --resume: it lets a run go on training on other data");
  }
}

/**
 * The dataset to train on: -i, or for --resume without -i the one the run
 * recorded (its absolute file path when it still exists there).
 */
export function loadTrainData(out: string, flags: GuardFlags): Dataset {
  // a folder in use, an occupied folder, or nothing to resume, is refused before the data is read
  checkNotLocked(out);
  checkRunDir(out, { resume: Boolean(flags.resume), force: Boolean(flags.force) });
  const lines = flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength };
  if (flags.input !== undefined) return loadDataset(checkDatasetArg(flags.input), lines);
  if (!flags.resume)
    throw new ConfigError("missing -i/--input: a dataset name (names, words, brown, addition, sqrt) or a file");
  const saved = readRunConfig(out);
  const { data } = readRunData(path.join(out, RUN_FILES.config));
  const file = data?.file && fs.existsSync(data.file) ? data.file : null;
  const ds = loadDataset(file ?? saved.dataset, lines);
  return file ? { ...ds, name: data?.source ?? ds.name } : ds;
}

/**
 * Reads the folder (config.json, the checkpoint to resume from) and checks
 * the run against it and the data: read only, so it runs before the lock to
 * refuse early, and again under the lock to decide.
 */
export function inspectRun(
  out: string,
  flags: GuardFlags,
  data: Dataset,
  overrides: Partial<ExperimentConfig>,
): RunPlan {
  checkRunDir(out, { resume: Boolean(flags.resume), force: Boolean(flags.force) });
  if (!flags.resume) {
    const config = resolveConfig(overrides);
    // sequence models read whole lines: their block size comes from the data
    config.blockSize = dataBlockSize(data.words, findModel(config.model)?.examples ?? "context", config.blockSize);
    const vocab = Vocab.fromWords(data.words);
    const params = parameterCount(config, vocab.size);
    if (flags.maxParams !== undefined && params > flags.maxParams) {
      throw new ParameterLimitError(params, flags.maxParams, `the ${config.model} model`);
    }
    return { config, vocab, record: datasetRecord(data.name, data.words, vocab, SPLIT_SEED), resume: null };
  }
  const saved = readRunConfig(out);
  const config = resumeConfig(saved.config, overrides);
  const last = path.join(out, RUN_FILES.last);
  const ckpt = readCheckpoint<unknown, CheckpointMeta>(fs.existsSync(last) ? last : path.join(out, RUN_FILES.best));
  const vocab = Vocab.fromJSON(ckpt.vocab as { chars: string[] });
  const record = datasetRecord(data.name, data.words, vocab, SPLIT_SEED);
  const runData = readRunData(path.join(out, RUN_FILES.config));
  const check = checkResumeData(out, runData.data, saved.dataset, record, data.words, Boolean(flags.newData));
  return { config, vocab, record, resume: { fromStep: ckpt.meta.step, ...check, history: runData.history } };
}

/**
 * Refuses a run whose memory estimate does not fit (see lib/experiments/limits.ts).
 * @throws MemoryLimitError
 */
export function checkTrainMemory(plan: RunPlan, data: Dataset, maxMemory: number | undefined, backend: string): void {
  const estimate = estimateRunMemory(plan.config, dataSize(data.words), plan.vocab.size, {
    fusedAvailable: kernelsAvailable(),
  });
  checkRunMemory(estimate, memoryCeiling(maxMemory), backend);
}

/**
 * The config.json fields of a run about to start under the lock, and
 * whether its best val loss starts afresh. On a change of data the best
 * checkpoint so far is kept as model.before-<step>.ckpt.
 */
export function dataFields(out: string, plan: RunPlan, tag: string): { runInfo: RunDataFields; resetBest: boolean } {
  const { record, resume } = plan;
  if (!resume)
    return { runInfo: { data: record, dataHistory: [historyEntry(record, 0, tag, null)] }, resetBest: false };
  let history = resume.history;
  if (history.length === 0) history = [historyEntry(record, resume.fromStep, tag, null)];
  if (!resume.changed) return { runInfo: { data: record, dataHistory: history }, resetBest: false };
  const kept = previousBestName(resume.fromStep);
  fs.copyFileSync(path.join(out, RUN_FILES.best), path.join(out, kept));
  const entry = historyEntry(record, resume.fromStep, tag, kept);
  return { runInfo: { data: record, dataHistory: [...history, entry] }, resetBest: true };
}

/** Tells a run how far it got, so a failure knows whether to take its files back. */
export interface RunGuard {
  /** call with the step of each evaluation */
  reached(step: number): void;
}

/** "makemore train (pid 41, host vm, since ...)" */
function who(h: LockHolder): string {
  return `${h.command} (pid ${h.pid} on ${h.host}, since ${h.since})`;
}

/** Makes `out` if missing; true when this call made it. */
function makeFolder(out: string): boolean {
  makeDirs(path.dirname(path.resolve(out)));
  try {
    fs.mkdirSync(out);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/** Removes what a new run wrote into the folder it made, then the folder (when nothing else is in it). */
function takeBack(out: string): void {
  for (const name of Object.values(RUN_FILES)) fs.rmSync(path.join(out, name), { force: true });
  for (const name of fs.readdirSync(out)) if (name.endsWith(".tmp")) fs.rmSync(path.join(out, name), { force: true });
}

/**
 * Runs `body` holding the lock of `out`. A note on stderr says when a stale
 * lock (of a process that has ended) was taken over. When `body` throws
 * before any evaluation after step 0, and this call made the folder, the
 * folder is removed again.
 * @throws RunLockedError (exit 2) naming the process that holds the folder.
 */
export async function withRunFolder<T>(
  out: string,
  io: Io,
  command: string,
  body: (guard: RunGuard, lock: RunLock) => Promise<T>,
): Promise<T> {
  const made = makeFolder(out);
  const lock = acquireRunLock(out, command);
  if (lock.tookOver) io.err(`makemore: note: took over ${out} from ${who(lock.tookOver)}, which has ended\n`);
  let trained = false;
  let failed = false;
  try {
    return await body({ reached: (step) => (trained ||= step > 0) }, lock);
  } catch (e) {
    failed = true;
    if (made && !trained) takeBack(out);
    throw e;
  } finally {
    lock.release();
    if (failed && made && !trained) removeIfEmpty(out);
  }
}

/**
 * Moves the grid jobs whose memory estimate is over their share of the
 * ceiling (the ceiling over the workers that run at once) to the skipped
 * rows. Returns the jobs that fit.
 * @throws MemoryLimitError when no job fits.
 */
export function skipOverMemory(
  jobs: readonly GridJob[],
  skipped: GridRow[],
  data: Dataset,
  vocabSize: number,
  options: { workers: number; maxMemory?: number; backend: string },
): GridJob[] {
  const ceiling = memoryCeiling(options.maxMemory);
  const parallel = Math.max(1, Math.min(options.workers, jobs.length));
  const share = { bytes: Math.floor(ceiling.bytes / parallel), source: `${ceiling.source}, over ${parallel} workers` };
  const size = dataSize(data.words);
  const fits: GridJob[] = [];
  let first: MemoryLimitError | null = null;
  for (const job of jobs) {
    const estimate = estimateRunMemory(job.config, size, vocabSize, { fusedAvailable: kernelsAvailable() });
    try {
      checkRunMemory(estimate, parallel > 1 ? share : ceiling, options.backend, `run ${job.tag}`);
      fits.push(job);
    } catch (e) {
      if (!(e instanceof MemoryLimitError)) throw e;
      first ??= e;
      const { tag, config, params } = job;
      skipped.push({
        tag,
        config,
        params,
        bestValLoss: NaN,
        bestStep: -1,
        steps: 0,
        seconds: 0,
        status: "skipped",
        message: e.message,
      });
    }
  }
  if (fits.length === 0 && first) throw first;
  return fits;
}
