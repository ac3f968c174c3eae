/**
 * The training loop every model of the lib uses: minibatches drawn by a
 * seeded generator, a learning-rate schedule, an optimizer (SGD by default),
 * periodic evaluation, callbacks, live progress, and a stop at the first
 * non-finite loss.
 *
 * The steps run on an {@link Engine} (lib/engines/engine.ts): whole fused
 * steps in WebAssembly for the models that write their forward pass over
 * ops, tfjs ops otherwise. The engine owns the model's state during the run:
 * losses are read in batches every `syncEvery` steps, which is also when they
 * are checked, the state is snapshotted (to restore after a divergence) and
 * callbacks run, with the variables current (`Engine.withVariables`); the
 * engine writes them back when the run ends, however it ends. Evaluation
 * follows the training engine. The progress display is the caller's: the
 * notebook layer supplies the live one (lib/notebook/progress.ts).
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import {
  checkBlockSize,
  checkTokenIds,
  exampleKindOf,
  sampleBatchInto,
  targetWidth,
  type Examples,
  type IntDraws,
} from "../data/examples";
import type { Engine, EngineChoice, EngineName, EngineState, GradMap } from "../engines/engine";
import { createEngine } from "../engines/factory";
import { checkThreads, defaultThreads } from "../engines/kernel-pool";
import { exampleKind, type Model } from "../models/model";
import { Generator } from "../random/generator";
import { LECTURE_SEED } from "../random/seeds";
import { tf } from "../runtime/tf";
import { makeOptimizer, type Optimizer, type OptimizerKind } from "../optim/optimizers";
import { learningRate, type LrSchedule } from "./schedule";

/** What a callback returns to end training early ("stop"), or nothing to go on. */
export type StopSignal = "stop" | void;

/** Losses of a periodic evaluation. */
export interface EvalRecord {
  /** number of training steps done when it was taken (absolute, including `startStep`) */
  step: number;
  /** mean loss of each evaluated split, e.g. `{ train: 2.12, val: 2.17 }` */
  losses: Record<string, number>;
}

/** The state shown by progress displays. */
export interface ProgressInfo {
  /** label of the run, if any */
  label: string;
  /** steps done in this call */
  done: number;
  /** steps asked for in this call */
  total: number;
  /** the last known step loss */
  loss: number;
  /** the current learning rate */
  lr: number;
  /** average speed of this call so far */
  stepsPerSecond: number;
  /** log10 of every step loss known so far */
  log10Losses: readonly number[];
  /** the last evaluation, if any */
  lastEval: EvalRecord | null;
  /** true for the final update */
  finished: boolean;
}

/** A progress sink and how often it wants updates. */
export type Reporter = ((info: ProgressInfo) => void) & { intervalMs: number };

/** What `progress: true` shows: made once per run (the notebook layer's live display or terminal line). */
export type Display = () => Reporter;

/** What runs the training steps: "auto" (default), "fused" or "tfjs" (see lib/engines/factory.ts). */
export type TrainEngine = EngineChoice;

