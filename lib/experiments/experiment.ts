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
import type { EngineName } from "../engines/engine";
import { checkThreads, defaultThreads } from "../engines/kernel-pool";
import type { Model } from "../models/model";
import { Generator } from "../random/generator";
import { writeFileAtomic } from "../runtime/files";
import { sampleFromModel, splitLosses } from "../training/evaluate";
import { makeOptimizer } from "../optim/optimizers";
import type { LrSchedule } from "../training/schedule";
import { train, TrainingDivergedError, type ProgressInfo } from "../training/train";
import { loadTensorsInto, readCheckpoint } from "./checkpoint";
import type { ExperimentConfig } from "./hyperparams";
import { RUN_FILES, type CheckpointMeta, type RunConfigFile } from "./run-files";
import { buildModel, saveRunCheckpoint } from "./run-model";
import { currentPlan, NO_BEST, planRun, type BestSoFar, type PlanOptions, type RunPlan } from "./run-plan";
import { appendRunLog, repairRunLog, type RunLogRow } from "./runlog";
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

/** What a run reports to its caller while it trains, and what it does at the end. */
export interface RunHooks {
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
  /** the lock of the run folder when the caller holds it (lib/experiments/run-lock.ts); otherwise the run takes it */
  lock?: RunLock;
  /**
   * threads the fused kernels run on (default: every core); not part of the run's
   * configuration: the losses are the same bits whatever the count
   */
  threads?: number;
}

/**
 * Options of {@link runExperiment} when it plans the run itself (notebooks):
 * the options of {@link planRun} (lib/experiments/run-plan.ts) with the
 * data given as lines.
 */
export interface ExperimentOptions extends RunHooks, Omit<PlanOptions, "data"> {
  /** the examples, one per entry */
  words: readonly string[];
  /** the dataset's name or path, recorded in config.json (default "unnamed", or a resumed run's) */
  dataset?: string;
}

/** Options of {@link runExperiment} for a run already planned by {@link planRun}. */
export interface PlannedExperiment extends RunHooks {
  /** the plan */
  plan: RunPlan;
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
  /** what runs the training steps and evaluations */
  engine: EngineName;
  /** true when a resumed run goes on on other data (--new-data) */
  newData: boolean;
  /** what was repaired in the folder before the run (a torn last row of log.csv, say), for the user */
  notes: string[];
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

/**
 * The first writes of a run: the folder, --force's removal of the old
 * checkpoints and samples, the best checkpoint on old data kept under its
 * own name (--new-data), and config.json.
 */
function writeRunStart(plan: RunPlan): string[] {
  const file = (name: string): string => path.join(plan.dir, name);
  fs.mkdirSync(plan.dir, { recursive: true });
  const notes = repairRunLog(file(RUN_FILES.log), plan.resume?.fromStep ?? null);
  if (!plan.resume && plan.existing.length > 0) {
    for (const name of [RUN_FILES.best, RUN_FILES.last, RUN_FILES.samples]) fs.rmSync(file(name), { force: true });
  }
  if (plan.resume?.keepBestAs) writeFileAtomic(file(plan.resume.keepBestAs), fs.readFileSync(file(RUN_FILES.best)));
  const runConfig: RunConfigFile = {
    dataset: plan.data.name,
    config: plan.config,
    vocabSize: plan.vocab.size,
    params: plan.params,
    data: plan.record,
    dataHistory: plan.history,
  };
  writeFileAtomic(file(RUN_FILES.config), JSON.stringify(runConfig, null, 2) + "\n");
  return notes;
}

/** Removes what a new run wrote into a folder that held no run (a failure before training: the next try needs no --force). */
function takeBack(plan: RunPlan): void {
  const names: string[] = Object.values(RUN_FILES);
  for (const name of fs.readdirSync(plan.dir)) {
    const ours = names.includes(name) || names.some((n) => name.startsWith(`.${n}.`) && name.endsWith(".tmp"));
    if (ours) fs.rmSync(path.join(plan.dir, name), { force: true });
  }
}

/** A run under way: its plan and the best val loss so far. */
type RunState = RunPlan & { best: BestSoFar };

/** Logs the evaluations of a run, saves each new best, and decides when to stop. */
class RunRecorder {
  status: ExperimentStatus = "finished";
  target: ExperimentResult["target"] = null;
  message: string | undefined;
  lastRow: RunLogRow | null = null;
  /** whether an evaluation after step 0 was recorded (a failure after it keeps the run's files) */
  trained = false;
  private sinceBest = 0;
  private readonly t0 = Date.now();

