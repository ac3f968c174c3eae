/**
 * The training loop every model of the series uses: minibatch SGD with a
 * seeded generator drawing the batches, a learning-rate schedule, periodic
 * evaluation, callbacks, live progress, and a stop at the first non-finite loss.
 *
 * Speed: models that describe themselves for the fused kernels (the MLPs
 * and the neural bigram; see lib/engines/fused.ts) train by default with whole fused steps in WebAssembly,
 * whatever the tfjs backend; their tfjs variables are brought up to date every
 * `syncEvery` steps, before every evaluation and gradient hook, and at the end,
 * and read back after the callbacks (which may change them).
 * Other models (and `engine: "tfjs"`) run a step as a handful of small tensor
 * ops, and the loop keeps every synchronous read out of the hot path: step
 * losses stay on the device and are read in one batch every `syncEvery` steps
 * (or when progress is due), which is also when the loss is checked for NaN/Infinity.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Contexts } from "../data/contexts";
import { inNotebook, liveDisplay, type LiveDisplay } from "../notebook/display";
import { checkBlockSize, splitLosses } from "./evaluate";
import type { LanguageModel } from "../models/model";
import { FusedNet, fusedBytes, fusedSpecOf, type FusedSpec } from "../engines/fused";
import { LECTURE_SEED } from "../models/nn-bigram";
import { crossEntropy } from "../nn/ops";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";

/** Step decay: `lr` before step `decayAt`, `decayedLr` from it on (lecture 2: 0.1, 100,000, 0.01). */
export interface StepDecay {
  /** learning rate of the first steps */
  lr: number;
  /** first step (0-based) that uses `decayedLr` */
  decayAt: number;
  /** learning rate from step `decayAt` on */
  decayedLr: number;
}

/** A learning rate: constant, step decay, or any function of the (0-based) step. */
export type LrSchedule = number | StepDecay | ((step: number) => number);

/** The learning rate a schedule gives at a step. */
export function learningRate(schedule: LrSchedule, step: number): number {
  if (typeof schedule === "number") return schedule;
  if (typeof schedule === "function") return schedule(step);
  return step < schedule.decayAt ? schedule.lr : schedule.decayedLr;
}

/** Gradients of one step, by parameter. */
export type GradMap = Map<tfjs.Variable, tfjs.Tensor>;

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

/**
 * What runs the training steps: "fused" whole steps in the SIMD kernels of
 * lib/engines/fused.ts, "tfjs" one tfjs op at a time (with autodiff), or "auto" (the
 * default): fused when the model and the options allow it, else tfjs.
 */
export type TrainEngine = "auto" | "fused" | "tfjs";

