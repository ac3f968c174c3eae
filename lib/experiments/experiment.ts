/**
 * One experiment: build a model from an {@link ExperimentConfig}, train it
 * with periodic evaluation, keep the checkpoint of the best validation loss,
 * stop early or at a target loss, log every evaluation, and leave a run
 * folder (lib/experiments/run-files.ts) that the CLI, notebooks and later
 * runs can read. Training itself is `train()` (lib/training/train.ts); this
 * module adds what an experiment needs around it.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { Vocab } from "../data/vocab";
import type { EngineName } from "../engines/engine";
import { planEngine } from "../engines/factory";
import type { Model } from "../models/model";
import { findModel } from "../models/registry";
import { Generator } from "../random/generator";
import { writeFileAtomic } from "../runtime/files";
import { sampleFromModel, splitLosses } from "../training/evaluate";
import { makeOptimizer } from "../optim/optimizers";
import type { LrSchedule } from "../training/schedule";
import { train, TrainingDivergedError, type ProgressInfo } from "../training/train";
import { loadTensorsInto, readCheckpoint, type Checkpoint } from "./checkpoint";
import { ParameterLimitError, parameterCount, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { dataBlockSize, prepareExperimentData, type ExperimentData } from "./run-data";
import { checkRunDir, readRunConfig, RUN_FILES, type CheckpointMeta, type RunConfigFile } from "./run-files";
import { buildModel, resumeConfig, saveRunCheckpoint } from "./run-model";
import { appendRunLog, newRunTag, type RunLogRow } from "./runlog";
import { withRunLock, type RunLock } from "./run-lock";

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

/** The learning-rate schedule of a configuration: lr, then lr / 10 from `lrDecayStep` (when set). */
export function lrSchedule(config: Pick<ExperimentConfig, "lr" | "lrDecayStep">): LrSchedule {
  return config.lrDecayStep > 0 ? { lr: config.lr, decayAt: config.lrDecayStep, decayedLr: config.lr / 10 } : config.lr;
}

/** Seed of the minibatch generator of a run that starts at `startStep` (derived from the config seed). */
export function batchSeed(seed: number, startStep = 0): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + startStep) | 0;
}

/** Everything a run is set up with before its first step. */
interface RunSetup {
  tag: string;
  dir: string;
  config: ExperimentConfig;
  vocab: Vocab;
  dataset: string;
  params: number;
  data: ExperimentData;
  /** the checkpoint a resumed run continues from, and its file */
  resumeFrom: { ckpt: Checkpoint<unknown, CheckpointMeta>; file: string } | null;
  /** the best val loss so far (of the resumed run, or none) */
  best: { valLoss: number; trainLoss: number; step: number };
}

/** The configuration, vocabulary and starting point of a run; writes config.json. */
function setUpRun(options: ExperimentOptions): RunSetup {
  const { outDir, words, resume = false, force = false } = options;
  const dir = path.resolve(outDir);
  const existing = checkRunDir(outDir, { resume, force });
  const start = resume ? resumedStart(dir, existing, options) : freshStart(options);
  const spec = findModel(start.config.model);
  const kind = spec?.examples ?? "context";
  if (!resume) start.config.blockSize = dataBlockSize(words, kind, start.config.blockSize);
  const params = parameterCount(start.config, start.vocab.size);
  if (options.maxParams !== undefined && params > options.maxParams) {
    throw new ParameterLimitError(params, options.maxParams, `the ${start.config.model} model`);
  }
  const data = prepareExperimentData(words, start.config.blockSize, start.vocab, kind);
  fs.mkdirSync(dir, { recursive: true });
  if (!resume && force) {
    for (const name of [RUN_FILES.best, RUN_FILES.last, RUN_FILES.samples])
      fs.rmSync(path.join(dir, name), { force: true });
  }
  const runConfig: RunConfigFile = {
    dataset: start.dataset,
    config: start.config,
    vocabSize: start.vocab.size,
    params,
    ...options.runInfo,
  };
  writeFileAtomic(path.join(dir, RUN_FILES.config), JSON.stringify(runConfig, null, 2) + "\n");
  return { ...start, tag: options.tag ?? newRunTag(), dir, params, data };
}

type RunStart = Pick<RunSetup, "config" | "vocab" | "dataset" | "resumeFrom" | "best">;

function freshStart(options: ExperimentOptions): RunStart {
  return {
    config: resolveConfig(options.config),
    vocab: Vocab.fromWords(options.words),
    dataset: options.dataset ?? "unnamed",
    resumeFrom: null,
    best: { valLoss: Infinity, trainLoss: NaN, step: -1 },
  };
}

