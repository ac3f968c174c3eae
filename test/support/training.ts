/**
 * Shared fixtures of the training tests: a small slice of the names dataset,
 * seeded random batches, and a finite-difference gradient check.
 */
import * as path from "path";
import type * as tfjs from "@tensorflow/tfjs";
import { readLines } from "../../lib/data/lines";
import { buildSplitContexts, splitWords, type Contexts, type Split } from "../../lib/data/contexts";
import type { LanguageModel } from "../../lib/models/model";
import { Generator } from "../../lib/random/generator";
import { tf } from "../../lib/runtime/tf";
import { batchLoss } from "../../lib/models/model";
import { Vocab } from "../../lib/data/vocab";

/** Every name of data/names.txt. */
export const ALL_NAMES: string[] = readLines(path.resolve(__dirname, "..", "..", "data", "names.txt"));

/** The 27-token vocabulary of the full dataset. */
export const VOCAB: Vocab = Vocab.fromWords(ALL_NAMES);

/** The first `n` names, split 80/10/10 with seed 42, as contexts of `blockSize`. */
export function smallSplit(n: number, blockSize: number): Split<Contexts> {
  return buildSplitContexts(splitWords(ALL_NAMES.slice(0, n), 42), VOCAB, blockSize);
}

/** A seeded batch of random contexts [batch, blockSize] and targets [batch]. */
export function randomBatch(
  seed: number,
  batch: number,
  blockSize: number,
  vocab: number,
): [tfjs.Tensor2D, tfjs.Tensor1D] {
  const g = new Generator(seed);
  return [
    tf.tensor2d(g.randintArray(batch * blockSize, 0, vocab), [batch, blockSize], "int32"),
    tf.tensor1d(g.randintArray(batch, 0, vocab), "int32"),
  ];
}

/** Values of every parameter, copied out. */
export function paramValues(model: LanguageModel): Float32Array[] {
  return model.parameters().map((p) => Float32Array.from(p.dataSync() as Float32Array));
}

/**
 * Relative error ||analytic - numeric|| / (||analytic|| + ||numeric||) of each
 * parameter's gradient of the training loss on one batch, the numeric one by
 * central differences with step `eps`.
 */
export function gradientCheck(model: LanguageModel, X: tfjs.Tensor2D, Y: tfjs.Tensor1D, eps = 1e-2): number[] {
  const params = model.parameters();
  const analytic = tf.tidy(() => {
    const { grads } = tf.engine().gradients(() => batchLoss(model, X, Y, true), params);
    return grads.map((g) => Array.from(g.dataSync()));
  });
  const loss = (): number => tf.tidy(() => batchLoss(model, X, Y, true).dataSync()[0] as number);
  return params.map((p, k) => {
    const base = Float32Array.from(p.dataSync() as Float32Array);
    const numeric: number[] = [];
    const probe = Float32Array.from(base);
    const set = (v: Float32Array): void => tf.tidy(() => p.assign(tf.tensor(v, p.shape)));
    for (let i = 0; i < base.length; i++) {
      probe[i] = (base[i] as number) + eps;
      set(probe);
      const up = loss();
      probe[i] = (base[i] as number) - eps;
      set(probe);
      const down = loss();
      probe[i] = base[i] as number;
      numeric.push((up - down) / (2 * eps));
    }
    set(base);
    const a = analytic[k] as number[];
    let diff = 0;
    let na = 0;
    let nn = 0;
    a.forEach((v, i) => {
      const w = numeric[i] as number;
      diff += (v - w) ** 2;
      na += v * v;
      nn += w * w;
    });
    return Math.sqrt(diff) / Math.max(1e-12, Math.sqrt(na) + Math.sqrt(nn));
  });
}