/** Options of {@link train}. */
export interface TrainOptions {
  /** number of steps to run */
  steps: number;
  /** examples per step (default 32), or "full" for full-batch gradient descent */
  batchSize?: number | "full";
  /** learning rate (default 0.1) */
  lr?: LrSchedule;
  /** the update rule: an optimizer object, or "sgd" (default) / "adamw" with its defaults */
  optimizer?: Optimizer | OptimizerKind;
  /** seed of the generator drawing the minibatches (default 2147483647); ignored when `generator` is given */
  seed?: number;
  /** draws the minibatches (to continue one stream over several calls, or to follow PyTorch's) */
  generator?: IntDraws;
  /** number the first step of this call gets (default 0), so schedules and records continue a run */
  startStep?: number;
  /** evaluate every this many steps and after the last step (default: never) */
  evalEvery?: number;
  /** splits to evaluate (default `{ train: data }`), e.g. `{ train: split.train, val: split.val }` */
  evalSplits?: Readonly<Record<string, Examples>>;
  /** examples per forward pass in evaluations (default 8192 with tfjs ops, 2048 with the fused kernels) */
  evalChunkSize?: number;
  /** read the step losses (and check them for NaN) every this many steps (default 200) */
  syncEvery?: number;
  /**
   * Called with each step's loss, in order, but in batches when the losses are
   * read (every `syncEvery` steps). Returning "stop" ends training after that batch.
   */
  onStep?: (step: number, loss: number, lr: number) => StopSignal;
  /** Called after each evaluation; returning "stop" ends training. */
  onEval?: (record: EvalRecord) => StopSignal;
  /**
   * Sees the gradients every `gradsEvery` steps, after they are computed and
   * before the update is applied (parameters still hold their old values).
   * The tensors are disposed when the callback returns: read what you need in it.
   */
  onGrads?: (step: number, grads: GradMap, lr: number) => void;
  /** call `onGrads` on steps that are multiples of this (default 1: every step) */
  gradsEvery?: number;
  /**
   * Live progress (default true): the display the caller of {@link train} gives (lib/index's
   * `train`: in a notebook one display updated in place, on a terminal one line at most every
   * 2 s). A function receives the updates instead; false shows nothing.
   */
  progress?: boolean | ((info: ProgressInfo) => void);
  /** name of the run shown in the progress display */
  label?: string;
  /** what runs the steps (default "auto": fused when the model and options allow it) */
  engine?: TrainEngine;
  /**
   * threads the fused engine splits its kernel calls over (default: every core,
   * `os.availableParallelism()`); the losses are the same bits whatever the count
   */
  threads?: number;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** loss of every step (the minibatch loss before its update, regularization included) */
  losses: number[];
  /** log10 of each step loss (the lecture's `lossi`) */
  log10Losses: number[];
  /** every evaluation, in order */
  evals: EvalRecord[];
  /** steps run in this call */
  steps: number;
  /** true when a callback returned "stop" */
  stoppedEarly: boolean;
  /** wall-clock seconds of this call */
  seconds: number;
  /** what ran the steps */
  engine: EngineName;
}

/**
 * Thrown when a step loss is NaN or infinite. The model's parameters (and
 * buffers) were restored to the last values known to give a finite loss.
 */
export class TrainingDivergedError extends Error {
  /** absolute step whose loss was not finite */
  readonly step: number;
  /** absolute step whose parameters were restored (its loss was finite), or -1 */
  readonly restoredStep: number;
  /** the history up to and including the bad step */
  readonly result: TrainResult;

  constructor(message: string, step: number, restoredStep: number, result: TrainResult) {
    super(message);
    this.name = "TrainingDivergedError";
    this.step = step;
    this.restoredStep = restoredStep;
    this.result = result;
  }
}

/**
 * Trains a model on the examples of the training split.
 *
 * @example
 * ```ts
 * const result = await train(model, split.train, {
 *   steps: 200_000,
 *   lr: { lr: 0.1, decayAt: 100_000, decayedLr: 0.01 },
 *   evalEvery: 10_000,
 *   evalSplits: { train: split.train, val: split.val },
 * });
 * ```
 * @param display - what `progress: true` shows (default none; lib/index's `train` passes the live display)
 * @throws TrainingDivergedError at the first non-finite loss (parameters restored).
 * @throws RangeError for bad options or examples that do not fit the model.
 */
export async function train(
  model: Model,
  data: Examples,
  options: TrainOptions,
  display: Display | null = null,
): Promise<TrainResult> {
  if (training.has(model)) {
    throw new Error("this model is already being trained by another train() call: await that one first");
  }
  const checked = checkOptions(model, data, options);
  training.add(model);
  try {
    const run = new TrainingRun(model, data, checked, display);
    try {
      for (let i = 0; i < run.options.steps && !run.stoppedEarly; i++) {
        run.step(i);
        if (run.pauseDue(i + 1)) await run.pause(i + 1);
      }
      return run.finish();
    } finally {
      run.dispose();
    }
  } finally {
    training.delete(model);
  }
}

