/**
 * One experiment: build a model from an {@link ExperimentConfig}, train it
 * with periodic evaluation, keep the checkpoint of the best validation loss,
 * stop early or at a target loss, log every evaluation, and leave a run
 * folder that the CLI, notebooks and later runs can read:
 *
 *     DIR/config.json   the dataset, the configuration, vocabulary size and parameter count
 *     DIR/log.csv       one row per evaluation: tag, step, train_loss, val_loss, seconds
 *     DIR/model.ckpt    the checkpoint with the best val loss (see {@link "checkpoint"})
 *     DIR/last.ckpt     the state at the end of the run, where --resume continues
 *     DIR/samples.txt   a few words sampled from the best checkpoint
 *
 * Training itself is lib/training/train.ts's `train()`; this module adds what an
 * experiment needs around it.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import {
  CheckpointError,
  loadTensorsInto,
  modelTensors,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
} from "./checkpoint";
import { DataError } from "../data/lines";
import { buildContexts, splitWords, type Contexts } from "../data/contexts";
import { DeepMLP } from "../models/deep";
import { sampleFromModel, splitLosses } from "../training/evaluate";
import {
  ConfigError,
  ParameterLimitError,
  SHAPE_KEYS,
  parameterCount,
  resolveConfig,
  type ExperimentConfig,
} from "./hyperparams";
import { INIT_PRESETS, MLP } from "../models/mlp";
import type { LanguageModel } from "../models/model";
import { NeuralBigram } from "../models/nn-bigram";
import { Generator } from "../random/generator";
import { appendRunLog, newRunTag, writeFileAtomic, type RunLogRow } from "./runlog";
import { resumeRefusal } from "./run-folder";
import { withRunLock, type RunLock } from "./run-lock";
import { tf } from "../runtime/tf";
import { fusedPlan, train, TrainingDivergedError, type LrSchedule, type ProgressInfo } from "../training/train";
import { Vocab } from "../data/vocab";

/** File names inside a run folder. */
export const RUN_FILES = Object.freeze({
  config: "config.json",
  log: "log.csv",
  best: "model.ckpt",
  last: "last.ckpt",
  samples: "samples.txt",
});

/** Seed of the 80/10/10 split by word (the lectures' 42). */
export const SPLIT_SEED = 42;

/** Evaluations use at most this many examples of each split (a fixed, seeded subset). */
export const EVAL_MAX_EXAMPLES = 25000;

/** Momentum of the batch-norm running statistics of the mlp-bn model (faster than the lecture's 0.001, for short runs). */
export const MLP_BN_MOMENTUM = 0.01;

/**
 * Builds the model a configuration describes, with freshly initialized
 * parameters drawn from `config.seed`. The mlp and mlp-bn models use
 * lecture 3's Kaiming initialization.
 */
export function buildModel(config: ExperimentConfig, vocabSize: number): LanguageModel {
  // tidy frees any temporary tensor a constructor leaves behind; variables survive it
  let model: LanguageModel | null = null;
  tf.tidy(() => {
    model = constructModel(config, vocabSize);
  });
  return model as unknown as LanguageModel;
}

function constructModel(config: ExperimentConfig, vocabSize: number): LanguageModel {
  const { blockSize, nEmbd, nHidden, nLayers, seed } = config;
  switch (config.model) {
    case "bigram":
      return new NeuralBigram({ vocabSize, seed });
    case "mlp":
      return new MLP({ vocabSize, blockSize, nEmbd, nHidden, seed, init: INIT_PRESETS.kaiming });
    case "mlp-bn":
      return new MLP({
        vocabSize,
        blockSize,
        nEmbd,
        nHidden,
        seed,
        init: INIT_PRESETS.kaiming,
        batchNorm: true,
        bnMomentum: MLP_BN_MOMENTUM,
      });
    case "deep":
      return new DeepMLP({ vocabSize, blockSize, nEmbd, nHidden, nLayers, seed });
  }
}

/** The learning-rate schedule of a configuration: lr, then lr / 10 from `lrDecayStep` (when set). */
export function lrSchedule(config: Pick<ExperimentConfig, "lr" | "lrDecayStep">): LrSchedule {
  return config.lrDecayStep > 0 ? { lr: config.lr, decayAt: config.lrDecayStep, decayedLr: config.lr / 10 } : config.lr;
}

