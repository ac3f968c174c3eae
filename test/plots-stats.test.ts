import {
  activationHistogramFigure,
  gradientHistogramFigure,
  histogramLinesFigure,
  preActivationHistogramFigure,
  saturationMapFigure,
  updateRatioFigure,
  valuesHistogramFigure,
  weightGradHistogramFigure,
} from "../lib/plots/stats";
import { histogramOf, type LayerStat, type WeightGradStat } from "../lib/nn/stats";

const hist = histogramOf([-1, -0.5, 0, 0.5, 1, 1], { bins: 4 });
const summary = { count: 6, mean: 0, std: 0.64, min: -1, max: 1, saturated: 0.024 };
const stat = (index: number, what: LayerStat["what"]): LayerStat => ({
  index,
  kind: "Tanh",
  what,
  summary,
  histogram: hist,
});

describe("statistics figures", () => {
  test("overlaid histograms: one line per layer at the bin centers, legend from the lecture's printout", () => {
    const fig = activationHistogramFigure([stat(2, "activation"), stat(5, "activation")]);
    expect(fig.data).toHaveLength(2);
    expect(fig.data[0]).toMatchObject({
      type: "scatter",
      mode: "lines",
      name: "layer 2 (Tanh): mean +0.00, std 0.64, saturated 2.40%",
    });
    expect(fig.data[0]?.x).toEqual([-0.75, -0.25, 0.25, 0.75]);
    // densities: counts / (total * width)
    expect(fig.data[0]?.y).toEqual([1, 1, 1, 3].map((c) => c / (6 * 0.5)));
    expect((fig.layout.title as { text: string }).text).toBe("activation distribution");
    const counts = histogramLinesFigure([{ name: "a", histogram: hist }], { title: "t", density: false });
    expect(counts.data[0]?.y).toEqual([1, 1, 1, 3]);
  });

  test("gradient, pre-activation and weight-gradient histograms carry their own legends", () => {
    expect(gradientHistogramFigure([stat(2, "gradient")]).data[0]?.name).toBe(
      "layer 2 (Tanh): mean +0.000000, std 6.40e-1",
    );
    expect(preActivationHistogramFigure([{ ...stat(1, "preactivation"), kind: "BatchNorm1d" }]).data[0]?.name).toBe(
      "layer 1 (BatchNorm1d): mean +0.00, std 0.64",
    );
    const w: WeightGradStat = {
      index: 1,
      shape: [30, 100],
      summary: { ...summary, std: 0.002 },
      gradDataRatio: 0.001,
      histogram: hist,
    };
    const fig = weightGradHistogramFigure([w]);
    expect(fig.data[0]?.name).toBe("weight (30, 100) | mean +0.000000 | std 2.00e-3 | grad:data ratio 1.00e-3");
  });

  test("update ratios: one line per weight and a dashed guide at -3", () => {
    const fig = updateRatioFigure(
      [0, 1, 2],
      [
        { label: "param 1 (30, 100)", values: [-2.5, -2.9, -3.1] },
        { label: "param 2 (100, 100)", values: [-3, -3, -3] },
      ],
    );
    expect(fig.data.map((t) => t.name)).toEqual(["param 1 (30, 100)", "param 2 (100, 100)"]);
    expect(fig.data[0]?.y).toEqual([-2.5, -2.9, -3.1]);
    const [guide] = fig.layout.shapes as { y0: number; y1: number; line: { dash: string } }[];
    expect(guide).toMatchObject({ y0: -3, y1: -3, line: { dash: "dash" } });
    expect(() => updateRatioFigure([0, 1], [{ label: "x", values: [1] }])).toThrow(RangeError);
    expect((updateRatioFigure([0], [], { guide: -2 }).layout.shapes as { y0: number }[])[0]?.y0).toBe(-2);
  });

  test("saturation map: a black/white heatmap, white for 1", () => {
    const fig = saturationMapFigure([
      [1, 0],
      [0, 1],
    ]);
    const [trace] = fig.data;
    expect(trace).toMatchObject({ type: "heatmap", zmin: 0, zmax: 1, showscale: false });
    expect(trace?.colorscale).toEqual([
      [0, "black"],
      [1, "white"],
    ]);
    expect(trace?.z).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  test("values histogram: bars over the bins from raw values or a histogram", () => {
    const fig = valuesHistogramFigure([0, 0.1, 0.2, 1], { bins: 2, title: "hpreact" });
    expect(fig.data[0]).toMatchObject({ type: "bar", x: [0.25, 0.75], y: [3, 1] });
    expect((fig.layout.title as { text: string }).text).toBe("hpreact");
    expect(valuesHistogramFigure(hist).data[0]?.y).toEqual([1, 1, 1, 3]);
  });
});
