import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import {
  BatchNorm1d,
  calculateGain,
  Embedding,
  Flatten,
  initKaiming,
  kaimingStd,
  Linear,
  scaleVariable,
  Sequential,
  Tanh,
} from "../lib/nn/layers";
import { batchNormTrain, linear } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import { tf } from "../lib/runtime/tf";
import { describeEachBackend } from "./support/backends";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

function expectClose(actual: readonly number[], expected: readonly number[], tol = 1e-5): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    if (Math.abs(a - e) > tol * Math.max(1, Math.abs(e))) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (tolerance ${tol})`);
    }
  });
}

/** A 4x3 batch whose statistics are easy to follow by hand. */
const X4 = [
  [1, 2, -1],
  [3, 2, 0],
  [5, 2, 1],
  [7, 2, 4],
];

/** Column means, biased and unbiased variances of X4, computed in plain JS. */
function columnStats(rows: number[][]): { mean: number[]; biased: number[]; unbiased: number[] } {
  const n = rows.length;
  const d = (rows[0] as number[]).length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((a, r) => a + (r[j] as number), 0) / n);
  const ss = Array.from({ length: d }, (_, j) =>
    rows.reduce((a, r) => a + ((r[j] as number) - (mean[j] as number)) ** 2, 0),
  );
  return { mean, biased: ss.map((s) => s / n), unbiased: ss.map((s) => s / (n - 1)) };
}

describe("initialization helpers", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  test("kaimingStd is gain / sqrt(fanIn); calculateGain follows torch", () => {
    expect(kaimingStd(5 / 3, 30)).toBeCloseTo(5 / 3 / Math.sqrt(30), 12);
    expect(kaimingStd(1, 100)).toBeCloseTo(0.1, 12);
    expect(() => kaimingStd(1, 0)).toThrow(RangeError);
    expect(calculateGain("tanh")).toBeCloseTo(5 / 3, 12);
    expect(calculateGain("relu")).toBeCloseTo(Math.SQRT2, 12);
    expect(calculateGain("linear")).toBe(1);
  });

  test("Kaiming init: Linear(1000, 1000) with gain 5/3 has weight std within 2% of (5/3)/sqrt(1000)", () => {
    const layer = new Linear(1000, 1000, { gain: 5 / 3, seed: 1 });
    const w = layer.weight.dataSync();
    let sum = 0;
    for (const v of w) sum += v;
    const mean = sum / w.length;
    let ss = 0;
    for (const v of w) ss += (v - mean) ** 2;
    const std = Math.sqrt(ss / (w.length - 1));
    const target = 5 / 3 / Math.sqrt(1000);
    expect(Math.abs(std - target) / target).toBeLessThan(0.02);
    expect(Math.abs(mean)).toBeLessThan(0.01 * target);
    layer.dispose();
    const k = initKaiming([400, 50], new Generator(3), 2);
    const kStd = tf.tidy(() => Math.sqrt(tf.moments(k).variance.dataSync()[0] as number));
    expect(Math.abs(kStd - 2 / 20) / 0.1).toBeLessThan(0.05);
    k.dispose();
  });
});

describeEachBackend("layers", () => {
  test("Linear computes x @ W + b; bias: false leaves the bias out; init number and 'randn' set the std", () => {
    const layer = new Linear(3, 2, { seed: 7 });
    layer.bias?.assign(tf.tensor1d([0.5, -1]));
    const x = tf.tensor2d([
      [1, 2, 3],
      [-1, 0, 2],
    ]);
    const W = layer.weight.arraySync();
    const y = layer.forward(x);
    const expected = [
      [0, 1],
      [0, 1],
    ].map((_, i) =>
      [0, 1].map(
        (j) =>
          [0, 1, 2].reduce((a, k) => a + (x.arraySync()[i]?.[k] as number) * (W[k]?.[j] as number), 0) + [0.5, -1][j]!,
      ),
    );
    expectClose(values(y), expected.flat(), 1e-5);
    expect(layer.parameters()).toHaveLength(2);
    const noBias = new Linear(3, 2, { bias: false });
    expect(noBias.parameters()).toHaveLength(1);
    expect(noBias.bias).toBeNull();
    // rank-3 input: applied along the last axis
    const y3 = layer.forward(tf.reshape(x, [1, 2, 3]));
    expect(y3.shape).toEqual([1, 2, 2]);
    expectClose(values(y3), values(y));
    const scaled = new Linear(10, 10, { init: 0.01, seed: 1 });
    expect(Math.max(...values(scaled.weight).map(Math.abs))).toBeLessThan(0.06);
    const same = new Linear(3, 2, { seed: 7 });
    expectClose(values(same.weight), W.flat(), 0);
    for (const t of [x, y, y3]) t.dispose();
    for (const l of [layer, noBias, scaled, same]) l.dispose();
  });

  test("BatchNorm1d training forward: (x - mean) / sqrt(biased var + eps) * gamma + beta", () => {
    const bn = new BatchNorm1d(3);
    bn.gamma.assign(tf.tensor1d([1, 2, 0.5]));
    bn.beta.assign(tf.tensor1d([0, 1, -1]));
    const x = tf.tensor2d(X4);
    const y = bn.forward(x);
    const { mean, biased } = columnStats(X4);
    const gamma = [1, 2, 0.5];
    const beta = [0, 1, -1];
    const expected = X4.map((r) =>
      r.map(
        (v, j) =>
          ((v - (mean[j] as number)) / Math.sqrt((biased[j] as number) + 1e-5)) * (gamma[j] as number) +
          (beta[j] as number),
      ),
    );
    expectClose(values(y), expected.flat(), 1e-5);
    // column 1 is constant: normalized to exactly beta
    expect((y.arraySync() as number[][]).map((r) => r[1])).toEqual([1, 1, 1, 1]);
    x.dispose();
    y.dispose();
    bn.dispose();
  });

  test("running statistics move with momentum 0.1 (unbiased batch variance); eval mode normalizes with them", () => {
    const bn = new BatchNorm1d(3);
    const x = tf.tensor2d(X4);
    bn.forward(x).dispose();
    const { mean, unbiased } = columnStats(X4);
    const rm = mean.map((m) => 0.9 * 0 + 0.1 * m);
    const rv = unbiased.map((v) => 0.9 * 1 + 0.1 * v);
    expectClose(values(bn.runningMean), rm, 1e-6);
    expectClose(values(bn.runningVar), rv, 1e-6);
    // a second step compounds: running = 0.9 * running + 0.1 * batch
    bn.forward(x).dispose();
    expectClose(
      values(bn.runningMean),
      rm.map((r, j) => 0.9 * r + 0.1 * (mean[j] as number)),
      1e-6,
    );
    expectClose(
      values(bn.runningVar),
      rv.map((r, j) => 0.9 * r + 0.1 * (unbiased[j] as number)),
      1e-6,
    );
    // eval mode: running statistics, no update
    bn.training = false;
    const before = values(bn.runningMean);
    const y = bn.forward(x);
    const rm2 = values(bn.runningMean);
    const rv2 = values(bn.runningVar);
    expect(rm2).toEqual(before);
    const expected = X4.map((r) => r.map((v, j) => (v - (rm2[j] as number)) / Math.sqrt((rv2[j] as number) + 1e-5)));
    expectClose(values(y), expected.flat(), 1e-5);
    // a single example can be evaluated
    const one = bn.forward(tf.tensor2d([X4[0] as number[]]));
    expectClose(values(one), expected[0] as number[], 1e-5);
    // updateRunningStats = false freezes them in training mode
    bn.training = true;
    bn.updateRunningStats = false;
    bn.forward(x).dispose();
    expect(values(bn.runningMean)).toEqual(rm2);
    for (const t of [x, y, one]) t.dispose();
    bn.dispose();
  });

  test("BatchNorm1d options: momentum, eps and the lecture's unbiased normalization", () => {
    const bn = new BatchNorm1d(3, { momentum: 0.5, eps: 0.1, unbiasedNormalization: true });
    const x = tf.tensor2d(X4);
    const y = bn.forward(x);
    const { mean, unbiased } = columnStats(X4);
    const expected = X4.map((r) =>
      r.map((v, j) => (v - (mean[j] as number)) / Math.sqrt((unbiased[j] as number) + 0.1)),
    );
    expectClose(values(y), expected.flat(), 1e-5);
    expectClose(
      values(bn.runningMean),
      mean.map((m) => 0.5 * m),
      1e-6,
    );
    expect(() => bn.forward(tf.tensor2d([[1, 2, 3]]))).toThrow(/at least 2 rows/);
    x.dispose();
    y.dispose();
    bn.dispose();
  });

  test("BatchNorm1d on [B, T, C] normalizes over B and T", () => {
    const bn = new BatchNorm1d(3);
    const x3 = tf.tensor3d([X4.slice(0, 2), X4.slice(2, 4)]);
    const x2 = tf.tensor2d(X4);
    const bn2 = new BatchNorm1d(3);
    const y3 = bn.forward(x3);
    const y2 = bn2.forward(x2);
    expect(y3.shape).toEqual([2, 2, 3]);
    expectClose(values(y3), values(y2), 1e-6);
    expectClose(values(bn.runningVar), values(bn2.runningVar), 1e-6);
    for (const t of [x3, x2, y3, y2]) t.dispose();
    bn.dispose();
    bn2.dispose();
  });

  test("the fused batch-norm backward equals autodiff of the op-by-op formula", () => {
    const g = new Generator(5);
    const x = tf.tensor2d(g.randnArray(6 * 4), [6, 4]);
    const gamma = tf.tensor1d(g.randnArray(4));
    const beta = tf.tensor1d(g.randnArray(4));
    const w = tf.tensor2d(g.randnArray(6 * 4), [6, 4]); // weights of a scalar loss
    for (const unbiased of [false, true]) {
      const d = unbiased ? 5 : 6;
      const reference = (a: tfjs.Tensor, gm: tfjs.Tensor, bt: tfjs.Tensor): tfjs.Scalar => {
        const mean = tf.mean(a, 0);
        const c = tf.sub(a, mean);
        const v = tf.div(tf.sum(tf.square(c), 0), d);
        const y = tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(v, 1e-5))), gm), bt);
        return tf.sum(tf.mul(tf.tanh(y), w));
      };
      const fused = (a: tfjs.Tensor, gm: tfjs.Tensor, bt: tfjs.Tensor): tfjs.Scalar =>
        tf.sum(
          tf.mul(
            tf.tanh(
              batchNormTrain(a as tfjs.Tensor2D, gm as tfjs.Tensor1D, bt as tfjs.Tensor1D, {
                unbiasedNormalization: unbiased,
              }),
            ),
            w,
          ),
        );
      const expected = tf.grads(reference)([x, gamma, beta]);
      const actual = tf.grads(fused)([x, gamma, beta]);
      expected.forEach((e, i) => expectClose(values(actual[i] as tfjs.Tensor), values(e), 1e-4));
      expect(Math.abs(values(fused(x, gamma, beta))[0]! - values(reference(x, gamma, beta))[0]!)).toBeLessThan(1e-4);
      tf.dispose([...expected, ...actual]);
    }
    tf.dispose([x, gamma, beta, w]);
  });

  test("the linear op's backward equals autodiff of matMul + add, with and without bias", () => {
    const g = new Generator(6);
    const x = tf.tensor2d(g.randnArray(5 * 4), [5, 4]);
    const W = tf.tensor2d(g.randnArray(4 * 3), [4, 3]);
    const b = tf.tensor1d(g.randnArray(3));
    const w = tf.tensor2d(g.randnArray(5 * 3), [5, 3]);
    const loss = (y: tfjs.Tensor): tfjs.Scalar => tf.sum(tf.mul(tf.square(y), w));
    const expected = tf.grads((a: tfjs.Tensor, m: tfjs.Tensor, c: tfjs.Tensor) =>
      loss(tf.add(tf.matMul(a as tfjs.Tensor2D, m as tfjs.Tensor2D), c)),
    )([x, W, b]);
    const actual = tf.grads((a: tfjs.Tensor, m: tfjs.Tensor, c: tfjs.Tensor) =>
      loss(linear(a as tfjs.Tensor2D, m as tfjs.Tensor2D, c as tfjs.Tensor1D)),
    )([x, W, b]);
    expected.forEach((e, i) => expectClose(values(actual[i] as tfjs.Tensor), values(e), 1e-5));
    const noBias = tf.grads((a: tfjs.Tensor, m: tfjs.Tensor) => loss(linear(a as tfjs.Tensor2D, m as tfjs.Tensor2D)))([
      x,
      W,
    ]);
    const noBiasRef = tf.grads((a: tfjs.Tensor, m: tfjs.Tensor) =>
      loss(tf.matMul(a as tfjs.Tensor2D, m as tfjs.Tensor2D)),
    )([x, W]);
    noBiasRef.forEach((e, i) => expectClose(values(noBias[i] as tfjs.Tensor), values(e), 1e-5));
    tf.dispose([x, W, b, w, ...expected, ...actual, ...noBias, ...noBiasRef]);
  });

  test("Tanh, Embedding and Flatten; Sequential chains them and lists parameters in order", () => {
    const emb = new Embedding(5, 2, { seed: 3 });
    const flat = new Flatten();
    const lin = new Linear(6, 4, { bias: false, seed: 4 });
    const bn = new BatchNorm1d(4);
    const net = new Sequential([emb, flat, lin, bn, new Tanh()]);
    expect(net.parameters()).toEqual([emb.weight, lin.weight, bn.gamma, bn.beta]);
    const X = tf.tensor2d(
      [
        [0, 1, 2],
        [4, 4, 0],
      ],
      [2, 3],
      "int32",
    );
    const e = emb.forward(X);
    expect(e.shape).toEqual([2, 3, 2]);
    const table = emb.weight.arraySync();
    expectClose(
      values(e),
      [0, 1, 2, 4, 4, 0].flatMap((ix) => table[ix] as number[]),
      0,
    );
    const f = flat.forward(e);
    expect(f.shape).toEqual([2, 6]);
    const y = net.forward(X);
    expect(y.shape).toEqual([2, 4]);
    // two examples through batch norm: the rows are opposite, and |xhat| <= 1
    const [r0, r1] = y.arraySync() as [number[], number[]];
    expectClose(
      r0,
      r1.map((v) => -v),
      1e-6,
    );
    r0.forEach((v) => expect(Math.abs(v)).toBeLessThanOrEqual(Math.tanh(1) + 1e-6));
    net.eval();
    expect(net.layers.every((l) => !l.training)).toBe(true);
    net.train();
    expect(bn.training).toBe(true);
    tf.dispose([X, e, f, y]);
    net.dispose();
    expect(emb.weight.isDisposed).toBe(true);
  });

  test("layer.out is kept only when asked, replaced without leaks, freed by clearOutput", () => {
    const lin = new Linear(3, 5, { seed: 1 });
    const tanh = new Tanh();
    const net = new Sequential([lin, tanh]);
    const x = tf.tensor2d([
      [1, 2, 3],
      [3, 2, 1],
    ]);
    tf.tidy(() => net.forward(x));
    expect(tanh.out).toBeNull();
    const base = tf.memory().numTensors;
    net.keepOutputs(true);
    const y = tf.tidy(() => net.forward(x)); // out survives the tidy
    expect(lin.out?.shape).toEqual([2, 5]);
    expectClose(values(tanh.out as tfjs.Tensor), values(y), 0);
    const afterOne = tf.memory().numTensors;
    expect(afterOne).toBe(base + 3); // y and two kept outputs
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        net.forward(x);
      });
    }
    expect(tf.memory().numTensors).toBe(afterOne);
    y.dispose();
    net.keepOutputs(false);
    expect(lin.out).toBeNull();
    expect(tf.memory().numTensors).toBe(base);
    x.dispose();
    net.dispose();
  });

  test("scaleVariable multiplies in place, like `w *= 5/3` under no_grad", () => {
    const lin = new Linear(4, 3, { seed: 2 });
    const before = values(lin.weight);
    const n = tf.memory().numTensors;
    scaleVariable(lin.weight, 5 / 3);
    expect(tf.memory().numTensors).toBe(n);
    expectClose(
      values(lin.weight),
      before.map((v) => (v * 5) / 3),
      1e-6,
    );
    lin.dispose();
  });
});
