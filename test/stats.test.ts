import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { DeepMLP } from "../lib/models/deep";
import type { LayerHook } from "../lib/nn/layers";
import { crossEntropy } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import {
  activationStats,
  binCenters,
  deadFraction,
  formatLayerStat,
  formatWeightGradStat,
  gradientProbe,
  gradientStats,
  histogramDensity,
  histogramOf,
  preActivationStats,
  saturationFraction,
  saturationMap,
  statsPass,
  summarize,
  UpdateRatioRecorder,
  updateRatios,
  weightGradStats,
} from "../lib/nn/stats";
import { tf } from "../lib/runtime/tf";
import { describeEachBackend } from "./support/backends";
import { randomBatch } from "./support/training";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

function jsStd(xs: ArrayLike<number>): number {
  const a = Array.from(xs);
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1));
}

describe("statistics of plain values", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  test("histogramOf bins values over [min, max] like torch.histogram; density has area 1", () => {
    const h = histogramOf([0, 0.1, 0.5, 0.9, 1, 1], { bins: 4 });
    expect(h.edges).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(h.counts).toEqual([2, 0, 1, 3]); // the last bin includes its right edge
    expect(h.total).toBe(6);
    expect(binCenters(h)).toEqual([0.125, 0.375, 0.625, 0.875]);
    const area = histogramDensity(h).reduce((a, d) => a + d * 0.25, 0);
    expect(area).toBeCloseTo(1, 12);
    const ranged = histogramOf([-5, 0.2, 0.3, 9, NaN], { bins: 2, range: [0, 1] });
    expect(ranged.counts).toEqual([2, 0]);
    expect(histogramOf([2, 2, 2], { bins: 2 }).counts).toEqual([0, 3]);
    expect(() => histogramOf([1], { bins: 0 })).toThrow(RangeError);
  });

  test("summarize: mean, unbiased std and saturation; saturationFraction counts exactly the values above 0.97", () => {
    const xs = [0.5, -0.98, 0.99, 0.97, -0.2, 1, 0, 0.1];
    const s = summarize(xs);
    expect(s.mean).toBeCloseTo(xs.reduce((a, v) => a + v, 0) / 8, 12);
    expect(s.std).toBeCloseTo(jsStd(xs), 12);
    expect(s.saturated).toBe(3 / 8); // -0.98, 0.99, 1 (0.97 itself is not above)
    expect(saturationFraction(xs)).toBe(3 / 8);
    expect(saturationFraction(xs, 0.5)).toBe(4 / 8);
    expect(summarize([3]).std).toBe(0);
  });

  test("saturationMap marks |h| > 0.99; deadFraction finds columns saturated in every row", () => {
    const h = [
      [0.995, -0.5, -0.999],
      [0.2, 0.985, -1],
    ];
    const map = saturationMap(h);
    expect(map).toEqual([
      [1, 0, 1],
      [0, 0, 1],
    ]);
    expect(deadFraction(map)).toBeCloseTo(1 / 3, 12);
    const t = tf.tensor2d(h);
    expect(saturationMap(t)).toEqual(map);
    expect(saturationMap({ out: t.dataSync(), shape: [2, 3] })).toEqual(map);
    expect(() => saturationMap({ out: [1, 2, 3], shape: [2, 2] })).toThrow(RangeError);
    expect(summarize(t).count).toBe(6);
    t.dispose();
  });

  test("formatting follows the lecture's printouts", () => {
    const h = histogramOf([0], { bins: 1 });
    const base = { index: 2, kind: "Tanh" as const, histogram: h };
    const summary = { count: 10, mean: -0.001, std: 0.6412, min: -1, max: 1, saturated: 0.024 };
    expect(formatLayerStat({ ...base, what: "activation", summary })).toBe(
      "layer 2 (Tanh): mean -0.00, std 0.64, saturated 2.40%",
    );
    expect(formatLayerStat({ ...base, what: "gradient", summary: { ...summary, mean: 1e-6, std: 0.00326 } })).toBe(
      "layer 2 (Tanh): mean +0.000001, std 3.26e-3",
    );
    expect(
      formatWeightGradStat({
        index: 1,
        shape: [30, 100],
        summary: { ...summary, mean: 0, std: 0.00192 },
        gradDataRatio: 0.00191,
        histogram: h,
      }),
    ).toBe("weight (30, 100) | mean +0.000000 | std 1.92e-3 | grad:data ratio 1.91e-3");
  });
});

