/**
 * The learning-rate finder of lecture 2: take one SGD step at each learning
 * rate of an exponentially growing sweep, `lr = 10^linspace(-3, 0, 1000)`,
 * and plot the minibatch loss against the exponent. The loss falls, flattens
 * in a valley, then blows up; a good learning rate sits in the valley.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { checkBlockSize, sampleBatchInto, targetWidth, type Examples } from "../data/examples";
import { createEngine } from "../engines/factory";
import type { Model } from "../models/model";
import { LECTURE_SEED } from "../random/seeds";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import { SGD } from "../optim/optimizers";
import type { TrainEngine } from "./train";

/** Options of {@link lrFinder}. */
export interface LrFinderOptions {
  /** number of steps, one learning rate each (default 1000) */
  steps?: number;
  /** exponent of the first learning rate (default -3: 0.001) */
  lrExpMin?: number;
  /** exponent of the last learning rate (default 0: 1) */
  lrExpMax?: number;
  /** examples per step (default 32) */
  batchSize?: number;
  /** seed of the generator drawing the minibatches (default 2147483647) */
  seed?: number;
  /** what runs the steps, as in {@link train} (default "auto": the fused engine when the model has one) */
  engine?: TrainEngine;
}

/** One step of the sweep. */
export interface LrFinderPoint {
  /** log10 of the learning rate */
  exponent: number;
  /** the learning rate, 10^exponent */
  lr: number;
  /** minibatch loss of the step (before its update) */
  loss: number;
}

/** `n` evenly spaced numbers from `start` to `stop` inclusive, like `torch.linspace`. */
export function linspace(start: number, stop: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`linspace needs n >= 1, got ${n}`);
  if (n === 1) return [start];
  return Array.from({ length: n }, (_, i) => start + ((stop - start) * i) / (n - 1));
}

/**
 * Runs the sweep: one SGD step per learning rate, each on a fresh minibatch,
 * on the same model (so it trains as the rate grows, as in the lecture).
 *
 * @param model - a model, which the sweep trains, or a factory: then a fresh
 *   model is built for the sweep and disposed after it.
 * @returns one point per step; losses may be NaN or Infinity once the rate is too high.
 */
export function lrFinder(model: Model | (() => Model), data: Examples, options: LrFinderOptions = {}): LrFinderPoint[] {
  const { steps = 1000, lrExpMin = -3, lrExpMax = 0, batchSize = 32, seed = LECTURE_SEED, engine = "auto" } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const owned = typeof model === "function";
  const m = owned ? model() : model;
  try {
    checkBlockSize(m, data);
    const exponents = linspace(lrExpMin, lrExpMax, steps);
    const losses = sweep(m, data, exponents, batchSize, seed, engine);
    return exponents.map((exponent, i) => ({ exponent, lr: 10 ** exponent, loss: losses[i] as number }));
  } finally {
    if (owned) m.dispose();
  }
}

/** One SGD step per exponent on the engine that serves the model; the model keeps what the sweep did to it (the engine writes it back). */
function sweep(
  m: Model,
  data: Examples,
  exponents: number[],
  batchSize: number,
  seed: number,
  choice: TrainEngine,
): number[] {
  const engine = createEngine(m, {
    engine: choice,
    batchSize,
    targetWidth: targetWidth(data),
    optimizer: new SGD(),
    doing: "run the sweep",
  });
  const generator = new Generator(seed);
  const values: number[] = [];
  const pending: tfjs.Scalar[] = [];
  const read = (): void => {
    if (pending.length === 0) return;
    const stacked = tf.stack(pending);
    values.push(...stacked.dataSync());
    stacked.dispose();
    pending.forEach((t) => t.dispose());
    pending.length = 0;
  };
  try {
    for (const e of exponents) {
      sampleBatchInto(data, generator, engine.batch);
      const loss = engine.step(10 ** e);
      if (typeof loss === "number") values.push(loss);
      else pending.push(loss);
      if (pending.length >= 250) read();
    }
    read();
    return values;
  } finally {
    pending.forEach((t) => t.dispose());
    engine.dispose();
  }
}

/** The learning rate {@link suggestLr} picks, with the smoothed loss there. */
export interface LrSuggestion extends LrFinderPoint {
  /** the moving average of the loss at the chosen point */
  smoothedLoss: number;
}

/**
 * Moving average of `values` over a centred window of `window` points (shorter at
 * the ends); NaN and infinite values count as +Infinity so a blow-up never looks good.
 */
export function movingAverage(values: readonly number[], window: number): number[] {
  const half = Math.max(0, Math.floor(window / 2));
  return values.map((_, i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(values.length, i + half + 1);
    let s = 0;
    for (let k = lo; k < hi; k++) {
      const v = values[k] as number;
      s += Number.isFinite(v) ? v : Infinity;
    }
    return s / (hi - lo);
  });
}

/**
 * Suggests a learning rate from a sweep: the bottom of the valley of the loss
 * smoothed with a moving average (default window: 5% of the points). The
 * minibatch losses are noisy, so the raw minimum would be a lucky batch.
 *
 * @throws RangeError for an empty sweep.
 */
export function suggestLr(points: readonly LrFinderPoint[], window?: number): LrSuggestion {
  if (points.length === 0) throw new RangeError("cannot suggest a learning rate from an empty sweep");
  const w = window ?? Math.max(1, Math.round(points.length / 20));
  const smooth = movingAverage(
    points.map((p) => p.loss),
    w,
  );
  let best = 0;
  smooth.forEach((v, i) => {
    if (v < (smooth[best] as number)) best = i;
  });
  const p = points[best] as LrFinderPoint;
  return { ...p, smoothedLoss: smooth[best] as number };
}
