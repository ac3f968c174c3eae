/**
 * Training lecture 4's exercise network with its hand-written backward pass
 * only (lib/nn/backprop.ts: no tape, no autodiff), then calibrating its batch
 * norm on the whole training set and measuring split losses with those
 * statistics, as the lecture does at the end.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Contexts } from "../data/contexts";
import { sampleBatch, type IntDraws } from "../data/examples";
import { exerciseStep, type ExerciseParams } from "../nn/backprop";
import { crossEntropy } from "../nn/ops";
import { makeReporter } from "./progress";
import { tf } from "../runtime/tf";
import { learningRate, type LrSchedule } from "../training/schedule";

/** Options of {@link trainByHand}. */
export interface ByHandOptions {
  /** steps to run */
  steps: number;
  /** learning rate per step (e.g. `{ lr: 0.1, decayAt: 100_000, decayedLr: 0.01 }`) */
  lr: LrSchedule;
  /** draws the minibatch rows (a TorchGenerator continues the lecture's stream) */
  generator: IntDraws;
  /** examples per step (default 32) */
  batchSize?: number;
  /** read the losses every this many steps (default 500) */
  syncEvery?: number;
  /** live progress (default true) */
  progress?: boolean;
  /** name shown in the progress display */
  label?: string;
}

/** Loss of every step and the wall time. */
export interface ByHandResult {
  /** minibatch loss of each step, before its update */
  losses: number[];
  /** seconds taken */
  seconds: number;
}

/** Trains the exercise network's parameters in place with SGD and the hand-written gradients. */
export async function trainByHand(p: ExerciseParams, data: Contexts, options: ByHandOptions): Promise<ByHandResult> {
  const { steps, batchSize = 32, syncEvery = 500, label = "" } = options;
  const reporter = makeReporter(options.progress ?? true);
  const losses: number[] = [];
  const pending: tfjs.Scalar[] = [];
  const start = Date.now();
  for (let i = 0; i < steps; i++) {
    const batch = sampleBatch(data, batchSize, options.generator);
    const lr = learningRate(options.lr, i);
    const loss = tf.tidy(() => {
      const X = tf.tensor2d(batch.X, [batchSize, data.blockSize], "int32");
      return exerciseStep(p, X, tf.tensor1d(batch.Y, "int32"), lr);
    });
    pending.push(loss);
    if (pending.length === syncEvery || i === steps - 1) {
      losses.push(...readAll(pending));
      if (!Number.isFinite(losses[losses.length - 1])) throw new Error(`the loss is not finite at step ${i}`);
      const seconds = (Date.now() - start) / 1000;
      reporter?.({
        label,
        done: i + 1,
        total: steps,
        loss: losses[losses.length - 1] as number,
        lr,
        stepsPerSecond: (i + 1) / Math.max(seconds, 1e-3),
        log10Losses: losses.map(Math.log10),
        lastEval: null,
        finished: i === steps - 1,
      });
      await new Promise<void>((resolve) => setImmediate(resolve)); // let the display update
    }
  }
  return { losses, seconds: (Date.now() - start) / 1000 };
}

/** Reads and frees a list of scalars in one sync; empties the list. */
function readAll(scalars: tfjs.Scalar[]): number[] {
  const values = tf.tidy(() => Array.from(tf.stack(scalars).dataSync()));
  tf.dispose(scalars);
  scalars.length = 0;
  return values;
}

/** The batch-norm statistics of the whole training set: mean and unbiased variance, [1, nHidden]. */
export interface BatchNormStats {
  mean: tfjs.Tensor;
  variance: tfjs.Tensor;
}

/** The pre-activations `embcat @ W1 + b1` of some contexts. */
function hprebnOf(p: ExerciseParams, X: Int32Array, rows: number, blockSize: number): tfjs.Tensor2D {
  return tf.tidy(() => {
    const emb = tf.gather(p.C, tf.tensor2d(X, [rows, blockSize], "int32")).reshape([rows, -1]);
    return tf.add(tf.matMul(emb as tfjs.Tensor2D, p.W1 as tfjs.Tensor2D), p.b1) as tfjs.Tensor2D;
  });
}

/** The lecture's calibration: batch-norm mean and variance over every training example, in one pass. */
export function calibrateByHand(p: ExerciseParams, data: Contexts): BatchNormStats {
  return tf.tidy(() => {
    const hprebn = hprebnOf(p, data.X, data.n, data.blockSize); // [n, nHidden]
    const mean = tf.mean(hprebn, 0, true);
    const variance = tf.div(tf.sum(tf.square(tf.sub(hprebn, mean)), 0, true), data.n - 1);
    return { mean, variance };
  });
}

/** Mean loss over a split with batch norm on fixed statistics (evaluation mode), in chunks of rows. */
export function byHandSplitLoss(p: ExerciseParams, data: Contexts, stats: BatchNormStats, chunk = 16384): number {
  let total = 0;
  for (let start = 0; start < data.n; start += chunk) {
    const rows = Math.min(chunk, data.n - start);
    const X = data.X.subarray(start * data.blockSize, (start + rows) * data.blockSize);
    const Y = data.Y.subarray(start, start + rows);
    total += rows * chunkLoss(p, X, Y, stats);
  }
  return total / data.n;
}

function chunkLoss(p: ExerciseParams, X: Int32Array, Y: Int32Array, stats: BatchNormStats): number {
  return tf.tidy(() => {
    const hprebn = hprebnOf(p, X, Y.length, X.length / Y.length);
    const bnraw = tf.mul(tf.sub(hprebn, stats.mean), tf.rsqrt(tf.add(stats.variance, 1e-5)));
    const h = tf.tanh(tf.add(tf.mul(p.bngain, bnraw), p.bnbias));
    const logits = tf.add(tf.matMul(h as tfjs.Tensor2D, p.W2 as tfjs.Tensor2D), p.b2) as tfjs.Tensor2D;
    return crossEntropy(logits, tf.tensor1d(Y, "int32")).dataSync()[0] as number;
  });
}
