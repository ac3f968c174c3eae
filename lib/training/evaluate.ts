/**
 * Evaluating and sampling trained models: the mean loss over a whole split
 * (in chunks, so memory stays bounded, on the engine that serves the model),
 * and a bridge from any {@link Model} to the seeded sampler of
 * lib/models/sample.ts.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { checkBlockSize, checkTokenIds, exampleKindOf, type Examples } from "../data/examples";
import type { Vocab } from "../data/vocab";
import type { EngineChoice } from "../engines/engine";
import { evaluateLoss } from "../engines/factory";
import { exampleKind, isSequenceModel, modelState, type Model } from "../models/model";
import { sampleWords, type NextTokenModel } from "../models/sample";
import { Generator } from "../random/generator";
import { SAMPLE_SEED } from "../random/seeds";
import { tf } from "../runtime/tf";

/** Options of {@link splitLoss}. */
export interface SplitLossOptions {
  /** examples per forward pass (default 8192; 2048 on the fused engine): bounds the memory used */
  chunkSize?: number;
  /** what runs the forward passes: "auto" (default; fused when the model has a fused form), "fused" or "tfjs" */
  engine?: EngineChoice;
  /** threads the fused kernels split their calls over (default 1; the same bits whatever the count) */
  threads?: number;
}

/**
 * Mean cross-entropy of the model over every example of a split (every
 * target that is not padding, for sequences), in eval mode (batch norm uses
 * its running statistics). No regularization term is added.
 *
 * @throws RangeError when the split is empty or does not fit the model.
 */
export function splitLoss(model: Model, data: Examples, options: SplitLossOptions = {}): number {
  checkBlockSize(model, data);
  if (exampleKind(model) !== exampleKindOf(data)) {
    throw new RangeError(
      `the model reads ${exampleKind(model)} examples but the split holds ${exampleKindOf(data)} examples`,
    );
  }
  if (data.n === 0) throw new RangeError("cannot evaluate the loss of an empty split");
  checkTokenIds(model, data);
  return evaluateLoss(model, data, options.engine ?? "auto", options.chunkSize, options.threads);
}

/** {@link splitLoss} of several named splits, e.g. `{ train, val }`. */
export function splitLosses(
  model: Model,
  splits: Readonly<Record<string, Examples>>,
  options: SplitLossOptions = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, data] of Object.entries(splits)) out[name] = splitLoss(model, data, options);
  return out;
}

/**
 * Next-token probabilities of a model in eval mode, as a Float32Array of
 * vocabSize entries. A context model reads exactly `blockSize` tokens; a
 * sequence model reads the line so far (starting with the start token 0, at
 * most `blockSize` tokens) and predicts after its last position.
 */
export function nextTokenProbs(model: Model, context: readonly number[]): Float32Array {
  if (!isSequenceModel(model) && context.length !== model.blockSize) {
    throw new RangeError(`the model reads ${model.blockSize} tokens of context, got ${context.length}`);
  }
  if (context.length < 1 || context.length > model.blockSize) {
    throw new RangeError(`the model reads 1 to ${model.blockSize} tokens, got ${context.length}`);
  }
  const probs = tf.tidy(() => {
    const X = tf.tensor2d([...context], [1, context.length], "int32") as tfjs.Tensor2D;
    const logits = isSequenceModel(model)
      ? model.forward(X, false).slice([0, context.length - 1, 0], [1, 1, model.vocabSize])
      : model.forward(X, false);
    return tf.softmax(logits.reshape([1, model.vocabSize]) as tfjs.Tensor2D);
  });
  const out = probs.dataSync() as Float32Array;
  probs.dispose();
  return out;
}

/**
 * A {@link NextTokenModel} backed by a trained model, for `sampleWord` /
 * `sampleWords`. The sampler slides a window of `blockSize` tokens that
 * starts as all start tokens; a sequence model sees the line as makemore.py
 * feeds it: one start token, then the characters (the last `blockSize`
 * tokens once the line is longer).
 */
export function modelSampler(model: Model): NextTokenModel {
  if (!isSequenceModel(model)) return (context) => nextTokenProbs(model, context);
  return (window) => {
    const lead = window.findIndex((t) => t !== 0);
    const line = lead < 0 ? [0] : lead === 0 ? window : window.slice(lead - 1);
    return nextTokenProbs(model, line);
  };
}

/**
 * Samples `n` words from a trained model with a fresh generator seeded with
 * `seed`: the same model and seed give the same words. A sequence model
 * writes at most `blockSize - 1` characters, the longest line it was built for.
 */
export function sampleFromModel(model: Model, vocab: Vocab, n: number, seed = SAMPLE_SEED): string[] {
  if (modelState(model).some((v) => v.isDisposed)) throw new Error("cannot sample: the model has been disposed");
  return sampleWords(modelSampler(model), vocab, n, {
    blockSize: model.blockSize,
    generator: new Generator(seed),
    ...(isSequenceModel(model) ? { maxLength: model.blockSize - 1 } : {}),
  });
}