/** Seed of the minibatch generator of a run that starts at `startStep` (derived from the config seed). */
export function batchSeed(seed: number, startStep = 0): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + startStep) | 0;
}

/**
 * At most `max` examples of a split: all of them when there are few enough,
 * else a fixed subset drawn with `seed`, in their original order.
 */
export function subsetContexts(data: Contexts, max: number, seed = SPLIT_SEED): Contexts {
  if (data.n <= max) return data;
  const rows = new Generator(seed)
    .shuffle(Array.from({ length: data.n }, (_, i) => i))
    .slice(0, max)
    .sort((a, b) => a - b);
  const { blockSize } = data;
  const X = new Int32Array(max * blockSize);
  const Y = new Int32Array(max);
  rows.forEach((r, i) => {
    X.set(data.X.subarray(r * blockSize, (r + 1) * blockSize), i * blockSize);
    Y[i] = data.Y[r] as number;
  });
  return { X, Y, n: max, blockSize };
}

/** The data of an experiment: vocabulary, training contexts, and the evaluation subsets. */
export interface ExperimentData {
  /** the vocabulary (built from every word, or the checkpoint's) */
  vocab: Vocab;
  /** every context of the training split */
  train: Contexts;
  /** what evaluations measure: at most {@link EVAL_MAX_EXAMPLES} contexts of the train and val splits */
  evalSplits: { train: Contexts; val: Contexts };
}

/**
 * Splits the words 80/10/10 (seed {@link SPLIT_SEED}) and builds the contexts
 * an experiment trains and evaluates on.
 *
 * @param vocab - the vocabulary to encode with (default: built from the words).
 * @throws DataError when a word has a character outside `vocab`, or there are fewer than 3 words.
 */
export function prepareExperimentData(words: readonly string[], blockSize: number, vocab?: Vocab): ExperimentData {
  const v = vocab ?? Vocab.fromWords(words);
  const split = splitWords(words, SPLIT_SEED);
  return {
    vocab: v,
    train: buildContexts(split.train, v, blockSize),
    evalSplits: {
      train: subsetContexts(buildContexts(split.train, v, blockSize), EVAL_MAX_EXAMPLES),
      val: subsetContexts(buildContexts(split.val, v, blockSize), EVAL_MAX_EXAMPLES),
    },
  };
}

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

/** How an experiment ended. */
export type ExperimentStatus = "finished" | "early-stopped" | "target-reached" | "interrupted" | "diverged";

/** Progress of a running experiment, for progress bars. */
export interface ExperimentProgress {
  /** the run's tag */
  tag: string;
  /** training steps done (counting from the start of the run, before any resume) */
  step: number;
  /** the run's last step */
  maxSteps: number;
  /** the last known minibatch loss */
  loss: number;
  /** steps per second in this call */
  stepsPerSecond: number;
  /** best val loss so far */
  bestValLoss: number;
  /** true for the last update */
  finished: boolean;
}

/** Options of {@link runExperiment}. */
export interface ExperimentOptions {
  /** hyperparameters; missing ones take the defaults (with `resume`: the saved run's) */
  config: Readonly<Partial<ExperimentConfig>>;
  /** the examples, one per entry */
  words: readonly string[];
  /** the dataset's name or path, recorded in config.json (default "unnamed") */
  dataset?: string;
  /** the run folder (created when missing) */
  outDir: string;
  /** the run tag (default: a new random one) */
  tag?: string;
  /** continue the run saved in outDir (from last.ckpt, else model.ckpt) up to maxSteps */
  resume?: boolean;
  /** replace a run already in outDir (its log.csv is kept and appended to) */
  force?: boolean;
  /** refuse (ParameterLimitError, before any training) a model with more parameters */
  maxParams?: number;
  /** polled at every step batch (about once a second): returning true stops after the current step */
  shouldStop?: () => boolean;
  /** called at the start, about once a second, and at the end */
  onProgress?: (p: ExperimentProgress) => void;
  /** called after each evaluation, with whether it was a new best (and so saved) */
  onEval?: (row: RunLogRow, best: boolean) => void;
  /** called once the run is set up, before the first step */
  onStart?: (info: ExperimentStart) => void;
  /** words to sample from the best checkpoint at the end (default 10) */
  samples?: number;
  /** more fields for config.json: the CLI's dataset record and history (lib/experiments/run-data.ts) */
  runInfo?: Readonly<Record<string, unknown>>;
  /** with `resume`: measure the best val loss afresh, as after a change of data earlier val losses do not compare */
  resetBest?: boolean;
  /** the lock of outDir when the caller holds it (lib/experiments/run-lock.ts); otherwise the run takes it */
  lock?: RunLock;
}

