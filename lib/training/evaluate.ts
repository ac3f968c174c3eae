/**
 * Evaluating and sampling trained models: the mean loss over a whole split
 * (in chunks, so memory stays bounded), and a bridge from any
 * {@link LanguageModel} to the seeded sampler of lib/models/sample.ts.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Contexts } from "../data/contexts";
import { FusedNet, fusedSpecOf, type FusedSpec } from "../engines/fused";
import type { LanguageModel } from "../models/model";
import { crossEntropy } from "../nn/ops";
import { Generator } from "../random/generator";
import { sampleWords, type NextTokenModel } from "../models/sample";
import { tf } from "../runtime/tf";
import type { Vocab } from "../data/vocab";

/** Options of {@link splitLoss}. */
export interface SplitLossOptions {
  /** examples per forward pass (default 8192; 2048 on the fused engine): bounds the memory used */
  chunkSize?: number;
  /**
   * what runs the forward passes: "auto" (default) the fused kernels when the
   * model has a fused form (lib/engines/fused.ts), else tfjs ops; or "fused" / "tfjs"
   */
  engine?: "auto" | "fused" | "tfjs";
}

/**
 * Mean cross-entropy of the model over every example of a split, in eval mode
 * (batch norm uses its running statistics). No regularization term is added.
 *
 * @throws RangeError when the split is empty or its block size is not the model's.
 */
export function splitLoss(model: LanguageModel, data: Contexts, options: SplitLossOptions = {}): number {
  const { engine = "auto" } = options;
  checkBlockSize(model, data);
  if (data.n === 0) throw new RangeError("cannot evaluate the loss of an empty split");
  const spec = engine === "tfjs" ? "engine tfjs was asked for" : fusedSpecOf(model);
  if (engine === "fused" && typeof spec === "string") throw new RangeError(`cannot evaluate fused: ${spec}`);
  if (typeof spec !== "string") return fusedSplitLoss(spec, data, options.chunkSize ?? 2048);
  const { chunkSize = 8192 } = options;
  let total = 0;
  forEachChunk(data, chunkSize, (X, Y, rows) => {
    const loss = tf.tidy(() => crossEntropy(model.forward(X, false), Y));
    total += (loss.dataSync()[0] as number) * rows;
    loss.dispose();
  });
  return total / data.n;
}

/** {@link splitLoss} with the fused kernels: chunks of the split through {@link FusedNet.evalLoss}. */
function fusedSplitLoss(spec: FusedSpec, data: Contexts, chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const { n, blockSize } = data;
  const net = new FusedNet(spec, Math.max(2, Math.min(chunkSize, n)));
  net.load();
  const { X, Y } = net.batchViews();
  let total = 0;
  for (let start = 0; start < n; start += net.batchSize) {
    const rows = Math.min(net.batchSize, n - start);
    X.set(data.X.subarray(start * blockSize, (start + rows) * blockSize));
    Y.set(data.Y.subarray(start, start + rows));
    total += net.evalLoss(rows) * rows;
  }
  return total / n;
}

/** {@link splitLoss} of several named splits, e.g. `{ train, val }`. */
export function splitLosses(
  model: LanguageModel,
  splits: Readonly<Record<string, Contexts>>,
  options: SplitLossOptions = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, data] of Object.entries(splits)) out[name] = splitLoss(model, data, options);
  return out;
}

/**
 * Next-token probabilities of a model for one context, in eval mode: softmax of
 * the logits, as a Float32Array of vocabSize entries.
 */
export function nextTokenProbs(model: LanguageModel, context: readonly number[]): Float32Array {
  if (context.length !== model.blockSize) {
    throw new RangeError(`the model reads ${model.blockSize} tokens of context, got ${context.length}`);
  }
  const probs = tf.tidy(() => {
    const X = tf.tensor2d([...context], [1, model.blockSize], "int32") as tfjs.Tensor2D;
    return tf.softmax(model.forward(X, false));
  });
  const out = probs.dataSync() as Float32Array;
  probs.dispose();
  return out;
}

/** A {@link NextTokenModel} backed by a trained model, for `sampleWord` / `sampleWords`. */
export function modelSampler(model: LanguageModel): NextTokenModel {
  return (context) => nextTokenProbs(model, context);
}

/** The seed of the lectures' sampling generator (`manual_seed(2147483647 + 10)`). */
export const SAMPLE_SEED = 2147483647 + 10;

/**
 * Samples `n` words from a trained model with a fresh generator seeded with
 * `seed`: the same model and seed give the same words.
 */
export function sampleFromModel(model: LanguageModel, vocab: Vocab, n: number, seed = SAMPLE_SEED): string[] {
  return sampleWords(modelSampler(model), vocab, n, { blockSize: model.blockSize, generator: new Generator(seed) });
}

/**
 * Throws a clear error when the contexts were built with another block size
 * than the model reads.
 */
export function checkBlockSize(model: { blockSize: number }, data: Pick<Contexts, "blockSize">): void {
  if (model.blockSize !== data.blockSize) {
    throw new RangeError(`the model reads ${model.blockSize} tokens of context but the data has ${data.blockSize}`);
  }
}

/**
 * Calls `fn` on consecutive chunks of at most `chunkSize` contexts, each as an
 * int32 tensor [rows, blockSize] that is disposed after the call.
 */
export function forEachChunk(
  data: Contexts,
  chunkSize: number,
  fn: (X: tfjs.Tensor2D, Y: tfjs.Tensor1D, rows: number) => void,
): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const { X, Y, n, blockSize } = data;
  for (let start = 0; start < n; start += chunkSize) {
    const rows = Math.min(chunkSize, n - start);
    const xb = tf.tensor2d(X.slice(start * blockSize, (start + rows) * blockSize), [rows, blockSize], "int32");
    const yb = tf.tensor1d(Y.slice(start, start + rows), "int32");
    try {
      fn(xb, yb, rows);
    } finally {
      xb.dispose();
      yb.dispose();
    }
  }
}
