/**
 * Figures of lecture 3's network-health diagnostics: overlaid per-layer
 * histograms (activations, their gradients, weight gradients), the
 * update:data ratio over training, the tanh saturation map and the
 * histogram of any values. Each builder is a pure function of the
 * statistics in {@link "stats"} and returns a {@link Figure}.
 *
 * @module
 */
import { BASE_CONFIG, baseLayout, type Figure, type Trace } from "./figure";
import {
  binCenters,
  formatLayerStat,
  formatWeightGradStat,
  histogramDensity,
  histogramOf,
  type Histogram,
  type HistogramOptions,
  type LayerStat,
  type UpdateRatioSeries,
  type WeightGradStat,
} from "../nn/stats";

/** One line of an overlaid histogram figure. */
export interface HistogramLine {
  /** legend entry */
  name: string;
  /** the histogram */
  histogram: Histogram;
}

/** Options of {@link histogramLinesFigure}. */
export interface HistogramLinesOptions {
  /** figure title */
  title: string;
  /** x-axis title */
  xTitle?: string;
  /** plot densities (area 1, like `torch.histogram(density=True)`; default) or raw counts */
  density?: boolean;
  /** figure height in pixels (default 380 + 20 per line) */
  height?: number;
}

/**
 * Histograms drawn as lines over the bin centers, one per entry, overlaid
 * (the lecture's `plt.plot(hx[:-1], hy)` loop).
 */
export function histogramLinesFigure(lines: readonly HistogramLine[], options: HistogramLinesOptions): Figure {
  const density = options.density ?? true;
  return {
    data: lines.map((l): Trace => ({
      type: "scatter",
      mode: "lines",
      name: l.name,
      x: binCenters(l.histogram),
      y: density ? histogramDensity(l.histogram) : [...l.histogram.counts],
    })),
    layout: baseLayout(options.title, {
      // the legend sits under the plot, one entry a line, so long entries leave the plot its width
      height: options.height ?? 380 + 20 * lines.length,
      xaxis: { title: { text: options.xTitle ?? "value" } },
      yaxis: { title: { text: density ? "density" : "count" }, rangemode: "tozero" },
      legend: {
        font: { family: "monospace", size: 11 },
        orientation: "v",
        x: 0,
        xanchor: "left",
        y: -0.18,
        yanchor: "top",
      },
      margin: { l: 60, r: 20, t: 50, b: 60 + 20 * lines.length },
      showlegend: true,
    }),
    config: { ...BASE_CONFIG },
  };
}

/** Overlaid histograms of layer outputs, legends like `layer 2 (Tanh): mean +0.00, std 0.64, saturated 2.40%`. */
export function activationHistogramFigure(stats: readonly LayerStat[], title = "activation distribution"): Figure {
  return histogramLinesFigure(
    stats.map((s) => ({ name: formatLayerStat(s), histogram: s.histogram })),
    { title, xTitle: "layer output" },
  );
}

/** Overlaid histograms of the gradients of layer outputs, legends with mean and std. */
export function gradientHistogramFigure(stats: readonly LayerStat[], title = "gradient distribution"): Figure {
  return histogramLinesFigure(
    stats.map((s) => ({ name: formatLayerStat({ ...s, what: "gradient" }), histogram: s.histogram })),
    { title, xTitle: "dL/d(layer output)" },
  );
}

/** Overlaid histograms of pre-activations (the inputs of each tanh). */
export function preActivationHistogramFigure(
  stats: readonly LayerStat[],
  title = "pre-activation distribution",
): Figure {
  return histogramLinesFigure(
    stats.map((s) => ({ name: formatLayerStat({ ...s, what: "preactivation" }), histogram: s.histogram })),
    { title, xTitle: "pre-activation" },
  );
}

/** Overlaid histograms of weight gradients, legends with shape, mean, std and grad:data ratio. */
export function weightGradHistogramFigure(
  stats: readonly WeightGradStat[],
  title = "weights gradient distribution",
): Figure {
  return histogramLinesFigure(
    stats.map((s) => ({ name: formatWeightGradStat(s), histogram: s.histogram })),
    { title, xTitle: "dL/dW" },
  );
}

/** Options of {@link updateRatioFigure}. */
export interface UpdateRatioFigureOptions {
  /** figure title (default "update:data ratio") */
  title?: string;
  /** height of the dashed guide line (default -3) */
  guide?: number;
  /** figure height in pixels (default 380) */
  height?: number;
}

