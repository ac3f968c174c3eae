import type * as tfjs from "@tensorflow/tfjs";
import { splitLoss } from "../lib/training/evaluate";
import { INIT_PRESETS, lectureMlp, MLP, TANH_GAIN } from "../lib/models/mlp";
import { countParameters } from "../lib/models/model";
import { oneHotFloat } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import { tf } from "../lib/runtime/tf";
import { batchLoss } from "../lib/models/model";
import { describeEachBackend } from "./support/backends";
import { gradientCheck, randomBatch, smallSplit } from "./support/training";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

function std(xs: readonly number[]): number {
  const m = xs.reduce((a, v) => a + v, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, v) => a + (v - m) ** 2, 0) / xs.length);
}

describeEachBackend("MLP", () => {
  test("the lecture model has 11,897 parameters in the lecture's shapes", () => {
    const model = lectureMlp();
    expect(countParameters(model)).toBe(11897);
    expect(model.parameters().map((p) => p.shape)).toEqual([[27, 10], [30, 200], [200], [200, 27], [27]]);
    const [X, Y] = randomBatch(1, 32, 3, 27);
    const logits = model.forward(X, true);
    expect(logits.shape).toEqual([32, 27]);
    tf.dispose([X, Y, logits]);
    model.dispose();
  });

  test("batch norm drops b1 and adds gain and bias (12,097 parameters) and two buffers", () => {
    const model = lectureMlp(27, { batchNorm: true });
    expect(countParameters(model)).toBe(12097);
    expect(model.b1).toBeNull();
    expect(values(model.bnGain as tfjs.Tensor)).toEqual(new Array(200).fill(1));
    expect(values(model.bnBias as tfjs.Tensor)).toEqual(new Array(200).fill(0));
    expect(model.buffers().map((b) => b.trainable)).toEqual([false, false]);
    model.dispose();
  });

  test("parameters are drawn from the seeded generator in the order C, W1, b1, W2, b2", () => {
    const model = new MLP({ vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4, seed: 9, init: { w2: 0.5 } });
    const g = new Generator(9);
    const C = Array.from(g.randnArray(15));
    const W1 = Array.from(g.randnArray(24));
    g.randnArray(4); // b1
    const W2 = Array.from(g.randnArray(20), (v) => Math.fround(v * 0.5));
    expect(values(model.C)).toEqual(Array.from(Float32Array.from(C)));
    expect(values(model.W1)).toEqual(Array.from(Float32Array.from(W1)));
    expect(values(model.W2)).toEqual(W2);
    // with batch norm, C, W1 and W2 are the same draws
    const bn = new MLP({
      vocabSize: 5,
      blockSize: 2,
      nEmbd: 3,
      nHidden: 4,
      seed: 9,
      init: { w2: 0.5 },
      batchNorm: true,
    });
    expect(values(bn.W2)).toEqual(W2);
    model.dispose();
    bn.dispose();
  });

  test("init scales: kaiming W1 has std (5/3)/sqrt(30); the fixed init starts near ln 27", () => {
    const kaiming = lectureMlp(27, { init: INIT_PRESETS.kaiming });
    expect(std(values(kaiming.W1))).toBeCloseTo(TANH_GAIN / Math.sqrt(30), 2);
    expect(values(kaiming.b2)).toEqual(new Array(27).fill(0));
    const original = lectureMlp();
    const split = smallSplit(300, 3);
    expect(splitLoss(kaiming, split.val)).toBeLessThan(3.5);
    expect(splitLoss(kaiming, split.val)).toBeGreaterThan(3.2);
    expect(splitLoss(original, split.val)).toBeGreaterThan(10);
    kaiming.dispose();
    original.dispose();
  });

  test("its gradient matches central finite differences", () => {
    const model = new MLP({ vocabSize: 7, blockSize: 2, nEmbd: 3, nHidden: 6, seed: 3, init: { w1: 0.5, w2: 0.5 } });
    const [X, Y] = randomBatch(2, 10, 2, 7);
    const errors = gradientCheck(model, X, Y, 1e-2);
    expect(errors).toHaveLength(5);
    errors.forEach((e) => expect(e).toBeLessThan(2e-2));
    tf.dispose([X, Y]);
    model.dispose();
  });

  test("with batch norm, its gradient matches central finite differences", () => {
    const model = new MLP({ vocabSize: 7, blockSize: 2, nEmbd: 3, nHidden: 6, seed: 4, batchNorm: true });
    // a gain and shift away from 1 and 0 so their gradients are exercised
    tf.tidy(() => {
      model.bnGain?.assign(tf.tensor1d([0.5, 1.5, 1, 0.8, 1.2, 2]));
      model.bnBias?.assign(tf.tensor1d([0.1, -0.2, 0.3, 0, 0.5, -0.4]));
    });
    const [X, Y] = randomBatch(3, 10, 2, 7);
    const errors = gradientCheck(model, X, Y, 1e-2);
    expect(errors).toHaveLength(6);
    errors.forEach((e) => expect(e).toBeLessThan(2e-2));
    tf.dispose([X, Y]);
    model.dispose();
  });

  test("the custom backward pass agrees with autodiff through the same forward ops", () => {
    for (const batchNorm of [false, true]) {
      const model = new MLP({ vocabSize: 7, blockSize: 3, nEmbd: 4, nHidden: 8, seed: 5, batchNorm });
      const [X, Y] = randomBatch(4, 16, 3, 7);
      const custom = tf.tidy(() =>
        tf
          .engine()
          .gradients(() => batchLoss(model, X, Y, true), model.parameters())
          .grads.map(values),
      );
      const auto = tf.tidy(() => {
        const f = (): tfjs.Scalar => {
          const { h } = model.activations(X, true);
          const logits = tf.add(tf.matMul(h, model.W2), model.b2) as tfjs.Tensor2D;
          return tf.losses.softmaxCrossEntropy(oneHotFloat(Y, 7), logits) as tfjs.Scalar;
        };
        return tf.variableGrads(f, model.parameters()).grads;
      });
      model.parameters().forEach((p, i) => {
        const g = auto[p.name];
        if (!g) throw new Error(`no autodiff gradient for parameter ${i}`);
        const a = values(g);
        (custom[i] as number[]).forEach((v, k) => expect(v).toBeCloseTo(a[k] as number, 5));
      });
      tf.dispose(Object.values(auto));
      tf.dispose([X, Y]);
      model.dispose();
    }
  });

  test("batch norm moves the running stats by momentum 0.001 in training and uses them in eval", () => {
    const model = new MLP({ vocabSize: 7, blockSize: 2, nEmbd: 3, nHidden: 5, seed: 6, batchNorm: true });
    const [X] = randomBatch(5, 12, 2, 7);
    const pre = tf.tidy(() => {
      const emb = tf.gather(model.C, X).reshape([12, 6]);
      return tf.matMul(emb, model.W1);
    });
    const rows = pre.arraySync() as number[][];
    const mean = [0, 1, 2, 3, 4].map((j) => rows.reduce((a, r) => a + (r[j] as number), 0) / 12);
    const sd = [0, 1, 2, 3, 4].map((j) =>
      Math.sqrt(rows.reduce((a, r) => a + ((r[j] as number) - (mean[j] as number)) ** 2, 0) / 11 + 1e-5),
    );
    const logits = model.forward(X, true);
    values(model.bnMeanRunning as tfjs.Tensor).forEach((v, j) => expect(v).toBeCloseTo(0.001 * (mean[j] as number), 6));
    values(model.bnStdRunning as tfjs.Tensor).forEach((v, j) =>
      expect(v).toBeCloseTo(0.999 + 0.001 * (sd[j] as number), 6),
    );
    // eval mode reads the running stats and leaves them alone
    const before = values(model.bnMeanRunning as tfjs.Tensor);
    const evalAct = model.activations(X, false);
    const expected = rows.map((r) =>
      r.map((v, j) => Math.tanh((v - (before[j] as number)) / values(model.bnStdRunning as tfjs.Tensor)[j]!)),
    );
    const got = evalAct.h.arraySync() as number[][];
    got.forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 5)));
    expect(values(model.bnMeanRunning as tfjs.Tensor)).toEqual(before);
    tf.dispose([X, pre, logits, evalAct.h, evalAct.hPreact]);
    model.dispose();
  });

  test("calibrateBatchNorm sets the exact mean and std of a split", () => {
    const split = smallSplit(200, 3);
    const model = new MLP({ vocabSize: 27, nHidden: 8, seed: 1, batchNorm: true });
    model.calibrateBatchNorm(split.train, 100);
    const pre = tf.tidy(() => {
      const X = tf.tensor2d(split.train.X, [split.train.n, 3], "int32");
      return tf.matMul(tf.gather(model.C, X).reshape([split.train.n, 30]), model.W1);
    });
    const { mean, variance } = tf.moments(pre, 0);
    const n = split.train.n;
    const expectedStd = values(variance).map((v) => Math.sqrt((v * n) / (n - 1) + 1e-5));
    values(model.bnMeanRunning as tfjs.Tensor).forEach((v, j) => expect(v).toBeCloseTo(values(mean)[j]!, 4));
    values(model.bnStdRunning as tfjs.Tensor).forEach((v, j) => expect(v).toBeCloseTo(expectedStd[j]!, 4));
    tf.dispose([pre, mean, variance]);
    model.dispose();
  });

  test("recordActivations keeps the hidden tensors of the last forward without leaking", () => {
    const model = lectureMlp(27, { init: INIT_PRESETS.tanhFix });
    const [X] = randomBatch(6, 32, 3, 27);
    expect(model.lastActivations()).toBeNull();
    model.recordActivations = true;
    tf.dispose(model.forward(X, true));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose(model.forward(X, true));
    expect(tf.memory().numTensors).toBe(before);
    const act = model.lastActivations();
    expect(act?.h.shape).toEqual([32, 200]);
    expect(act?.hPreact.shape).toEqual([32, 200]);
    values(act!.h).forEach((v, i) => expect(v).toBeCloseTo(Math.tanh(values(act!.hPreact)[i]!), 5));
    const start = tf.memory().numTensors;
    model.dispose();
    X.dispose();
    expect(tf.memory().numTensors).toBe(start - 5 - 2 - 1);
  });

  test("building and disposing a model leaves no tensor behind", () => {
    const before = tf.memory().numTensors;
    lectureMlp().dispose();
    lectureMlp(27, { batchNorm: true }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test("rejects contexts of another block size", () => {
    const model = new MLP({ vocabSize: 27, nHidden: 4 });
    const split = smallSplit(50, 2);
    expect(() => splitLoss(model, split.val)).toThrow("the model reads 3 tokens of context but the data has 2");
    model.dispose();
  });
});