/** Models a train() call is running on: two calls at once on one model would mix their updates. */
const training = new WeakSet<Model>();

/** Refuses a learning rate that would train uphill or break the weights: negative, NaN, infinite, not a number. */
function checkLr(lr: LrSchedule, startStep: number): void {
  const kind = typeof lr;
  if (kind !== "number" && kind !== "function" && (kind !== "object" || lr === null)) {
    throw new RangeError(
      `lr must be a number, a { lr, decayAt, decayedLr } schedule or a function, got ${JSON.stringify(lr)}`,
    );
  }
  const values =
    typeof lr === "number" ? [lr] : typeof lr === "function" ? [lr(startStep)] : [lr.lr, lr.decayedLr, lr.decayAt];
  for (const v of values as unknown[]) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      const shown = typeof v === "number" ? String(v) : (JSON.stringify(v) ?? String(v));
      throw new RangeError(`the learning rate must be a finite number of at least 0, got ${shown}`);
    }
  }
}

/** Options with their defaults, checked. */
type Checked = Required<
  Omit<TrainOptions, "generator" | "evalSplits" | "onStep" | "onEval" | "onGrads" | "evalChunkSize" | "optimizer">
> &
  Pick<TrainOptions, "onStep" | "onEval" | "onGrads" | "evalChunkSize"> & {
    generator: IntDraws;
    evalSplits: Readonly<Record<string, Examples>>;
    optimizer: Optimizer;
    batch: number;
  };