/**
 * log10 of update:data ratio against the step, one line per followed
 * parameter, with a dashed black guide line at -3 (updates about 1/1000
 * of the values: the lecture's rule of thumb).
 * @throws RangeError when a series has a different length from `steps`.
 */
export function updateRatioFigure(
  steps: readonly number[],
  series: readonly Pick<UpdateRatioSeries, "label" | "values">[],
  options: UpdateRatioFigureOptions = {},
): Figure {
  for (const s of series) {
    if (s.values.length !== steps.length) {
      throw new RangeError(`series '${s.label}' has ${s.values.length} values for ${steps.length} steps`);
    }
  }
  const guide = options.guide ?? -3;
  return {
    data: series.map((s): Trace => ({
      type: "scatter",
      mode: "lines",
      name: s.label,
      x: [...steps],
      y: [...s.values],
      line: { width: 1 },
    })),
    layout: baseLayout(options.title ?? "update:data ratio", {
      height: options.height ?? 380,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "log10(std(lr·grad) / std(data))" } },
      shapes: [
        {
          type: "line",
          xref: "paper",
          x0: 0,
          x1: 1,
          yref: "y",
          y0: guide,
          y1: guide,
          line: { color: "black", width: 2, dash: "dash" },
        },
      ],
      showlegend: true,
    }),
    config: { ...BASE_CONFIG },
  };
}

/**
 * The saturation map as a black-and-white image: white where |h| > 0.99
 * (1 in the map), black elsewhere; rows are examples, columns are units
 * (the lecture's `plt.imshow(h.abs() > 0.99, cmap='gray')`).
 */
export function saturationMapFigure(
  map: readonly (readonly number[])[],
  title = "|h| > 0.99 (white: saturated)",
): Figure {
  const rows = map.length;
  const cols = map[0]?.length ?? 0;
  // square cells, as large as fit in about 900 x 600 pixels (between 2 and 16 px)
  const cell = Math.max(2, Math.min(16, Math.floor(900 / Math.max(cols, 1)), Math.floor(600 / Math.max(rows, 1))));
  const width = cols * cell + 130;
  const height = rows * cell + 120;
  return {
    data: [
      {
        type: "heatmap",
        z: map.map((r) => [...r]),
        zmin: 0,
        zmax: 1,
        colorscale: [
          [0, "black"],
          [1, "white"],
        ],
        showscale: false,
        hovertemplate: "example %{y}, unit %{x}: %{z}<extra></extra>",
      },
    ],
    layout: baseLayout(title, {
      width,
      height,
      xaxis: { title: { text: "unit" }, showgrid: false, zeroline: false },
      yaxis: { title: { text: "example" }, autorange: "reversed", showgrid: false, zeroline: false },
    }),
    config: { ...BASE_CONFIG },
  };
}

/** Options of {@link valuesHistogramFigure}. */
export interface ValuesHistogramOptions extends HistogramOptions {
  /** figure title (default "histogram") */
  title?: string;
  /** x-axis title (default "value") */
  xTitle?: string;
  /** figure height in pixels (default 320) */
  height?: number;
}

/**
 * A bar histogram of any values (pre-activations `hpreact`, tanh outputs `h`,
 * a weight matrix...), like `plt.hist(t.view(-1).tolist(), 50)`. Give the
 * values (binned here; default 50 bins) or a {@link Histogram}.
 */
export function valuesHistogramFigure(
  values: ArrayLike<number> | Histogram,
  options: ValuesHistogramOptions = {},
): Figure {
  const h = isHistogram(values) ? values : histogramOf(values, { bins: options.bins ?? 50, range: options.range });
  const widths = h.counts.map((_, i) => (h.edges[i + 1] as number) - (h.edges[i] as number));
  return {
    data: [
      {
        type: "bar",
        x: binCenters(h),
        y: [...h.counts],
        width: widths,
        marker: { color: "#3a78b5", line: { color: "#1f4e79", width: 0.5 } },
        hovertemplate: "%{x:.3f}: %{y}<extra></extra>",
      },
    ],
    layout: baseLayout(options.title ?? "histogram", {
      height: options.height ?? 320,
      bargap: 0,
      xaxis: { title: { text: options.xTitle ?? "value" } },
      yaxis: { title: { text: "count" }, rangemode: "tozero" },
    }),
    config: { ...BASE_CONFIG },
  };
}

function isHistogram(v: ArrayLike<number> | Histogram): v is Histogram {
  return typeof v === "object" && v !== null && "edges" in v && "counts" in v;
}
