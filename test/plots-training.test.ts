import type { Figure, Trace } from "../lib/plots/figure";
import {
  bigramWeightsVsLogCounts,
  effectiveWindow,
  embeddingScatter,
  evalCurve,
  lossCurve,
  lossCurves,
  lrFinderPlot,
  stepProfileFigure,
  windowMeans,
} from "../lib/plots/training";
import { Vocab } from "../lib/data/vocab";

const trace = (fig: Figure, i: number): Trace => fig.data[i] as Trace;

describe("plots-training", () => {
  test("windowMeans averages consecutive windows, the last one possibly shorter", () => {
    expect(windowMeans([1, 2, 3, 4, 5], 2)).toEqual([1.5, 3.5, 5]);
    expect(windowMeans([1, NaN, 3], 3)).toEqual([2]);
    expect(() => windowMeans([1], 0)).toThrow("window must be a positive integer");
    expect(effectiveWindow(200000, 1000)).toBe(1000);
    expect(effectiveWindow(1000, 1000)).toBe(50);
  });

  test("lossCurve: log10 step losses plus window means (the lecture's view(-1, 1000).mean(1))", () => {
    const losses = Array.from({ length: 4000 }, (_, i) => 10 ** (1 - i / 4000));
    const fig = lossCurve(losses, { window: 1000 });
    expect(fig.data).toHaveLength(2);
    const raw = trace(fig, 0);
    expect(raw.y as number[]).toHaveLength(4000);
    expect((raw.y as number[])[0]).toBeCloseTo(1, 10);
    const mean = trace(fig, 1);
    expect(mean.y as number[]).toHaveLength(4);
    expect((mean.y as number[])[0]).toBeCloseTo(1 - 499.5 / 4000, 10);
    expect(mean.x).toEqual([499.5, 1499.5, 2499.5, 3499.5]);
    expect((fig.layout.yaxis as { title: { text: string } }).title.text).toBe("log10(loss)");
    // long runs are thinned to at most maxRawPoints raw points
    const thin = lossCurve(new Array(200000).fill(2), { maxRawPoints: 20000 });
    expect(trace(thin, 0).x as number[]).toHaveLength(20000);
    expect(trace(thin, 1).y as number[]).toHaveLength(200);
  });

  test("lossCurves: one smoothed line per named run; non-finite values become gaps", () => {
    const fig = lossCurves(
      [
        { name: "a", losses: new Array(100).fill(10) },
        { name: "b", losses: [100, Infinity, ...new Array(98).fill(100)] },
      ],
      { window: 10 },
    );
    expect(fig.data.map((t) => t.name)).toEqual(["a", "b"]);
    expect(trace(fig, 0).y).toEqual(new Array(10).fill(1));
    expect((trace(fig, 1).y as number[])[0]).toBeCloseTo(2, 10);
  });

  test("lrFinderPlot plots loss against the exponent and marks the suggestion", () => {
    const points = [
      { exponent: -3, lr: 0.001, loss: 3 },
      { exponent: -1, lr: 0.1, loss: 2.5 },
      { exponent: 0, lr: 1, loss: NaN },
    ];
    const fig = lrFinderPlot(points, { ...points[1]!, smoothedLoss: 2.6 });
    expect(trace(fig, 0).x).toEqual([-3, -1, 0]);
    expect(trace(fig, 0).y).toEqual([3, 2.5, null]);
    expect(trace(fig, 1).x).toEqual([-1]);
    expect(trace(fig, 1).text).toEqual(["lr ≈ 0.10"]);
    expect(lrFinderPlot(points).data).toHaveLength(1);
  });

  test("embeddingScatter labels each point with its character", () => {
    const vocab = new Vocab([".", "a", "b"]);
    const fig = embeddingScatter(
      [
        [0, 1, 9],
        [2, 3, 9],
        [4, 5, 9],
      ],
      vocab,
    );
    expect(trace(fig, 0).x).toEqual([0, 2, 4]);
    expect(trace(fig, 0).y).toEqual([1, 3, 5]);
    expect(trace(fig, 0).text).toEqual([".", "a", "b"]);
    expect(
      trace(
        embeddingScatter(
          [
            [0, 1, 7],
            [0, 1, 8],
            [0, 1, 9],
          ],
          vocab,
          [0, 2],
        ),
        0,
      ).y,
    ).toEqual([7, 8, 9]);
    expect(() => embeddingScatter([[0, 1]], vocab)).toThrow("C has 1 rows but the vocabulary has 3");
  });

  test("bigramWeightsVsLogCounts shows W and log(counts + 1) side by side", () => {
    const vocab = new Vocab([".", "a"]);
    const W = [
      [0.5, -1],
      [2, 0],
    ];
    const counts = [
      [0, 3],
      [1, 0],
    ];
    const fig = bigramWeightsVsLogCounts(W, counts, vocab);
    expect(fig.data.map((t) => t.type)).toEqual(["heatmap", "heatmap"]);
    expect(trace(fig, 0).z).toEqual(W);
    expect(trace(fig, 1).z).toEqual([
      [0, Math.log(4)],
      [Math.log(2), 0],
    ]);
    expect([trace(fig, 0).xaxis, trace(fig, 1).xaxis]).toEqual(["x", "x2"]);
  });

  test("evalCurve draws one line per split", () => {
    const fig = evalCurve([
      { step: 100, losses: { train: 2.5, val: 2.6 } },
      { step: 200, losses: { train: 2.3, val: 2.4 } },
    ]);
    expect(fig.data.map((t) => t.name)).toEqual(["train", "val"]);
    expect(trace(fig, 1).y).toEqual([2.6, 2.4]);
    expect(trace(fig, 1).x).toEqual([100, 200]);
  });
});

describe("stepProfileFigure", () => {
  test("one bar per stage in running order, coloured by kind, the total in the title", () => {
    const stages = [
      { stage: "forward 0 embedding", us: 1.5 },
      { stage: "forward 1 linear", us: 10 },
      { stage: "loss", us: 3 },
      { stage: "backward 1 linear", us: 20.25 },
      { stage: "backward 0 embedding", us: 1 },
      { stage: "update", us: 2 },
    ];
    const fig = stepProfileFigure(stages, "One step");
    expect(fig.data).toHaveLength(1);
    const bar = fig.data[0] as Trace;
    expect(bar).toMatchObject({ type: "bar", orientation: "h" });
    expect(bar.y).toEqual(stages.map((s) => s.stage));
    expect(bar.x).toEqual([1.5, 10, 3, 20.25, 1, 2]);
    const colors = (bar.marker as { color: string[] }).color;
    expect(new Set(colors.slice(0, 2)).size).toBe(1);
    expect(colors[2]).not.toBe(colors[0]);
    expect(colors[3]).toBe(colors[4]);
    expect(colors[3]).not.toBe(colors[0]);
    expect(colors[5]).not.toBe(colors[3]);
    expect((fig.layout.title as { text: string }).text).toBe("One step: 38 µs");
    expect((fig.layout.yaxis as { autorange: string }).autorange).toBe("reversed");
  });
});