function checkOptions(model: Model, data: Examples, options: TrainOptions): Checked {
  const { steps, batchSize = 32, syncEvery = 200, gradsEvery = 1, evalEvery = 0 } = options;
  checkBlockSize(model, data);
  if (exampleKind(model) !== exampleKindOf(data)) {
    throw new RangeError(
      `the model reads ${exampleKind(model)} examples but the data holds ${exampleKindOf(data)} examples`,
    );
  }
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${steps}`);
  if (batchSize !== "full" && (!Number.isInteger(batchSize) || batchSize < 1)) {
    throw new RangeError(`batchSize must be a positive integer or "full", got ${batchSize}`);
  }
  for (const [name, v] of Object.entries({ syncEvery, gradsEvery })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(evalEvery) || evalEvery < 0) {
    throw new RangeError(`evalEvery must be a non-negative integer, got ${evalEvery}`);
  }
  const { evalChunkSize } = options;
  if (evalChunkSize !== undefined && (!Number.isInteger(evalChunkSize) || evalChunkSize < 1)) {
    throw new RangeError(`evalChunkSize must be a positive integer, got ${evalChunkSize}`);
  }
  if (data.n === 0) throw new RangeError("cannot train on an empty split");
  checkLr(options.lr ?? 0.1, options.startStep ?? 0);
  for (const split of [data, ...Object.values(options.evalSplits ?? {})]) checkTokenIds(model, split);
  const optimizer = options.optimizer ?? "sgd";
  return {
    ...options,
    steps,
    batchSize,
    batch: batchSize === "full" ? data.n : batchSize,
    lr: options.lr ?? 0.1,
    seed: options.seed ?? LECTURE_SEED,
    startStep: options.startStep ?? 0,
    evalEvery,
    syncEvery,
    gradsEvery,
    progress: options.progress ?? true,
    label: options.label ?? "",
    engine: options.engine ?? "auto",
    threads: checkThreads(options.threads ?? defaultThreads()),
    generator: options.generator ?? new Generator(options.seed ?? LECTURE_SEED),
    evalSplits: options.evalSplits ?? { train: data },
    optimizer: typeof optimizer === "string" ? makeOptimizer(optimizer) : optimizer,
  };
}

/** A copy of the engine's state, taken when the losses up to `at` are known. */
interface Snapshot {
  /** index of the step whose loss these parameters give */
  at: number;
  state: EngineState;
}

/** The sink of `progress`: none, a function's, or the caller's display. */
function reporterFor(progress: Checked["progress"], display: Display | null): Reporter | null {
  if (typeof progress === "function")
    return Object.assign((info: ProgressInfo) => progress(info), { intervalMs: 1000 });
  return progress && display ? display() : null;
}

/** The state of one call of {@link train}: the engine, the losses, the snapshots, the reporter. */
class TrainingRun {
  readonly engine: Engine;
  stoppedEarly = false;
  private readonly losses: number[] = [];
  private readonly log10Losses: number[] = [];
  private readonly lrs: number[] = [];
  private readonly evals: EvalRecord[] = [];
  /** step losses not yet read: tensors on the tfjs engine, numbers on the fused one */
  private readonly pending: (tfjs.Scalar | number)[] = [];
  private readonly reporter: Reporter | null;
  /** code of the caller's that runs at pauses and may read or change the variables */
  private readonly userCallbacks: boolean;
  private verified: Snapshot | null = null;
  private candidate: Snapshot | null;
  private readonly t0 = Date.now();
  private lastReport = this.t0;

  constructor(
    model: Model,
    private readonly data: Examples,
    readonly options: Checked,
    display: Display | null,
  ) {
    const o = options;
    this.engine = createEngine(model, {
      engine: o.engine,
      batchSize: o.batch,
      targetWidth: targetWidth(data),
      optimizer: o.optimizer,
      fixedBatch: o.batchSize === "full",
      threads: o.threads,
    });
    if (o.batchSize === "full") {
      // a full batch is the same every step: filled once
      this.engine.batch.X.set(data.X);
      this.engine.batch.Y.set(data.Y);
    }
    this.candidate = { at: 0, state: this.engine.snapshot() };
    this.reporter = reporterFor(o.progress, display);
    this.userCallbacks = Boolean(o.onStep || o.onEval || typeof o.progress === "function");
  }

  /** Draws a batch (unless it is the full one) and runs one step on the engine. */
  step(i: number): void {
    const o = this.options;
    const step = o.startStep + i;
    const lr = learningRate(o.lr, step);
    this.lrs.push(lr);
    if (o.batchSize !== "full") sampleBatchInto(this.data, o.generator, this.engine.batch);
    const hook = o.onGrads && step % o.gradsEvery === 0 ? o.onGrads : undefined;
    this.pending.push(this.engine.step(lr, hook && ((grads) => hook(step, grads, lr))));
  }

  /** Whether the losses must be read now: enough pending, an evaluation or a report due, or the last step. */
  pauseDue(done: number): boolean {
    const o = this.options;
    return this.pending.length >= o.syncEvery || this.evalDue(done) || this.reportDue() || done === o.steps;
  }

  private evalDue(done: number): boolean {
    const { evalEvery, steps } = this.options;
    return evalEvery > 0 && (done % evalEvery === 0 || done === steps);
  }

  private reportDue(): boolean {
    return this.reporter !== null && Date.now() - this.lastReport >= this.reporter.intervalMs;
  }

  /** Reads the losses and runs onStep, evaluates when due (then onEval), and reports. */
  async pause(done: number): Promise<void> {
    const o = this.options;
    const evaluating = this.evalDue(done);
    if (this.flush() === "stop") this.stoppedEarly = true;
    if (evaluating) this.evaluate(o.startStep + done);
    if (this.reporter && (this.reportDue() || evaluating)) {
      this.report(false);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs callers' code with the model's variables current; the engine takes back what it changes. */
  private callBack<T>(fn: () => T): T {
    return this.userCallbacks ? this.engine.withVariables(fn) : fn();
  }

  private evaluate(step: number): void {
    const losses: Record<string, number> = {};
    for (const [name, split] of Object.entries(this.options.evalSplits)) {
      losses[name] = this.engine.evaluate(split, this.options.evalChunkSize);
    }
    const record = { step, losses };
    this.evals.push(record);
    if (this.callBack(() => this.options.onEval?.(record)) === "stop") this.stoppedEarly = true;
  }

  private report(finished: boolean): void {
    const info = this.progressInfo(finished);
    this.callBack(() => this.reporter?.(info));
    this.lastReport = Date.now();
  }

  /** Reads the pending losses, checks them, snapshots the state, runs onStep. */
  private flush(): StopSignal {
    if (this.pending.length === 0) return;
    const first = this.losses.length;
    const values = readLosses(this.pending);
    for (const v of values) {
      this.losses.push(v);
      this.log10Losses.push(Math.log10(v));
    }
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) this.diverge(first + bad);
    this.verified = this.candidate;
    this.candidate = { at: this.losses.length, state: this.engine.snapshot() };
    return this.callBack(() => this.callOnStep(first));
  }

  private callOnStep(first: number): StopSignal {
    const { onStep, startStep } = this.options;
    let signal: StopSignal;
    for (let i = first; onStep && i < this.losses.length; i++) {
      if (onStep(startStep + i, this.losses[i] as number, this.lrs[i] as number) === "stop") signal = "stop";
    }
    return signal;
  }

  /** Restores the last state known to give a finite loss and throws. */
  private diverge(bad: number): never {
    this.losses.length = this.log10Losses.length = bad + 1;
    const { startStep } = this.options;
    // The candidate snapshot holds the parameters of step `candidate.at`; they are
    // good if that step's loss is known to be finite, else fall back to the older one.
    const c = this.candidate;
    const good = c && c.at < bad ? c : (this.verified ?? c);
    if (good) this.engine.restore(good.state);
    const restored = good ? good.at : -1;
    const where =
      restored >= 0 && restored < bad
        ? `the parameters were restored to those of step ${startStep + restored} (loss ${(this.losses[restored] as number).toFixed(4)})`
        : "the initial parameters were restored";
    if (this.reporter) this.report(true);
    throw new TrainingDivergedError(
      `training diverged: the loss at step ${startStep + bad} is ${this.losses[bad]} (not finite); ${where}. ` +
        `Try a lower learning rate (it was ${this.lrs[bad]}).`,
      startStep + bad,
      restored >= 0 ? startStep + restored : -1,
      this.result(),
    );
  }

  /** Reads what is left, reports the end, and returns the history. */
  finish(): TrainResult {
    this.flush();
    if (this.reporter) this.report(true);
    return this.result();
  }

  private result(): TrainResult {
    return {
      losses: this.losses.slice(),
      log10Losses: this.log10Losses.slice(),
      evals: this.evals.slice(),
      steps: this.losses.length,
      stoppedEarly: this.stoppedEarly,
      seconds: (Date.now() - this.t0) / 1000,
      engine: this.engine.name,
    };
  }

  private progressInfo(finished: boolean): ProgressInfo {
    const done = this.losses.length;
    const seconds = (Date.now() - this.t0) / 1000;
    return {
      label: this.options.label,
      done,
      total: this.options.steps,
      loss: this.losses[done - 1] ?? NaN,
      lr: this.lrs[Math.max(0, done - 1)] ?? learningRate(this.options.lr, this.options.startStep),
      stepsPerSecond: seconds > 0 ? done / seconds : 0,
      log10Losses: this.log10Losses,
      lastEval: this.evals[this.evals.length - 1] ?? null,
      finished,
    };
  }

  /** Frees the pending losses; the engine writes the state back into the model's variables. */
  dispose(): void {
    for (const t of this.pending) if (typeof t !== "number") t.dispose();
    this.pending.length = 0;
    this.verified = this.candidate = null;
    this.engine.dispose();
  }
}

/** The values of pending losses, in order (one read for all the tensors); empties the list. */
function readLosses(pending: (tfjs.Scalar | number)[]): number[] {
  const tensors = pending.filter((t): t is tfjs.Scalar => typeof t !== "number");
  let values: number[];
  if (tensors.length === 0) values = (pending as number[]).slice();
  else {
    const stacked = tf.stack(tensors);
    values = Array.from(stacked.dataSync());
    stacked.dispose();
    tensors.forEach((t) => t.dispose());
  }
  pending.length = 0;
  return values;
}