/** Options of {@link train}. */
export interface TrainOptions {
  /** number of steps to run */
  steps: number;
  /** examples per step (default 32), or "full" for full-batch gradient descent */
  batchSize?: number | "full";
  /** learning rate (default 0.1) */
  lr?: LrSchedule;
  /** seed of the generator drawing the minibatches (default 2147483647); ignored when `generator` is given */
  seed?: number;
  /** a generator to draw the minibatches from (to continue one stream over several calls) */
  generator?: Generator;
  /** number the first step of this call gets (default 0), so schedules and records continue a run */
  startStep?: number;
  /** evaluate every this many steps and after the last step (default: never) */
  evalEvery?: number;
  /** splits to evaluate (default `{ train: data }`), e.g. `{ train: split.train, val: split.val }` */
  evalSplits?: Readonly<Record<string, Contexts>>;
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
   * Live progress (default true): in a notebook one display updated in place,
   * on a terminal one line at most every 2 s. A function receives the updates instead.
   */
  progress?: boolean | ((info: ProgressInfo) => void);
  /** name of the run shown in the progress display */
  label?: string;
  /** what runs the steps (default "auto"; see {@link TrainEngine}) */
  engine?: TrainEngine;
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
  engine: "fused" | "tfjs";
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

/** State a model changes in training besides its parameters (batch-norm running statistics). */
export interface HasBuffers {
  /** the non-trainable state variables */
  buffers(): tfjs.Variable[];
}

/** Parameters and buffers of a model: everything a snapshot must save. */
export function modelState(model: LanguageModel): tfjs.Variable[] {
  const withBuffers = model as LanguageModel & Partial<HasBuffers>;
  return [...model.parameters(), ...(typeof withBuffers.buffers === "function" ? withBuffers.buffers() : [])];
}

/**
 * The training loss of a batch: cross-entropy of the logits plus the model's
 * regularization term, if it has one.
 */
export function batchLoss(model: LanguageModel, X: tfjs.Tensor2D, Y: tfjs.Tensor1D, training = true): tfjs.Scalar {
  return tf.tidy(() => {
    const loss = crossEntropy(model.forward(X, training), Y);
    return model.regularization ? (tf.add(loss, model.regularization()) as tfjs.Scalar) : loss;
  });
}

/** The most kernel memory {@link train} gives a fused network (1 GiB); larger full batches run on tfjs. */
export const FUSED_MAX_BYTES = 2 ** 30;

/**
 * The fused spec of a model when {@link train} can run it fused with this
 * batch size, or the reason it cannot: the model does not describe itself
 * (lib/engines/fused.ts) or not right now, its regularization is not part of that
 * description, the batch is too small or (a full batch of `examples`) needs
 * more than {@link FUSED_MAX_BYTES}, or the kernels are not built.
 */
export function fusedPlan(model: LanguageModel, batchSize: number | "full", examples = 0): FusedSpec | string {
  const spec = fusedSpecOf(model);
  if (typeof spec === "string") return spec;
  if (model.regularization && !(spec.l2 && spec.l2.length > 0)) {
    return "the model adds a regularization term that its fused form does not describe";
  }
  const batch = batchSize === "full" ? examples : batchSize;
  if (batch < 2) return "fused steps need a batch of at least 2";
  const bytes = fusedBytes(spec, batch);
  if (bytes > FUSED_MAX_BYTES) {
    return `a batch of ${batch} examples needs ${Math.ceil(bytes / 2 ** 20)} MB of kernel memory (limit ${FUSED_MAX_BYTES / 2 ** 20} MB)`;
  }
  return spec;
}

/** Token indices of one minibatch, flat like {@link Contexts}. */
export interface Batch {
  /** `batchSize * blockSize` contexts */
  X: Int32Array;
  /** `batchSize` targets */
  Y: Int32Array;
}

/**
 * Draws a minibatch of `batchSize` examples uniformly with replacement (the
 * lecture's `torch.randint(0, X.shape[0], (32,), generator=g)`).
 */
export function sampleBatch(data: Contexts, batchSize: number, generator: Generator): Batch {
  const batch = { X: new Int32Array(batchSize * data.blockSize), Y: new Int32Array(batchSize) };
  sampleBatchInto(data, generator, batch);
  return batch;
}

/**
 * {@link sampleBatch} into arrays that already exist (as many examples as
 * `batch.Y` holds): the same draws from the generator, no allocation.
 */
export function sampleBatchInto(data: Contexts, generator: Generator, batch: Batch): void {
  const { blockSize } = data;
  const { X, Y } = batch;
  for (let b = 0; b < Y.length; b++) {
    const r = generator.randint(0, data.n);
    X.set(data.X.subarray(r * blockSize, (r + 1) * blockSize), b * blockSize);
    Y[b] = data.Y[r] as number;
  }
}

/**
 * One step of plain SGD on a batch: computes the loss and the gradients of
 * `params`, shows them to `onGrads` (if given), and updates every parameter in
 * place, `p = p - lr * grad`. Returns the loss (before the update) as a scalar
 * the caller must dispose.
 */
export function sgdStep(
  model: LanguageModel,
  params: readonly tfjs.Variable[],
  X: tfjs.Tensor2D,
  Y: tfjs.Tensor1D,
  lr: tfjs.Scalar,
  onGrads?: (grads: GradMap) => void,
): tfjs.Scalar {
  return tf.tidy(() => {
    const f = (): tfjs.Scalar => batchLoss(model, X, Y, true);
    if (!onGrads) {
      // Seeding backpropagation with lr instead of 1 gives lr * grad directly: one op less per parameter.
      const { value, grads } = tf.engine().gradients(f, [...params], lr, true);
      params.forEach((p, i) => {
        const g = grads[i];
        if (g) p.assign(tf.sub(p, g));
      });
      return value;
    }
    const { value, grads } = tf.engine().gradients(f, [...params], undefined, true);
    const map: GradMap = new Map();
    params.forEach((p, i) => {
      const g = grads[i];
      if (g) map.set(p, g);
    });
    onGrads(map);
    map.forEach((g, p) => p.assign(tf.sub(p, tf.mul(g, lr))));
    return value;
  });
}

/** Copies of a set of variables (cheap: tfjs shares the buffers until a variable is reassigned). */
interface Snapshot {
  /** index of the step whose loss these parameters give */
  at: number;
  values: tfjs.Tensor[];
}

function takeSnapshot(state: readonly tfjs.Variable[], at: number): Snapshot {
  return { at, values: state.map((v) => v.clone()) };
}

function restoreSnapshot(state: readonly tfjs.Variable[], snap: Snapshot): void {
  state.forEach((v, i) => v.assign(snap.values[i] as tfjs.Tensor));
}

function disposeSnapshot(snap: Snapshot | null): void {
  snap?.values.forEach((t) => t.dispose());
}

/**
 * Trains a model with minibatch SGD on the contexts of the training split.
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
 * @throws TrainingDivergedError at the first non-finite loss (parameters restored).
 * @throws RangeError for bad options or contexts of another block size.
 */
export async function train(model: LanguageModel, data: Contexts, options: TrainOptions): Promise<TrainResult> {
  const {
    steps,
    batchSize = 32,
    lr = 0.1,
    seed = LECTURE_SEED,
    startStep = 0,
    evalEvery = 0,
    evalChunkSize,
    syncEvery = 200,
    gradsEvery = 1,
    progress = true,
    label = "",
    engine = "auto",
  } = options;
  checkBlockSize(model, data);
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
  if (data.n === 0) throw new RangeError("cannot train on an empty split");
  if (engine !== "auto" && engine !== "fused" && engine !== "tfjs") {
    throw new RangeError(`engine must be "auto", "fused" or "tfjs", got ${String(engine)}`);
  }
  const plan = engine === "tfjs" ? "engine tfjs was asked for" : fusedPlan(model, batchSize, data.n);
  if (engine === "fused" && typeof plan === "string") throw new RangeError(`cannot train fused: ${plan}`);
  // code of the caller's that runs at flushes and evaluations, and may change the variables
  const userCallbacks = Boolean(options.onStep || options.onEval || typeof progress === "function");
  // the fused network; null on the tfjs path, and dropped when training diverges
  let net: FusedNet | null =
    typeof plan === "string" ? null : new FusedNet(plan, batchSize === "full" ? data.n : batchSize);
  net?.load();
  const usedEngine = net ? "fused" : "tfjs";
  const fusedBatch = net?.batchViews() ?? null;
  if (fusedBatch && batchSize === "full") {
    // a full batch is the same every step: in kernel memory once
    fusedBatch.X.set(data.X);
    fusedBatch.Y.set(data.Y);
  }
  const generator = options.generator ?? new Generator(seed);
  const evalSplits = options.evalSplits ?? { train: data };
  const params = model.parameters();
  const state = modelState(model);
  const reporter = makeReporter(progress);

  const losses: number[] = [];
  const log10Losses: number[] = [];
  const lrs: number[] = [];
  const evals: EvalRecord[] = [];
  // step losses not yet read: tensors on the tfjs path, numbers on the fused one
  const pending: (tfjs.Scalar | number)[] = [];
  let verified: Snapshot | null = null;
  let candidate: Snapshot | null = takeSnapshot(state, 0);
  let lrValue = NaN;
  let lrTensor: tfjs.Scalar | null = null;
  const full =
    batchSize === "full" && !net
      ? {
          X: tf.tensor2d(data.X, [data.n, data.blockSize], "int32") as tfjs.Tensor2D,
          Y: tf.tensor1d(data.Y, "int32") as tfjs.Tensor1D,
        }
      : null;
  const t0 = Date.now();
  let lastReport = t0;
  let stoppedEarly = false;

  const result = (): TrainResult => ({
    losses: losses.slice(),
    log10Losses: log10Losses.slice(),
    evals: evals.slice(),
    steps: losses.length,
    stoppedEarly,
    seconds: (Date.now() - t0) / 1000,
    engine: usedEngine,
  });
  const disposePending = (): void => {
    for (const t of pending) if (typeof t !== "number") t.dispose();
    pending.length = 0;
  };
  const cleanup = (): void => {
    disposePending();
    disposeSnapshot(verified);
    disposeSnapshot(candidate);
    verified = candidate = null;
    lrTensor?.dispose();
    lrTensor = null;
    full?.X.dispose();
    full?.Y.dispose();
  };

  /** Reads the pending losses; checks them; runs onStep. Returns "stop" when a callback asked to. */
  const flush = (): StopSignal => {
    if (pending.length === 0) return;
    const first = losses.length;
    // the variables catch up with the fused network before anything reads or snapshots them
    net?.store();
    const tensors = pending.filter((t): t is tfjs.Scalar => typeof t !== "number");
    let values: ArrayLike<number>;
    if (tensors.length === 0) values = (pending as number[]).slice();
    else {
      const stacked = tf.stack(tensors);
      values = stacked.dataSync();
      stacked.dispose();
    }
    disposePending();
    let bad = -1;
    for (let k = 0; k < values.length; k++) {
      const v = values[k] as number;
      losses.push(v);
      log10Losses.push(Math.log10(v));
      if (bad < 0 && !Number.isFinite(v)) bad = first + k;
    }
    if (bad >= 0) {
      losses.length = log10Losses.length = bad + 1;
      diverge(bad);
    }
    const done = losses.length;
    disposeSnapshot(verified);
    verified = candidate;
    candidate = takeSnapshot(state, done);
    let signal: StopSignal;
    if (options.onStep) {
      for (let i = first; i < done; i++) {
        if (options.onStep(startStep + i, losses[i] as number, lrs[i] as number) === "stop") signal = "stop";
      }
    }
    return signal;
  };

  const diverge = (bad: number): never => {
    net = null;
    // The candidate snapshot holds the parameters of step `candidate.at`; they are
    // good if that step's loss is known to be finite, else fall back to the older one.
    const good = candidate && candidate.at < bad ? candidate : (verified ?? candidate);
    let restored = -1;
    if (good) {
      restoreSnapshot(state, good);
      restored = good.at;
    }
    const value = losses[bad] as number;
    const where =
      restored >= 0 && restored < bad
        ? `the parameters were restored to those of step ${startStep + restored} (loss ${(losses[restored] as number).toFixed(4)})`
        : "the initial parameters were restored";
    const res = result();
    cleanup();
    reporter?.(progressInfo(true));
    throw new TrainingDivergedError(
      `training diverged: the loss at step ${startStep + bad} is ${value} (not finite); ${where}. ` +
        `Try a lower learning rate (it was ${lrs[bad]}).`,
      startStep + bad,
      restored >= 0 ? startStep + restored : -1,
      res,
    );
  };

  const progressInfo = (finished: boolean): ProgressInfo => {
    const done = losses.length;
    const seconds = (Date.now() - t0) / 1000;
    return {
      label,
      done,
      total: steps,
      loss: losses[done - 1] ?? NaN,
      lr: lrs[Math.max(0, done - 1)] ?? learningRate(lr, startStep),
      stepsPerSecond: seconds > 0 ? done / seconds : 0,
      log10Losses,
      lastEval: evals[evals.length - 1] ?? null,
      finished,
    };
  };

  /** One fused step: the batch is drawn into kernel memory (a full batch is there already); returns the loss. */
  const fusedStep = (fused: FusedNet, batch: Batch, step: number, stepLr: number): number => {
    if (batchSize !== "full") sampleBatchInto(data, generator, batch);
    const loss = fused.forwardBackward();
    if (options.onGrads && step % gradsEvery === 0) {
      // the hook sees tfjs variables holding the parameters before this update
      fused.store();
      const grads = fused.gradients();
      try {
        options.onGrads(step, grads, stepLr);
      } finally {
        grads.forEach((g) => g.dispose());
      }
      fused.load();
    }
    fused.update(stepLr);
    return loss;
  };

  /** One step of tfjs ops; returns the loss as a scalar tensor, read later. */
  const tfjsStep = (step: number, stepLr: number): tfjs.Scalar => {
    if (stepLr !== lrValue || !lrTensor) {
      lrTensor?.dispose();
      lrTensor = tf.scalar(stepLr);
      lrValue = stepLr;
    }
    const rate = lrTensor;
    const hook =
      options.onGrads && step % gradsEvery === 0
        ? (grads: GradMap) => options.onGrads?.(step, grads, stepLr)
        : undefined;
    if (full) return sgdStep(model, params, full.X, full.Y, rate, hook);
    const batch = sampleBatch(data, batchSize as number, generator);
    return tf.tidy(() => {
      const X = tf.tensor2d(batch.X, [batchSize as number, data.blockSize], "int32") as tfjs.Tensor2D;
      const Y = tf.tensor1d(batch.Y, "int32") as tfjs.Tensor1D;
      return sgdStep(model, params, X, Y, rate, hook);
    });
  };

  try {
    for (let i = 0; i < steps; i++) {
      const step = startStep + i;
      const stepLr = learningRate(lr, step);
      lrs.push(stepLr);
      if (net && fusedBatch) pending.push(fusedStep(net, fusedBatch, step, stepLr));
      else pending.push(tfjsStep(step, stepLr));

      const done = i + 1;
      const evalDue = evalEvery > 0 && (done % evalEvery === 0 || done === steps);
      const now = Date.now();
      const reportDue = reporter !== null && now - lastReport >= reporter.intervalMs;
      if (pending.length >= syncEvery || evalDue || reportDue || done === steps) {
        if (flush() === "stop") stoppedEarly = true;
        if (evalDue) {
          const record = {
            step: startStep + done,
            losses: splitLosses(model, evalSplits, evalChunkSize === undefined ? {} : { chunkSize: evalChunkSize }),
          };
          evals.push(record);
          if (options.onEval?.(record) === "stop") stoppedEarly = true;
        }
        if (reporter && (reportDue || evalDue)) {
          reporter(progressInfo(false));
          lastReport = Date.now();
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (stoppedEarly) break;
        // callbacks may have changed the variables (calibrated batch norm, say): the fused network follows
        if (userCallbacks) net?.load();
      }
    }
    flush();
    reporter?.(progressInfo(true));
    const res = result();
    cleanup();
    return res;
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** A progress sink and how often it wants updates. */
type Reporter = ((info: ProgressInfo) => void) & { intervalMs: number };

function makeReporter(progress: TrainOptions["progress"]): Reporter | null {
  if (progress === false) return null;
  if (typeof progress === "function")
    return Object.assign((info: ProgressInfo) => progress(info), { intervalMs: 1000 });
  if (inNotebook()) {
    const live: LiveDisplay = liveDisplay();
    return Object.assign((info: ProgressInfo) => live.html(progressHtml(info), progressText(info)), {
      intervalMs: 1000,
    });
  }
  return Object.assign((info: ProgressInfo) => console.log(progressText(info)), { intervalMs: 2000 });
}

/** Seconds as "1h02m", "3m05s" or "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** The one-line progress text: step, loss, lr, speed, time left or taken, last evaluation. */
export function progressText(info: ProgressInfo): string {
  const width = String(info.total).length;
  const parts = [
    `${info.label ? info.label + " " : ""}step ${String(info.done).padStart(width)}/${info.total}`,
    `loss ${Number.isFinite(info.loss) ? info.loss.toFixed(4) : String(info.loss)}`,
    `lr ${info.lr.toPrecision(3)}`,
    `${info.stepsPerSecond.toFixed(0)} steps/s`,
  ];
  if (info.finished) parts.push(`done in ${formatDuration(info.done / (info.stepsPerSecond || Infinity))}`);
  else if (info.stepsPerSecond > 0) parts.push(`eta ${formatDuration((info.total - info.done) / info.stepsPerSecond)}`);
  if (info.lastEval) {
    const ev = Object.entries(info.lastEval.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`);
    parts.push(`[eval @${info.lastEval.step}: ${ev.join(", ")}]`);
  }
  return parts.join("  ");
}

/**
 * Averages of consecutive windows of `values`, at most `points` of them (the
 * last window may be shorter), for sparklines.
 */
export function downsample(values: readonly number[], points: number): number[] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length <= points) return finite;
  const size = Math.ceil(finite.length / points);
  const out: number[] = [];
  for (let s = 0; s < finite.length; s += size) {
    const chunk = finite.slice(s, s + size);
    out.push(chunk.reduce((a, b) => a + b, 0) / chunk.length);
  }
  return out;
}

/** A tiny inline SVG line of a series (e.g. log10 loss), `width` x `height` pixels. */
export function sparklineSvg(values: readonly number[], width = 240, height = 40): string {
  const ys = downsample(values, width / 2);
  if (ys.length < 2) return `<svg width="${width}" height="${height}"></svg>`;
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const span = hi - lo || 1;
  const pts = ys
    .map((y, i) => {
      const px = (i / (ys.length - 1)) * (width - 2) + 1;
      const py = height - 1 - ((y - lo) / span) * (height - 2);
      return `${px.toFixed(1)},${py.toFixed(1)}`;
    })
    .join(" ");
  return (
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `style="vertical-align:middle;background:#f7f7f7">` +
    `<polyline fill="none" stroke="#3a78b5" stroke-width="1.2" points="${pts}"/></svg>`
  );
}

/** The HTML of the live progress display: the text line and a sparkline of log10 loss. */
export function progressHtml(info: ProgressInfo): string {
  const text = progressText(info).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return (
    `<div style="font-family:monospace;font-size:12px;display:flex;gap:12px;align-items:center">` +
    `${sparklineSvg(info.log10Losses)}<span>${text}</span></div>`
  );
}