describeEachBackend("statistics pass", () => {
  test("reads outputs, output gradients and parameter gradients, leaves no tensors and no state behind", () => {
    const net = new DeepMLP({ vocabSize: 27, nHidden: 20, nLayers: 3, seed: 4 });
    const [X, Y] = randomBatch(8, 32, 3, 27);
    const before = tf.memory().numTensors;
    const buffers = net.buffers().map(values);
    const params = net.parameters().map(values);
    const snap = statsPass(net, X, Y);
    expect(tf.memory().numTensors).toBe(before);
    expect(net.buffers().map(values)).toEqual(buffers);
    expect(net.parameters().map(values)).toEqual(params);
    expect(net.layers.every((l) => l.out === null)).toBe(true);

    // the loss and the parameter gradients are those of an ordinary backward pass
    const expected = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(X, true), Y), net.parameters());
      return {
        loss: value.dataSync()[0] as number,
        grads: net.parameters().map((p) => values(grads[p.name] as tfjs.Tensor)),
      };
    });
    expect(snap.loss).toBeCloseTo(expected.loss, 5);
    snap.params.forEach((p, i) => expect(Array.from(p.grad)).toEqual(expected.grads[i]));

    // the outputs are those of a forward pass
    expect(snap.layers).toHaveLength(net.layers.length);
    expect(snap.layers[2]?.kind).toBe("Tanh");
    expect(snap.layers[2]?.shape).toEqual([32, 20]);
    const logits = tf.tidy(() => values(net.forward(X, true)));
    Array.from(snap.layers[snap.layers.length - 1]?.out ?? []).forEach((v, i) =>
      expect(v).toBeCloseTo(logits[i] as number, 5),
    );

    // the output gradients equal tf.grads with respect to a zero added after each layer
    const zeros = snap.layers.map((r) => tf.zeros(r.shape));
    const offsets = tf.tidy(() => {
      const f = (...zs: tfjs.Tensor[]): tfjs.Scalar => {
        const hook: LayerHook = (out, _layer, i) => tf.add(out, zs[i] as tfjs.Tensor);
        return crossEntropy(net.forward(X, true, hook), Y);
      };
      return tf.grads(f)(zeros).map(values);
    });
    snap.layers.forEach((r, i) => {
      const other = offsets[i] as number[];
      const scale = Math.max(...other.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      Array.from(r.grad).forEach((g, j) =>
        expect(Math.abs(g - (other[j] as number))).toBeLessThanOrEqual(1e-5 * scale),
      );
    });
    tf.dispose([...zeros, X, Y]);
    net.dispose();
  });

  test("the probe is the identity forward and backward", () => {
    const x = tf.tensor1d([1, -2, 3]);
    const seen: number[][] = [];
    const g = tf.tidy(() =>
      values(tf.grad((a: tfjs.Tensor) => tf.sum(tf.square(gradientProbe(a, (dy) => seen.push(values(dy))))))(x)),
    );
    expect(g).toEqual([2, -4, 6]);
    expect(seen).toEqual([[2, -4, 6]]);
    x.dispose();
  });

  test("at initialization with batch norm the tanh layers have std about 0.63 and a few % saturation", () => {
    const net = new DeepMLP({ vocabSize: 27, seed: 1 });
    const [X, Y] = randomBatch(9, 256, 3, 27);
    const snap = statsPass(net, X, Y);
    const acts = activationStats(snap);
    expect(acts.map((s) => s.index)).toEqual([2, 5, 8, 11, 14]);
    for (const s of acts) {
      expect(s.summary.std).toBeGreaterThan(0.58);
      expect(s.summary.std).toBeLessThan(0.68);
      expect(s.summary.saturated).toBeGreaterThan(0.005);
      expect(s.summary.saturated).toBeLessThan(0.07);
      expect(Math.abs(s.summary.mean)).toBeLessThan(0.02);
      expect(s.histogram.total).toBe(256 * 100);
    }
    // pre-activations are the BatchNorm1d outputs: unit variance
    const pre = preActivationStats(snap);
    expect(pre.map((s) => [s.index, s.kind])).toEqual([1, 4, 7, 10, 13].map((i) => [i, "BatchNorm1d"]));
    for (const s of pre) expect(Math.abs(s.summary.std - 1)).toBeLessThan(0.01);
    // gradients of the tanh outputs are small and centered
    const grads = gradientStats(snap);
    expect(grads).toHaveLength(5);
    for (const s of grads) {
      expect(s.what).toBe("gradient");
      expect(s.summary.std).toBeGreaterThan(0);
      expect(s.summary.std).toBeLessThan(0.01);
    }
    // weight gradients: the embedding and six weight matrices
    const wg = weightGradStats(snap);
    expect(wg.map((s) => s.shape)).toEqual([
      [27, 10],
      [30, 100],
      [100, 100],
      [100, 100],
      [100, 100],
      [100, 100],
      [100, 27],
    ]);
    const w1 = snap.params[1];
    expect(wg[1]?.gradDataRatio).toBeCloseTo(jsStd(w1?.grad ?? []) / jsStd(w1?.data ?? []), 8);
    tf.dispose([X, Y]);
    net.dispose();
  });

  test("without batch norm, too small a gain shrinks the activations layer by layer; 5/3 keeps them", () => {
    const [X, Y] = randomBatch(10, 128, 3, 27);
    const stds = (weightGain: number): number[] => {
      const net = new DeepMLP({ vocabSize: 27, batchNorm: false, weightGain, seed: 2 });
      const out = activationStats(statsPass(net, X, Y)).map((s) => s.summary.std);
      net.dispose();
      return out;
    };
    const small = stds(0.5);
    const kaiming = stds(5 / 3);
    expect(small[4]).toBeLessThan(0.2 * (small[0] as number));
    expect(kaiming[4]).toBeGreaterThan(0.6 * (kaiming[0] as number));
    tf.dispose([X, Y]);
  });

  test("updateRatios and UpdateRatioRecorder compute log10(std(lr * grad) / std(data)) from any gradient shape", () => {
    const g = new Generator(12);
    const W = tf.variable(tf.tensor2d(g.randnArray(40 * 30), [40, 30]));
    const b = tf.variable(tf.tensor1d(g.randnArray(30)));
    const gW = tf.tensor2d(g.randnArray(40 * 30), [40, 30]).mul(0.01);
    const gb = tf.tensor1d(g.randnArray(30));
    const expectedW = Math.log10((0.1 * jsStd(gW.dataSync())) / jsStd(W.dataSync()));
    const expectedB = Math.log10((0.1 * jsStd(gb.dataSync())) / jsStd(b.dataSync()));
    const [rW, rB] = updateRatios([W, b], [gW, gb], 0.1);
    expect(rW).toBeCloseTo(expectedW, 4);
    expect(rB).toBeCloseTo(expectedB, 4);

    const before = tf.memory().numTensors;
    const rec = new UpdateRatioRecorder([W, b]); // default: rank-2 parameters only
    expect(rec.series.map((s) => s.label)).toEqual(["param 0 (40, 30)"]);
    rec.record(0, [gW, gb], 0.1);
    rec.record(
      1,
      new Map<tfjs.Variable, tfjs.Tensor>([
        [W, gW],
        [b, gb],
      ]),
      0.01,
    );
    rec.onGrads(2, { [W.name]: gW, [b.name]: gb }, 0.1);
    expect(rec.steps).toEqual([0, 1, 2]);
    const v = rec.series[0]?.values ?? [];
    expect(v[0]).toBeCloseTo(expectedW, 4);
    expect(v[1]).toBeCloseTo(expectedW - 1, 4);
    expect(v[2]).toBeCloseTo(expectedW, 4);
    expect(tf.memory().numTensors).toBe(before); // the gradients are left to their owner, nothing else remains

    const all = new UpdateRatioRecorder([W, b], { filter: () => true, every: 2 });
    expect(all.record(1, [gW, gb], 0.1)).toBeNull();
    const r = all.record(2, [gW, gb], 0.1) ?? [];
    expect(r[1]).toBeCloseTo(expectedB, 4);
    expect(() => all.record(4, [gW], 0.1)).toThrow(/no gradient for parameter 1/);
    tf.dispose([W, b, gW, gb]);
  });
});
