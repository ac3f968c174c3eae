/**
 * The plan of a run: everything decided before its first write, made once.
 *
 * {@link planRun} checks the folder (a new run needs one without a run, a
 * resumed run one that holds it), reads what a resumed run continues from,
 * loads the data, resolves the configuration (a sequence model's block size
 * comes from the data), counts the parameters, checks the data against a
 * resumed run's, encodes the examples, estimates the memory and so picks the
 * engine. Every refusal comes from here, before anything is written.
 *
 * The CLI plans before it takes the folder's lock (to refuse at once) and
 * hands the plan to `runExperiment`, which uses it under the lock unless the
 * folder changed in between ({@link currentPlan}: then it is made again).
 * Grids size each combination with {@link planModel}, the same checks.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { DataError } from "../data/lines";
import { Vocab } from "../data/vocab";
import type { EngineName } from "../engines/engine";
import { kernelsAvailable } from "../engines/kernels";
import { defaultThreads } from "../engines/kernel-pool";
import { findModel } from "../models/registry";
import type { BackendName } from "../runtime/backend";
import { nativeUnavailableReason } from "../runtime/tf";
import { readCheckpoint, type Checkpoint } from "./checkpoint";
import {
  checkResumeData,
  datasetRecord,
  historyEntry,
  previousBestName,
  type DataHistoryEntry,
  type DatasetRecord,
} from "./data-record";
import {
  ConfigError,
  parameterCount,
  ParameterLimitError,
  resolveConfig,
  SHAPE_KEYS,
  type ExperimentConfig,
} from "./hyperparams";
import {
  checkRunMemory,
  dataSize,
  estimateRunMemory,
  memoryCeiling,
  type DataSize,
  type MemoryCeiling,
  type MemoryEstimate,
} from "./limits";
import { dataBlockSize, evalChunkLines, prepareExperimentData, SPLIT_SEED, type ExperimentData } from "./run-data";
import { checkRunDir, readSavedRun, RUN_FILES, type CheckpointMeta, type SavedRun } from "./run-files";
import { newRunTag } from "./runlog";

/** A run's lines and the name config.json records for them. */
export interface RunData {
  /** the registry name or the path as given */
  name: string;
  /** one example per entry */
  words: readonly string[];
}

/** Ceilings a run must fit under. */
export interface RunLimits {
  /** refuse (ParameterLimitError) a model with more parameters */
  maxParams?: number;
  /** the memory ceiling in bytes (default MAKEMORE_MAX_MEMORY, else half of this machine's memory) */
  maxMemory?: number;
  /** the TensorFlow.js backend the run will use (default: {@link plannedBackend}) */
  backend?: BackendName;
  /** threads the fused kernels run on (default: every core), which the memory estimate counts */
  threads?: number;
}

/** What {@link planRun} is asked. */
export interface PlanOptions extends RunLimits {
  /** hyperparameters; missing ones take the defaults (with `resume`: the saved run's) */
  config: Readonly<Partial<ExperimentConfig>>;
  /** the data, or how to load it once the folder is checked (the CLI's --resume without -i reads the saved run's) */
  data: RunData | ((saved: SavedRun | null) => RunData);
  /** the run folder */
  outDir: string;
  /** the run tag (default: a new random one) */
  tag?: string;
  /** continue the run saved in outDir (from last.ckpt, else model.ckpt) */
  resume?: boolean;
  /** replace a run already in outDir (its log.csv is kept and appended to) */
  force?: boolean;
  /** with `resume`: go on training on other data (recorded in config.json; the best val loss starts afresh) */
  newData?: boolean;
}

/** What a configuration amounts to: its parameters, memory and engine. */
export interface ModelPlan {
  /** the full configuration */
  config: ExperimentConfig;
  /** parameters of the model */
  params: number;
  /** the memory estimate (lib/experiments/limits.ts) */
  memory: MemoryEstimate;
  /** what runs the training steps and every evaluation */
  engine: EngineName;
  /** examples per evaluation chunk (sequence models on the fused engine), or undefined for the engine's default */
  evalChunk?: number;
}

/** The best val loss a run has to beat. */
export interface BestSoFar {
  valLoss: number;
  trainLoss: number;
  step: number;
}

/** Where a resumed run continues. */
export interface ResumePlan {
  /** the checkpoint it continues from (last.ckpt, else model.ckpt), read and verified */
  ckpt: Checkpoint<unknown, CheckpointMeta>;
  /** its file */
  file: string;
  /** the step it continues at */
  fromStep: number;
  /** the best so far (none after a change of data: earlier val losses do not compare) */
  best: BestSoFar;
  /** with --new-data: the name the best checkpoint on the old data is kept under, else null */
  keepBestAs: string | null;
  /** a note for the user (a run too old to record its data), or null */
  note: string | null;
}