  constructor(
    private readonly run: RunState,
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
    this.trained ||= step > 0;
    appendRunLog(path.join(run.dir, RUN_FILES.log), [row]);
    if (!Number.isFinite(row.valLoss)) {
      this.status = "diverged";
      this.message = `the val loss at step ${step} is ${row.valLoss}`;
      this.onEval?.(row, false);
      return "stop";
    }
    // last.ckpt first: whatever stops the process after this, it is never older than model.ckpt
    saveRunCheckpoint(path.join(run.dir, RUN_FILES.last), this.model, run.config, run.vocab, this.meta(row));
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
      dataset: this.run.data.name,
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
 * A run that fails before any evaluation after step 0, in a folder that
 * held no run, takes back the files it wrote.
 *
 * @param options - what to plan (notebooks), or a plan made by {@link planRun} (the CLI).
 * @throws everything {@link planRun} throws, and RangeError for bad `threads`, before anything is written.
 * @throws RunLockedError when another process (or another run in this one) writes into the folder.
 */
export async function runExperiment(options: ExperimentOptions | PlannedExperiment): Promise<ExperimentResult> {
  if (options.threads !== undefined) checkThreads(options.threads);
  const given = "plan" in options ? options.plan : null;
  const dir = "plan" in options ? options.plan.dir : path.resolve(options.outDir);
  // planned again under the lock when the folder changed since (or planned here for the first time)
  const plan = (): RunPlan => (given ? currentPlan(given) : planRun(planOptions(options as ExperimentOptions)));
  // one writer per run folder: the run holds the folder's lock unless its caller already does
  if (options.lock && path.resolve(options.lock.dir) === dir) return runPlanned(plan(), options);
  return withRunLock(dir, "runExperiment", () => runPlanned(plan(), options));
}

/** The plan options of a run planned from a notebook's options (the data given as lines). */
function planOptions(options: ExperimentOptions): PlanOptions {
  const { words, dataset } = options;
  return { ...options, data: (saved) => ({ name: dataset ?? saved?.file.dataset ?? "unnamed", words }) };
}

async function runPlanned(plan: RunPlan, hooks: RunHooks): Promise<ExperimentResult> {
  const run = { ...plan, best: { ...(plan.resume?.best ?? NO_BEST) } };
  const model = buildModel(plan.config, plan.vocab.size);
  const recorder = new RunRecorder(run, model, hooks.onEval);
  try {
    const notes = writeRunStart(plan);
    if (plan.resume) loadTensorsInto(model, plan.resume.ckpt.tensors, plan.resume.file);
    const { tag, config, params, vocab, engine } = plan;
    const startStep = plan.resume?.fromStep ?? 0;
    hooks.onStart?.({
      tag,
      config,
      params,
      vocabSize: vocab.size,
      startStep,
      engine,
      newData: Boolean(plan.resume?.keepBestAs),
      notes,
    });
    const progress = await trainRun(model, run, recorder, hooks);
    return finishRun(model, run, recorder, progress, hooks);
  } catch (e) {
    if (plan.existing.length === 0 && !recorder.trained) takeBack(plan);
    throw e;
  } finally {
    model.dispose();
  }
}

/** The evaluation at step 0 (fresh runs) and the training steps; returns where the run got to. */
async function trainRun(model: Model, run: RunState, recorder: RunRecorder, hooks: RunHooks): Promise<RunProgress> {
  const { config, examples, engine, evalChunk } = run;
  const chunk = evalChunk === undefined ? {} : { chunkSize: evalChunk };
  const startStep = run.resume?.fromStep ?? 0;
  const shouldStop = hooks.shouldStop ?? (() => false);
  const progress = new RunProgress(run, recorder, startStep, hooks.onProgress);
  progress.report(false);
  const threads = checkThreads(hooks.threads ?? defaultThreads());
  // every row of log.csv comes from one engine: the one that trains
  const evaluate = (): Record<string, number> => splitLosses(model, examples.evalSplits, { engine, threads, ...chunk });
  const stop = run.resume ? undefined : recorder.record(0, evaluate());
  if (!stop && startStep < config.maxSteps && !shouldStop()) {
    try {
      await train(model, examples.train, {
        steps: config.maxSteps - startStep,
        startStep,
        batchSize: config.batchSize,
        lr: lrSchedule(config),
        optimizer: makeOptimizer(config.optimizer, { weightDecay: config.weightDecay, betas: [0.9, 0.99] }),
        generator: new Generator(batchSeed(config.seed, startStep)),
        evalEvery: config.evalEvery,
        evalSplits: examples.evalSplits,
        ...(evalChunk === undefined ? {} : { evalChunkSize: evalChunk }),
        engine,
        threads,
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
    private readonly run: RunState,
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
  run: RunState,
  recorder: RunRecorder,
  progress: RunProgress,
  hooks: RunHooks,
): ExperimentResult {
  const file = (name: string): string => path.join(run.dir, name);
  const nSamples = hooks.samples ?? 10;
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