/** What is known when an experiment starts. */
export interface ExperimentStart {
  /** the run tag */
  tag: string;
  /** the full configuration */
  config: ExperimentConfig;
  /** parameters of the model */
  params: number;
  /** size of the vocabulary */
  vocabSize: number;
  /** step the run starts at (0, or where a resumed run left off) */
  startStep: number;
  /** what runs the training steps (see {@link fusedPlan}) */
  engine: "fused" | "tfjs";
}

/** What {@link runExperiment} returns. */
export interface ExperimentResult {
  /** the run tag */
  tag: string;
  /** how the run ended */
  status: ExperimentStatus;
  /** the full configuration */
  config: ExperimentConfig;
  /** parameters of the model */
  params: number;
  /** steps done at the end (from the start of the run, counting earlier parts of a resumed run) */
  steps: number;
  /** best val loss seen (the one model.ckpt holds) */
  bestValLoss: number;
  /** train loss at the best val loss */
  bestTrainLoss: number;
  /** step of the best val loss */
  bestStep: number;
  /** wall-clock seconds of this run */
  seconds: number;
  /** when the target loss was reached, or null */
  target: { step: number; seconds: number } | null;
  /** words sampled from the best checkpoint */
  samples: string[];
  /** what went wrong, for diverged runs */
  message?: string;
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

/** A model loaded from a checkpoint, ready to sample or evaluate. */
export interface LoadedRun {
  /** the model, weights loaded (dispose it when done) */
  model: LanguageModel;
  /** its vocabulary */
  vocab: Vocab;
  /** the configuration it was built with */
  config: ExperimentConfig;
  /** step, losses and tag of the checkpoint */
  meta: CheckpointMeta;
}

/**
 * Loads a checkpoint written by an experiment: from a run folder (its
 * model.ckpt) or a checkpoint file.
 *
 * @example
 * ```ts
 * const run = loadRun("runs/mlp");
 * console.log(sampleFromModel(run.model, run.vocab, 10));
 * run.model.dispose();
 * ```
 * @throws CheckpointError when the file is missing, truncated, corrupted or does not fit its config.
 */
export function loadRun(dirOrFile: string): LoadedRun {
  const isDir = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory();
  const file = isDir ? path.join(dirOrFile, RUN_FILES.best) : dirOrFile;
  const ckpt = readCheckpoint<unknown, CheckpointMeta>(file);
  return modelFromCheckpoint(ckpt, file);
}

function modelFromCheckpoint(ckpt: Checkpoint<unknown, CheckpointMeta>, file: string): LoadedRun {
  let config: ExperimentConfig;
  let vocab: Vocab;
  try {
    config = resolveConfig((ckpt.config ?? {}) as Record<string, unknown>);
    vocab = Vocab.fromJSON(ckpt.vocab);
  } catch (e) {
    throw new CheckpointError(`${file} has a bad configuration or vocabulary: ${(e as Error).message}`);
  }
  const model = buildModel(config, vocab.size);
  try {
    loadTensorsInto(model, ckpt.tensors, file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, vocab, config, meta: ckpt.meta };
}

function saveCheckpoint(
  file: string,
  model: LanguageModel,
  config: ExperimentConfig,
  vocab: Vocab,
  meta: CheckpointMeta,
): void {
  writeCheckpoint(file, { config, vocab: vocab.toJSON(), meta, tensors: modelTensors(model) });
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
  return resolveConfig({ ...saved, ...stripUndefined(overrides) });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Trains one configuration and leaves a run folder (see the module comment).
 *
 * The run evaluates at step 0, every `evalEvery` steps and at the end; each
 * evaluation is appended to log.csv, and each new best val loss is saved to
 * model.ckpt at once, so the best checkpoint survives anything that happens
 * later. It stops at `maxSteps`, after `earlyStop` evaluations without
 * improvement, when the val loss reaches `targetLoss`, when `shouldStop`
 * says so, or at a NaN loss (status "diverged"; the best checkpoint stays).
 *
 * @throws ConfigError for a bad configuration or an output folder holding another run.
 * @throws ParameterLimitError when the model has more than `maxParams` parameters (nothing is written).
 * @throws DataError / CheckpointError for bad data or a bad checkpoint to resume from.
 * @throws RunLockedError when another process (or another run in this one) writes into outDir.
 */
export async function runExperiment(options: ExperimentOptions): Promise<ExperimentResult> {
  // one writer per run folder: the run holds the folder's lock unless its caller already does
  const dir = path.resolve(options.outDir);
  if (options.lock && path.resolve(options.lock.dir) === dir) return runInFolder(options);
  return withRunLock(dir, "runExperiment", () => runInFolder(options));
}

async function runInFolder(options: ExperimentOptions): Promise<ExperimentResult> {
  const { outDir, words, resume = false, force = false, shouldStop = () => false, samples: nSamples = 10 } = options;
  const tag = options.tag ?? newRunTag();
  const dir = path.resolve(outDir);
  const file = (name: string): string => path.join(dir, name);
  const existing = checkRunDir(outDir, { resume, force });

  // --- the configuration, vocabulary and starting state
  let config: ExperimentConfig;
  let vocab: Vocab;
  let dataset = options.dataset ?? "unnamed";
  let resumeFrom: Checkpoint<unknown, CheckpointMeta> | null = null;
  let resumeFile = "";
  let best = { valLoss: Infinity, trainLoss: NaN, step: -1 };
  if (resume) {
    const saved = readRunConfig(dir);
    config = resumeConfig(saved.config, options.config);
    dataset = options.dataset ?? saved.dataset;
    const bestCkpt = readCheckpoint<unknown, CheckpointMeta>(file(RUN_FILES.best));
    if (!options.resetBest) {
      best = { valLoss: bestCkpt.meta.valLoss, trainLoss: bestCkpt.meta.trainLoss, step: bestCkpt.meta.step };
    }
    if (existing.includes(RUN_FILES.last)) {
      resumeFile = file(RUN_FILES.last);
      resumeFrom = readCheckpoint(resumeFile);
    } else {
      resumeFile = file(RUN_FILES.best);
      resumeFrom = bestCkpt;
    }
    vocab = Vocab.fromJSON(resumeFrom.vocab);
  } else {
    config = resolveConfig(options.config);
    vocab = Vocab.fromWords(words);
  }
  const params = parameterCount(config, vocab.size);
  if (options.maxParams !== undefined && params > options.maxParams) {
    throw new ParameterLimitError(params, options.maxParams, `the ${config.model} model`);
  }
  const data = prepareExperimentData(words, config.blockSize, vocab);
  fs.mkdirSync(dir, { recursive: true });
  if (!resume && force) {
    for (const name of [RUN_FILES.best, RUN_FILES.last, RUN_FILES.samples]) fs.rmSync(file(name), { force: true });
  }
  const runConfig: RunConfigFile = { dataset, config, vocabSize: vocab.size, params, ...options.runInfo };
  writeFileAtomic(file(RUN_FILES.config), JSON.stringify(runConfig, null, 2) + "\n");

  const model = buildModel(config, vocab.size);
  try {
    let startStep = 0;
    if (resumeFrom) {
      loadTensorsInto(model, resumeFrom.tensors, resumeFile);
      startStep = resumeFrom.meta.step;
    }
    const engine = typeof fusedPlan(model, config.batchSize) === "string" ? "tfjs" : "fused";
    options.onStart?.({ tag, config, params, vocabSize: vocab.size, startStep, engine });
    const t0 = Date.now();
    const seconds = (): number => (Date.now() - t0) / 1000;
    let sinceBest = 0;
    let lastRow: RunLogRow | null = null;
    let status: ExperimentStatus = "finished";
    let target: ExperimentResult["target"] = null;
    let message: string | undefined;
    let lastLoss = NaN;
    let stepsPerSecond = 0;
    let currentStep = startStep;

    const progress = (finished: boolean): void =>
      options.onProgress?.({
        tag,
        step: currentStep,
        maxSteps: config.maxSteps,
        loss: lastLoss,
        stepsPerSecond,
        bestValLoss: best.valLoss,
        finished,
      });

    /** Logs an evaluation, saves a new best, and says whether training should stop. */
    const record = (step: number, losses: Record<string, number>): "stop" | void => {
      const row: RunLogRow = {
        tag,
        step,
        trainLoss: losses.train ?? NaN,
        valLoss: losses.val ?? NaN,
        seconds: seconds(),
      };
      lastRow = row;
      appendRunLog(file(RUN_FILES.log), [row]);
      if (!Number.isFinite(row.valLoss)) {
        status = "diverged";
        message = `the val loss at step ${step} is ${row.valLoss}`;
        options.onEval?.(row, false);
        return "stop";
      }
      const improved = row.valLoss < best.valLoss;
      if (improved) {
        best = { valLoss: row.valLoss, trainLoss: row.trainLoss, step };
        sinceBest = 0;
        const meta: CheckpointMeta = { tag, step, trainLoss: row.trainLoss, valLoss: row.valLoss, dataset };
        saveCheckpoint(file(RUN_FILES.best), model, config, vocab, meta);
      } else {
        sinceBest++;
      }
      options.onEval?.(row, improved);
      if (config.targetLoss !== null && row.valLoss <= config.targetLoss) {
        target = { step, seconds: row.seconds };
        status = "target-reached";
        return "stop";
      }
      if (config.earlyStop > 0 && sinceBest >= config.earlyStop) {
        status = "early-stopped";
        return "stop";
      }
    };
    const evaluate = (): Record<string, number> => splitLosses(model, data.evalSplits);

    progress(false);
    let stop: "stop" | void = undefined;
    if (!resumeFrom) stop = record(0, evaluate());
    if (!stop && startStep < config.maxSteps && !shouldStop()) {
      try {
        await train(model, data.train, {
          steps: config.maxSteps - startStep,
          startStep,
          batchSize: config.batchSize,
          lr: lrSchedule(config),
          generator: new Generator(batchSeed(config.seed, startStep)),
          evalEvery: config.evalEvery,
          evalSplits: data.evalSplits,
          onStep: (step, loss) => {
            currentStep = step + 1;
            lastLoss = loss;
            return shouldStop() ? "stop" : undefined;
          },
          onEval: (ev) => {
            currentStep = ev.step;
            return record(ev.step, ev.losses);
          },
          progress: (info: ProgressInfo) => {
            currentStep = startStep + info.done;
            stepsPerSecond = info.stepsPerSecond;
            if (Number.isFinite(info.loss)) lastLoss = info.loss;
            if (!info.finished) progress(false);
          },
          label: tag,
        });
      } catch (e) {
        if (!(e instanceof TrainingDivergedError)) throw e;
        status = "diverged";
        message = e.message;
        currentStep = e.step;
      }
    }
    if (status === "finished" && currentStep < config.maxSteps && shouldStop()) status = "interrupted";
    const last = lastRow as RunLogRow | null;
    if (status === "interrupted" && last?.step !== currentStep) record(currentStep, evaluate());
    const end = lastRow as RunLogRow | null;
    if (status !== "diverged" && end) {
      const meta: CheckpointMeta = { tag, step: end.step, trainLoss: end.trainLoss, valLoss: end.valLoss, dataset };
      saveCheckpoint(file(RUN_FILES.last), model, config, vocab, meta);
    }
    // samples come from the best checkpoint, read back from disk (which also verifies it)
    let samples: string[] = [];
    if (nSamples > 0 && fs.existsSync(file(RUN_FILES.best))) {
      loadTensorsInto(model, readCheckpoint(file(RUN_FILES.best)).tensors, file(RUN_FILES.best));
      samples = sampleFromModel(model, vocab, nSamples);
      writeFileAtomic(file(RUN_FILES.samples), samples.map((s) => s + "\n").join(""));
    }
    progress(true);
    return {
      tag,
      status,
      config,
      params,
      steps: currentStep,
      bestValLoss: best.valLoss,
      bestTrainLoss: best.trainLoss,
      bestStep: best.step,
      seconds: seconds(),
      target,
      samples,
      ...(message !== undefined ? { message } : {}),
    };
  } finally {
    model.dispose();
  }
}
