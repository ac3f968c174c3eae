import { linspace, lrFinder, movingAverage, suggestLr, type LrFinderPoint } from "../lib/training/lr-finder";
import { INIT_PRESETS, MLP } from "../lib/models/mlp";
import { tf } from "../lib/runtime/tf";
import { describeEachBackend } from "./support/backends";
import { smallSplit } from "./support/training";

const split = smallSplit(400, 3);

describe("lr-finder helpers", () => {
  test("linspace includes both ends, like torch.linspace", () => {
    expect(linspace(-3, 0, 4)).toEqual([-3, -2, -1, 0]);
    expect(linspace(2, 2, 1)).toEqual([2]);
    expect(() => linspace(0, 1, 0)).toThrow("linspace needs n >= 1");
  });

  test("movingAverage is centred and counts non-finite values as +Infinity", () => {
    expect(movingAverage([1, 2, 3, 4, 5], 3)).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(movingAverage([1, NaN, 3], 3)[0]).toBe(Infinity);
  });

  test("suggestLr picks the bottom of the smoothed valley, not a lucky point on the blow-up", () => {
    const exps = linspace(-3, 0, 101);
    // a valley at -1 with a lucky low point at -0.2, on the rising side
    const points: LrFinderPoint[] = exps.map((e) => ({ exponent: e, lr: 10 ** e, loss: 2 + (e + 1) ** 2 }));
    (points[93] as LrFinderPoint).loss = 1.5;
    (points[100] as LrFinderPoint).loss = NaN;
    const s = suggestLr(points, 9);
    expect(Math.abs(s.exponent + 1)).toBeLessThanOrEqual(0.03);
    expect(s.lr).toBeCloseTo(0.1, 1);
    expect(s.smoothedLoss).toBeGreaterThan(2);
    expect(() => suggestLr([])).toThrow("empty sweep");
  });
});

describeEachBackend("lrFinder", () => {
  test("one step per learning rate over 10^linspace(-3, 0, N)", () => {
    const model = new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, init: INIT_PRESETS.kaiming });
    const points = lrFinder(model, split.train, { steps: 300, seed: 3 });
    expect(points).toHaveLength(300);
    expect(points[0]?.exponent).toBe(-3);
    expect(points[299]?.exponent).toBe(0);
    points.forEach((p) => expect(p.lr).toBeCloseTo(10 ** p.exponent, 12));
    points.forEach((p) => expect(Number.isFinite(p.loss)).toBe(true));
    // the model trained along the sweep: the loss fell from ln 27
    const early = points.slice(0, 20).reduce((a, p) => a + p.loss, 0) / 20;
    const late = points.slice(200, 260).reduce((a, p) => a + p.loss, 0) / 60;
    expect(late).toBeLessThan(early - 0.3);
    const s = suggestLr(points);
    expect(s.exponent).toBeGreaterThan(-2);
    model.dispose();
  });

  test("with a factory it trains a fresh model, disposes it, and is deterministic", () => {
    const factory = (): MLP => new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed: 2 });
    const before = tf.memory().numTensors;
    const a = lrFinder(factory, split.train, { steps: 40, lrExpMin: -2, lrExpMax: -1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.map((p) => p.exponent)).toEqual(linspace(-2, -1, 40));
    expect(lrFinder(factory, split.train, { steps: 40, lrExpMin: -2, lrExpMax: -1 })).toEqual(a);
  });
});

describe("lrFinder engines", () => {
  test("the fused sweep matches the tfjs one, leaves the model where the sweep took it, and can be refused", () => {
    const make = (): MLP => new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed: 5, init: INIT_PRESETS.kaiming });
    const run = (engine: "fused" | "tfjs"): { points: LrFinderPoint[]; params: Float32Array[] } => {
      const model = make();
      const points = lrFinder(model, split.train, { steps: 120, lrExpMin: -2, lrExpMax: -0.5, engine });
      const params = model.parameters().map((p) => Float32Array.from(p.dataSync() as Float32Array));
      model.dispose();
      return { points, params };
    };
    const fused = run("fused");
    const ref = run("tfjs");
    fused.points.forEach((p, i) => {
      const q = ref.points[i] as LrFinderPoint;
      expect(p.exponent).toBe(q.exponent);
      expect(Math.abs(p.loss - q.loss) / q.loss).toBeLessThan(1e-3);
    });
    // the model was trained by the sweep, and the same way on both engines
    const initial = make();
    const start = Float32Array.from(initial.W1.dataSync() as Float32Array);
    initial.dispose();
    expect(fused.params[1]).not.toEqual(start);
    fused.params.forEach((v, i) => {
      const r = ref.params[i] as Float32Array;
      v.forEach((x, j) => expect(Math.abs(x - (r[j] as number))).toBeLessThan(1e-3));
    });
    const recording = make();
    recording.recordActivations = true;
    expect(() => lrFinder(recording, split.train, { steps: 5, engine: "fused" })).toThrow(
      /^cannot run the sweep fused: the model cannot be fused while it records its activations$/,
    );
    recording.dispose();
  });
});