/** A resumed run continues from last.ckpt (else model.ckpt), with the saved configuration and vocabulary. */
function resumedStart(dir: string, existing: string[], options: ExperimentOptions): RunStart {
  const saved = readRunConfig(dir);
  const bestFile = path.join(dir, RUN_FILES.best);
  const bestCkpt = readCheckpoint<unknown, CheckpointMeta>(bestFile);
  const file = existing.includes(RUN_FILES.last) ? path.join(dir, RUN_FILES.last) : bestFile;
  const ckpt = file === bestFile ? bestCkpt : readCheckpoint<unknown, CheckpointMeta>(file);
  return {
    config: resumeConfig(saved.config, options.config),
    vocab: Vocab.fromJSON(ckpt.vocab),
    dataset: options.dataset ?? saved.dataset,
    resumeFrom: { ckpt, file },
    best: options.resetBest
      ? { valLoss: Infinity, trainLoss: NaN, step: -1 }
      : { valLoss: bestCkpt.meta.valLoss, trainLoss: bestCkpt.meta.trainLoss, step: bestCkpt.meta.step },
  };
}

/** Logs the evaluations of a run, saves each new best, and decides when to stop. */
class RunRecorder {
  status: ExperimentStatus = "finished";
  target: ExperimentResult["target"] = null;
  message: string | undefined;
  lastRow: RunLogRow | null = null;
  private sinceBest = 0;
  private readonly t0 = Date.now();

  constructor(
    private readonly run: RunSetup,
    private readonly model: Model,
    private readonly onEval?: (row: RunLogRow, best: boolean) => void,
  ) {}

  seconds(): number {
    return (Date.now() - this.t0) / 1000;
  }

  /** Appends the row to log.csv, saves a new best, and says whether training should stop. */
  record(step: number, losses: Record<string, number>): "stop" | void {
    const { run } = this;
    const row: RunLogRow = {
      tag: run.tag,
      step,
      trainLoss: losses.train ?? NaN,
      valLoss: losses.val ?? NaN,
      seconds: this.seconds(),
    };
    this.lastRow = row;
    appendRunLog(path.join(run.dir, RUN_FILES.log), [row]);
    if (!Number.isFinite(row.valLoss)) {
      this.status = "diverged";
      this.message = `the val loss at step ${step} is ${row.valLoss}`;
      this.onEval?.(row, false);
      return "stop";
    }
    const improved = row.valLoss < run.best.valLoss;
    if (improved) this.saveBest(row);
    else this.sinceBest++;
    this.onEval?.(row, improved);
    return this.stopRule(row);
  }

  private saveBest(row: RunLogRow): void {
    const { run } = this;
    run.best = { valLoss: row.valLoss, trainLoss: row.trainLoss, step: row.step };
    this.sinceBest = 0;
    saveRunCheckpoint(path.join(run.dir, RUN_FILES.best), this.model, run.config, run.vocab, this.meta(row));
  }

  private stopRule(row: RunLogRow): "stop" | void {
    const { config } = this.run;
    if (config.targetLoss !== null && row.valLoss <= config.targetLoss) {
      this.target = { step: row.step, seconds: row.seconds };
      this.status = "target-reached";
      return "stop";
    }
    if (config.earlyStop > 0 && this.sinceBest >= config.earlyStop) {
      this.status = "early-stopped";
      return "stop";
    }
  }

  meta(row: RunLogRow): CheckpointMeta {
    return {
      tag: this.run.tag,
      step: row.step,
      trainLoss: row.trainLoss,
      valLoss: row.valLoss,
      dataset: this.run.dataset,
    };
  }
}