/** Everything decided about a run before its first write. */
export interface RunPlan extends ModelPlan {
  /** what was asked (to plan again when the folder changed) */
  options: PlanOptions;
  /** the run folder, resolved */
  dir: string;
  /** the run tag */
  tag: string;
  /** the vocabulary the model reads (a resumed run's own) */
  vocab: Vocab;
  /** the lines and their name */
  data: RunData;
  /** the split, the training examples and the evaluation sets */
  examples: ExperimentData;
  /** the dataset as config.json records it, and every dataset the run has trained on */
  record: DatasetRecord;
  history: DataHistoryEntry[];
  /** where a resumed run continues; null for a new run */
  resume: ResumePlan | null;
  /** the run files the folder held when planned */
  existing: string[];
  /** sizes and times of those files, to tell whether the folder changed since */
  stamp: string;
}

/** No best yet. */
export const NO_BEST: Readonly<BestSoFar> = Object.freeze({ valLoss: Infinity, trainLoss: NaN, step: -1 });

/**
 * The backend a run will use, known before it starts (so that sizes are
 * checked before any work): the one asked for, else MAKEMORE_BACKEND, else
 * node when the native binding loaded, else wasm.
 */
export function plannedBackend(requested?: BackendName): BackendName {
  const env = process.env.MAKEMORE_BACKEND;
  if (requested) return requested;
  if (env === "node" || env === "wasm" || env === "cpu") return env;
  return nativeUnavailableReason === "" ? "node" : "wasm";
}

/**
 * Sizes a configuration: its parameters against `maxParams`, its memory
 * estimate against the ceiling; the estimate picks the engine.
 * @param what - what a refusal names ("the run", "run 3fa2c1").
 * @throws ParameterLimitError, MemoryLimitError
 */
export function planModel(
  config: ExperimentConfig,
  vocabSize: number,
  size: DataSize,
  limits: RunLimits & { ceiling?: MemoryCeiling },
  what = "the run",
): ModelPlan {
  const params = parameterCount(config, vocabSize);
  if (limits.maxParams !== undefined && params > limits.maxParams) {
    throw new ParameterLimitError(params, limits.maxParams, `the ${config.model} model`);
  }
  const threads = limits.threads ?? defaultThreads();
  const memory = estimateRunMemory(config, size, vocabSize, { fusedAvailable: kernelsAvailable(), threads });
  checkRunMemory(memory, limits.ceiling ?? memoryCeiling(limits.maxMemory), plannedBackend(limits.backend), what);
  const chunked = memory.engine === "fused" && kindOf(config) === "sequence";
  return {
    config,
    params,
    memory,
    engine: memory.engine,
    ...(chunked ? { evalChunk: evalChunkLines(config.blockSize) } : {}),
  };
}

/**
 * Plans a run (see the module comment).
 * @throws ConfigError (a usage error: the folder, the flags, other data on resume),
 *   DataError / CheckpointError (bad data, a bad saved run), ParameterLimitError, MemoryLimitError.
 */
export function planRun(options: PlanOptions): RunPlan {
  const { outDir, resume = false, force = false } = options;
  if (options.newData && !resume) {
    throw new ConfigError("--new-data goes with --resume: it lets a run go on training on other data");
  }
  const existing = checkRunDir(outDir, { resume, force });
  const saved = resume ? readSavedRun(outDir) : null;
  const data = typeof options.data === "function" ? options.data(saved) : options.data;
  const tag = options.tag ?? newRunTag();
  const start = saved ? resumedStart(options, saved, data, tag) : freshStart(options, data, tag);
  // sized before the examples are encoded: a block size of ten million is refused, not allocated
  const sized = planModel(start.config, start.vocab.size, dataSize(data.words), options);
  const { config } = start;
  const sample = { lines: config.evalLines, seed: config.seed };
  const examples = prepareExperimentData(data.words, config.blockSize, start.vocab, kindOf(config), sample);
  checkSplits(examples, data);
  const dir = path.resolve(outDir);
  return { ...start, ...sized, options, dir, tag, data, examples, existing, stamp: folderStamp(dir) };
}

/** The plan itself when its folder is as it was when planned, else the plan made again. */
export function currentPlan(plan: RunPlan): RunPlan {
  return folderStamp(plan.dir) === plan.stamp ? plan : planRun({ ...plan.options, tag: plan.tag });
}

