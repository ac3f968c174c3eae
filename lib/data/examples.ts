/**
 * What training and evaluation consume: {@link Contexts} (one target per
 * example, the lectures' models) or {@link Sequences} (a target at every
 * position, makemore.py's models). Both are flat int32 arrays, so drawing a
 * minibatch is a few row copies whatever the kind.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Contexts } from "./contexts";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import type { Sequences } from "./sequences";

/** Examples of either kind. */
export type Examples = Contexts | Sequences;

/** Which kind of examples a model consumes. */
export type ExampleKind = "context" | "sequence";

/** Whether the examples are sequences (a target per position). */
export function isSequences(data: Examples): data is Sequences {
  return (data as Partial<Sequences>).kind === "sequence";
}

/** The kind of a set of examples. */
export function exampleKindOf(data: Examples): ExampleKind {
  return isSequences(data) ? "sequence" : "context";
}

/** Targets per example: 1 for contexts, blockSize for sequences. */
export function targetWidth(data: Examples): number {
  return isSequences(data) ? data.blockSize : 1;
}

/** Anything that draws uniform integers: the lib's {@link Generator}, or one that follows PyTorch's stream. */
export interface IntDraws {
  /** a uniform integer in [low, high) */
  randint(low: number, high: number): number;
}

/** Token indices of one minibatch, flat like the examples. */
export interface Batch {
  /** `batchSize * blockSize` inputs */
  X: Int32Array;
  /** `batchSize * targetWidth` targets */
  Y: Int32Array;
}

/**
 * Draws a minibatch of `batchSize` examples uniformly with replacement (the
 * lecture's `torch.randint(0, X.shape[0], (32,), generator=g)`).
 */
export function sampleBatch(data: Examples, batchSize: number, generator: IntDraws): Batch {
  const batch = { X: new Int32Array(batchSize * data.blockSize), Y: new Int32Array(batchSize * targetWidth(data)) };
  sampleBatchInto(data, generator, batch);
  return batch;
}

/**
 * {@link sampleBatch} into arrays that already exist (as many examples as
 * they hold): the same draws from the generator, no allocation.
 */
export function sampleBatchInto(data: Examples, generator: IntDraws, batch: Batch): void {
  const { blockSize } = data;
  const w = targetWidth(data);
  const rows = batch.Y.length / w;
  for (let b = 0; b < rows; b++) {
    const r = generator.randint(0, data.n);
    batch.X.set(data.X.subarray(r * blockSize, (r + 1) * blockSize), b * blockSize);
    // one target per example is the hot path of the lectures' models: no view for it
    if (w === 1) batch.Y[b] = data.Y[r] as number;
    else batch.Y.set(data.Y.subarray(r * w, (r + 1) * w), b * w);
  }
}

/** The examples at the given rows, in that order. */
export function selectRows<T extends Examples>(data: T, rows: readonly number[]): T {
  const { blockSize } = data;
  const w = targetWidth(data);
  const X = new Int32Array(rows.length * blockSize);
  const Y = new Int32Array(rows.length * w);
  rows.forEach((r, i) => {
    X.set(data.X.subarray(r * blockSize, (r + 1) * blockSize), i * blockSize);
    Y.set(data.Y.subarray(r * w, (r + 1) * w), i * w);
  });
  return { ...data, X, Y, n: rows.length };
}

/**
 * At most `max` examples: all of them when there are few enough, else a
 * fixed subset drawn with `seed`, in their original order.
 */
export function subsetExamples<T extends Examples>(data: T, max: number, seed = 42): T {
  if (data.n <= max) return data;
  const rows = new Generator(seed)
    .shuffle(Array.from({ length: data.n }, (_, i) => i))
    .slice(0, max)
    .sort((a, b) => a - b);
  return selectRows(data, rows);
}

/**
 * Calls `fn` on consecutive chunks of at most `chunkSize` examples, as int32
 * tensors X [rows, blockSize] and Y [rows] (contexts) or [rows, blockSize]
 * (sequences), disposed after the call.
 */
export function forEachChunk(
  data: Examples,
  chunkSize: number,
  fn: (X: tfjs.Tensor2D, Y: tfjs.Tensor, rows: number) => void,
): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const { X, Y, n, blockSize } = data;
  const w = targetWidth(data);
  for (let start = 0; start < n; start += chunkSize) {
    const rows = Math.min(chunkSize, n - start);
    const xb = tf.tensor2d(X.slice(start * blockSize, (start + rows) * blockSize), [rows, blockSize], "int32");
    const ys = Y.slice(start * w, (start + rows) * w);
    const yb = isSequences(data) ? tf.tensor2d(ys, [rows, w], "int32") : tf.tensor1d(ys, "int32");
    try {
      fn(xb, yb, rows);
    } finally {
      xb.dispose();
      yb.dispose();
    }
  }
}

/** Throws a clear error when the examples do not fit the model's block size. */
export function checkBlockSize(model: { blockSize: number }, data: Pick<Examples, "blockSize">): void {
  if (model.blockSize !== data.blockSize) {
    throw new RangeError(`the model reads ${model.blockSize} tokens of context but the data has ${data.blockSize}`);
  }
}

/** The range of the token ids of a set of examples (targets of padding, -1, left out), computed once per set. */
const idRanges = new WeakMap<Examples, { min: number; max: number }>();

function idRange(data: Examples): { min: number; max: number } {
  let range = idRanges.get(data);
  if (!range) {
    let min = 0;
    let max = 0;
    const see = (v: number): void => {
      if (v < min) min = v;
      if (v > max) max = v;
    };
    data.X.forEach(see);
    // a sequence's padded positions have target -1 (IGNORE_INDEX), which the loss skips
    const padded = isSequences(data);
    data.Y.forEach((v) => (padded && v === -1 ? undefined : see(v)));
    range = { min, max };
    idRanges.set(data, range);
  }
  return range;
}

/**
 * Throws a clear error when a token id of the examples lies outside
 * [0, vocabSize): data encoded with another vocabulary. (The fused kernels
 * would read past the embedding table; tfjs would throw deep inside an op.)
 */
export function checkTokenIds(model: { vocabSize: number }, data: Examples): void {
  const { min, max } = idRange(data);
  if (min < 0 || max >= model.vocabSize) {
    const bad = min < 0 ? min : max;
    throw new RangeError(
      `the data holds token id ${bad}, outside the model's vocabulary of ${model.vocabSize} (ids 0 to ${model.vocabSize - 1})`,
    );
  }
}