/**
 * Trains one configuration and leaves a run folder (see lib/experiments/run-files.ts).
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
 * @throws RunLockedError when another process (or another run in this one) writes into outDir.
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
  const run = setUpRun(options);
  const model = buildModel(run.config, run.vocab.size);
  try {
    if (run.resumeFrom) loadTensorsInto(model, run.resumeFrom.ckpt.tensors, run.resumeFrom.file);
    const startStep = run.resumeFrom?.ckpt.meta.step ?? 0;
    const engine: EngineName = planEngine(model, "auto", run.config.batchSize).name;
    const { config, params, vocab, tag } = run;
    options.onStart?.({ tag, config, params, vocabSize: vocab.size, startStep, engine });
    const recorder = new RunRecorder(run, model, options.onEval);
    const progress = await trainRun(model, run, recorder, { startStep, engine }, options);
    return finishRun(model, run, recorder, progress, options);
  } finally {
    model.dispose();
  }
}

/** The evaluation at step 0 (fresh runs) and the training steps; returns where the run got to. */
async function trainRun(
  model: Model,
  run: RunSetup,
  recorder: RunRecorder,
  at: { startStep: number; engine: EngineName },
  options: ExperimentOptions,
): Promise<RunProgress> {
  const { startStep } = at;
  const { config, data } = run;
  const shouldStop = options.shouldStop ?? (() => false);
  const progress = new RunProgress(run, recorder, startStep, options.onProgress);
  progress.report(false);
  // every row of log.csv comes from one engine: the one that trains
  const evaluate = (): Record<string, number> => splitLosses(model, data.evalSplits, { engine: at.engine });
  const stop = run.resumeFrom ? undefined : recorder.record(0, evaluate());
  if (!stop && startStep < config.maxSteps && !shouldStop()) {
    try {
      await train(model, data.train, {
        steps: config.maxSteps - startStep,
        startStep,
        batchSize: config.batchSize,
        lr: lrSchedule(config),
        optimizer: makeOptimizer(config.optimizer, { weightDecay: config.weightDecay, betas: [0.9, 0.99] }),
        generator: new Generator(batchSeed(config.seed, startStep)),
        evalEvery: config.evalEvery,
        evalSplits: data.evalSplits,
        onStep: (step, loss) => progress.onStep(step, loss, shouldStop),
        onEval: (ev) => progress.onEval(ev.step, ev.losses),
        progress: (info) => progress.onTrainProgress(info),
        label: run.tag,
      });
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      recorder.status = "diverged";
      recorder.message = e.message;
      progress.step = e.step;
    }
  }
  if (recorder.status === "finished" && progress.step < config.maxSteps && shouldStop()) {
    recorder.status = "interrupted";
    if (recorder.lastRow?.step !== progress.step) recorder.record(progress.step, evaluate());
  }
  return progress;
}

/** Where a run is, for progress displays. */
class RunProgress {
  step: number;
  private loss = NaN;
  private stepsPerSecond = 0;

  constructor(
    private readonly run: RunSetup,
    private readonly recorder: RunRecorder,
    private readonly startStep: number,
    private readonly sink?: (p: ExperimentProgress) => void,
  ) {
    this.step = startStep;
  }

  onStep(step: number, loss: number, shouldStop: () => boolean): "stop" | void {
    this.step = step + 1;
    this.loss = loss;
    return shouldStop() ? "stop" : undefined;
  }

  onEval(step: number, losses: Record<string, number>): "stop" | void {
    this.step = step;
    return this.recorder.record(step, losses);
  }

  onTrainProgress(info: ProgressInfo): void {
    this.step = this.startStep + info.done;
    this.stepsPerSecond = info.stepsPerSecond;
    if (Number.isFinite(info.loss)) this.loss = info.loss;
    if (!info.finished) this.report(false);
  }

  report(finished: boolean): void {
    const { run } = this;
    this.sink?.({
      tag: run.tag,
      step: this.step,
      maxSteps: run.config.maxSteps,
      loss: this.loss,
      stepsPerSecond: this.stepsPerSecond,
      bestValLoss: run.best.valLoss,
      finished,
    });
  }
}

/** Saves last.ckpt, samples from the best checkpoint (read back from disk, which also verifies it), and sums up. */
function finishRun(
  model: Model,
  run: RunSetup,
  recorder: RunRecorder,
  progress: RunProgress,
  options: ExperimentOptions,
): ExperimentResult {
  const file = (name: string): string => path.join(run.dir, name);
  const end = recorder.lastRow;
  if (recorder.status !== "diverged" && end) {
    saveRunCheckpoint(file(RUN_FILES.last), model, run.config, run.vocab, recorder.meta(end));
  }
  const nSamples = options.samples ?? 10;
  let samples: string[] = [];
  if (nSamples > 0 && fs.existsSync(file(RUN_FILES.best))) {
    loadTensorsInto(model, readCheckpoint(file(RUN_FILES.best)).tensors, file(RUN_FILES.best));
    samples = sampleFromModel(model, run.vocab, nSamples);
    writeFileAtomic(file(RUN_FILES.samples), samples.map((s) => s + "\n").join(""));
  }
  progress.report(true);
  return {
    tag: run.tag,
    status: recorder.status,
    config: run.config,
    params: run.params,
    steps: progress.step,
    bestValLoss: run.best.valLoss,
    bestTrainLoss: run.best.trainLoss,
    bestStep: run.best.step,
    seconds: recorder.seconds(),
    target: recorder.target,
    samples,
    ...(recorder.message !== undefined ? { message: recorder.message } : {}),
  };
}
