import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { bigramCounts, bigramNll, bigramPairs, countsToProbs } from "../lib/models/counts";
import { buildContexts } from "../lib/data/contexts";
import { sampleFromModel, splitLoss } from "../lib/training/evaluate";
import { countParameters } from "../lib/models/model";
import { NeuralBigram, oneHotInputs, oneHotLogits, weightsToProbs } from "../lib/models/nn-bigram";
import { Generator } from "../lib/random/generator";
import { sampleWords, tableModel } from "../lib/models/sample";
import { tf } from "../lib/runtime/tf";
import { train } from "../lib/training/train";
import { describeEachBackend } from "./support/backends";
import { ALL_NAMES, gradientCheck, randomBatch, VOCAB } from "./support/training";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

describeEachBackend("NeuralBigram", () => {
  test("has one 27x27 weight matrix drawn from the seeded generator", () => {
    const model = new NeuralBigram({ vocabSize: 27, seed: 7 });
    expect(model.W.shape).toEqual([27, 27]);
    expect(countParameters(model)).toBe(729);
    expect(model.blockSize).toBe(1);
    const expected = new Generator(7).randnArray(27 * 27);
    expect(values(model.W)).toEqual(Array.from(expected));
    const before = tf.memory().numTensors;
    model.dispose();
    new NeuralBigram({ vocabSize: 27 }).dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  test("row lookup gives the same logits as the one-hot product", () => {
    const model = new NeuralBigram({ vocabSize: 27 });
    const xs = [0, 5, 13, 1, 26];
    const X = tf.tensor2d(xs, [5, 1], "int32") as tfjs.Tensor2D;
    const byLookup = model.forward(X, true);
    const byProduct = oneHotLogits(model.W, xs);
    expect(byLookup.shape).toEqual([5, 27]);
    const a = values(byLookup);
    values(byProduct).forEach((v, i) => expect(a[i]).toBeCloseTo(v, 5));
    const oneHot = oneHotInputs([2, 0], 4);
    expect(oneHot.dtype).toBe("float32");
    expect(oneHot.arraySync()).toEqual([
      [0, 0, 1, 0],
      [1, 0, 0, 0],
    ]);
    tf.dispose([X, byLookup, byProduct, oneHot]);
    model.dispose();
  });

  test("a zero W is the uniform model: loss ln 27 and uniform probabilities", () => {
    const model = new NeuralBigram({ vocabSize: 27, zeroInit: true });
    const data = buildContexts(ALL_NAMES.slice(0, 200), VOCAB, 1);
    expect(splitLoss(model, data)).toBeCloseTo(Math.log(27), 4);
    expect(Math.log(27)).toBeCloseTo(3.2958, 4);
    const probs = weightsToProbs(model.W);
    expect(probs).toHaveLength(27);
    probs.forEach((row) => row.forEach((p) => expect(p).toBeCloseTo(1 / 27, 6)));
    const reg = model.regularization();
    expect(reg.dataSync()[0]).toBe(0);
    reg.dispose();
    model.dispose();
  });

  test("regularization is lambda * mean(W^2)", () => {
    const model = new NeuralBigram({ vocabSize: 5, lambda: 0.5, seed: 3 });
    const w = values(model.W);
    const expected = (0.5 * w.reduce((a, v) => a + v * v, 0)) / w.length;
    const reg = model.regularization();
    expect(reg.dataSync()[0]).toBeCloseTo(expected, 5);
    reg.dispose();
    model.dispose();
  });

  test("its gradient matches central finite differences", () => {
    const model = new NeuralBigram({ vocabSize: 6, seed: 11, lambda: 0.1 });
    const [X, Y] = randomBatch(5, 12, 1, 6);
    const [err] = gradientCheck(model, X, Y, 1e-2);
    expect(err).toBeLessThan(2e-2);
    tf.dispose([X, Y]);
    model.dispose();
  });

  test("softmax rows of W sample like a table model with the same seed", () => {
    const model = new NeuralBigram({ vocabSize: 27, seed: 5 });
    const fromModel = sampleFromModel(model, VOCAB, 5, 99);
    const fromTable = sampleWords(tableModel(weightsToProbs(model.W)), VOCAB, 5, {
      blockSize: 1,
      generator: new Generator(99),
    });
    expect(fromModel).toEqual(fromTable);
    model.dispose();
  });
});

describe("NeuralBigram training", () => {
  // the cpu backend takes about a second per full-batch step here; wasm a few milliseconds
  beforeAll(async () => {
    await initBackend("wasm");
  });

  test("full-batch gradient descent gets close to the count model's NLL", async () => {
    const words = ALL_NAMES.slice(0, 2000);
    const data = buildContexts(words, VOCAB, 1);
    expect(data.n).toBe(bigramPairs(words, VOCAB).xs.length);
    const countNll = bigramNll(countsToProbs(bigramCounts(words, VOCAB), 1), words, VOCAB).nll;
    const model = new NeuralBigram({ vocabSize: 27 });
    const result = await train(model, data, { steps: 300, lr: 50, batchSize: "full", progress: false });
    const nll = splitLoss(model, data);
    // the L2 term pulls W towards uniform like count smoothing does, so the two land close
    expect(Math.abs(nll - countNll)).toBeLessThan(0.03);
    expect(result.losses[0]).toBeGreaterThan(3);
    model.dispose();
  });
});
