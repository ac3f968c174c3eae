/**
 * The files of a run folder and the checks made on it before a run:
 *
 *     DIR/config.json   the dataset, the configuration, vocabulary size and parameter count
 *     DIR/log.csv       one row per evaluation: tag, step, train_loss, val_loss, seconds
 *     DIR/model.ckpt    the checkpoint with the best val loss (see lib/experiments/checkpoint.ts)
 *     DIR/last.ckpt     the state at the end of the run, where --resume continues
 *     DIR/samples.txt   a few words sampled from the best checkpoint
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { DataError } from "../data/lines";
import { ConfigError, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { resumeRefusal } from "./run-folder";

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

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** Reads a run folder's config.json. */
export function readRunConfig(dir: string): RunConfigFile {
  const file = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(file)) throw new DataError(`${dir} holds no run (no ${RUN_FILES.config})`);
  const json = readJson<RunConfigFile>(file);
  return { ...json, config: resolveConfig(json.config ?? {}, file) };
}

/** The files of a run found in a folder (empty when there is none). */
export function runFilesIn(dir: string): string[] {
  const names = [RUN_FILES.config, RUN_FILES.best, RUN_FILES.last, RUN_FILES.log];
  return names.filter((n) => fs.existsSync(path.join(dir, n)));
}

/**
 * Checks that a run can go into `outDir`: with `resume` it must hold a run,
 * otherwise it must not (unless `force`). Returns the run files found there.
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
  }
  return existing;
}