type Start = Pick<RunPlan, "config" | "vocab" | "record" | "history" | "resume">;

function kindOf(config: ExperimentConfig): "context" | "sequence" {
  return findModel(config.model)?.examples ?? "context";
}

function freshStart(options: PlanOptions, data: RunData, tag: string): Start {
  const config = resolveConfig(options.config);
  // sequence models read whole lines: their block size comes from the data
  config.blockSize = dataBlockSize(data.words, kindOf(config), config.blockSize);
  const asked = options.config.blockSize;
  if (asked !== undefined && asked !== config.blockSize) {
    throw new ConfigError(
      `the ${config.model} model reads whole lines: its block size is the longest line + 1, ` +
        `${config.blockSize} here, so blockSize ${asked} is not possible`,
    );
  }
  const vocab = Vocab.fromWords(data.words);
  const record = datasetRecord(data.name, data.words, vocab, SPLIT_SEED);
  return { config, vocab, record, history: [historyEntry(record, 0, tag, null)], resume: null };
}

/** A resumed run: the saved configuration and vocabulary, the checkpoint it continues from, its data checked. */
function resumedStart(options: PlanOptions, saved: SavedRun, data: RunData, tag: string): Start {
  const { outDir } = options;
  const config = resumeConfig(saved.file.config, options.config);
  const bestFile = path.join(outDir, RUN_FILES.best);
  const lastFile = path.join(outDir, RUN_FILES.last);
  const bestCkpt = readCheckpoint<unknown, CheckpointMeta>(bestFile);
  const lastCkpt = fs.existsSync(lastFile) ? readCheckpoint<unknown, CheckpointMeta>(lastFile) : null;
  // the later of the two: a last.ckpt older than model.ckpt (left by a run stopped at once) is passed over
  const useLast = lastCkpt !== null && lastCkpt.meta.step >= bestCkpt.meta.step;
  const [ckpt, file] = useLast ? [lastCkpt, lastFile] : [bestCkpt, bestFile];
  const vocab = Vocab.fromJSON(ckpt.vocab);
  const record = datasetRecord(data.name, data.words, vocab, SPLIT_SEED);
  const check = checkResumeData(outDir, saved.data, saved.file.dataset, record, data.words, Boolean(options.newData));
  const fromStep = ckpt.meta.step;
  const history = saved.history.length > 0 ? saved.history : [historyEntry(record, fromStep, tag, null)];
  const keepBestAs = check.changed ? previousBestName(fromStep) : null;
  const { valLoss, trainLoss, step } = bestCkpt.meta;
  return {
    config,
    vocab,
    record,
    history: keepBestAs ? [...history, historyEntry(record, fromStep, tag, keepBestAs)] : history,
    resume: {
      ckpt,
      file,
      fromStep,
      best: keepBestAs ? NO_BEST : { valLoss, trainLoss, step },
      keepBestAs,
      note: check.note,
    },
  };
}

/**
 * The configuration of a resumed run: the saved one, with training settings
 * (steps, learning rate, evaluation, stopping) taken from `overrides`.
 * @throws ConfigError when an override would change the model's shape or seed.
 */
export function resumeConfig(
  saved: ExperimentConfig,
  overrides: Readonly<Partial<ExperimentConfig>>,
): ExperimentConfig {
  for (const key of [...SHAPE_KEYS, "seed" as const]) {
    const v = overrides[key];
    if (v !== undefined && v !== saved[key]) {
      throw new ConfigError(
        `cannot resume with ${key} ${String(v)}: the saved run has ${String(saved[key])} (start a new run in another folder)`,
      );
    }
  }
  const given = Object.entries(overrides).filter(([, v]) => v !== undefined);
  return resolveConfig({ ...saved, ...Object.fromEntries(given) });
}

/** Refuses data too small for every split to hold a line (3 to 5 lines leave the val split empty). */
function checkSplits(examples: ExperimentData, data: RunData): void {
  const empty = Object.entries({ train: examples.train, val: examples.evalSplits.val }).find(
    ([, split]) => split.n === 0,
  );
  if (empty) {
    throw new DataError(
      `${data.name} has ${data.words.length} lines, too few to split: its ${empty[0]} split would be empty`,
    );
  }
}

/** The sizes and modification times of a folder's run files ("" for a folder that does not exist). */
function folderStamp(dir: string): string {
  if (!fs.existsSync(dir)) return "";
  return Object.values(RUN_FILES)
    .map((name) => {
      const stat = fs.statSync(path.join(dir, name), { throwIfNoEntry: false });
      return stat ? `${name}:${stat.size}:${stat.mtimeMs}` : "";
    })
    .join("|");
}
