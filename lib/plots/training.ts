/**
 * Figures of the training notebooks: loss curves, the learning-rate sweep,
 * 2-D character embeddings, and the neural bigram's weights next to the
 * counts. Each builder is a pure function that returns a {@link Figure}.
 *
 * @module
 */
import type { Matrix } from "../models/counts";
import { BASE_CONFIG, baseLayout, type Figure, type Trace } from "./figure";
import type { LrFinderPoint, LrSuggestion } from "../training/lr-finder";
import { printable } from "./bigram";
import type { EvalRecord } from "../training/train";
import type { Vocab } from "../data/vocab";

/** A value Plotly can draw: non-finite numbers become gaps (null). */
export function plotValue(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/**
 * Means of consecutive windows of `window` values (the lecture's
 * `torch.tensor(lossi).view(-1, 1000).mean(1)`); a shorter last window is
 * averaged too. Non-finite values are skipped.
 */
export function windowMeans(values: readonly number[], window: number): number[] {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a positive integer, got ${window}`);
  const out: number[] = [];
  for (let s = 0; s < values.length; s += window) {
    let sum = 0;
    let count = 0;
    for (let k = s; k < Math.min(values.length, s + window); k++) {
      const v = values[k] as number;
      if (Number.isFinite(v)) {
        sum += v;
        count++;
      }
    }
    out.push(count > 0 ? sum / count : NaN);
  }
  return out;
}

/** The window actually used: `window`, or n/20 when the run has fewer than two full windows. */
export function effectiveWindow(n: number, window: number): number {
  return n >= 2 * window ? window : Math.max(1, Math.floor(n / 20));
}

/** Options of {@link lossCurve} and {@link lossCurves}. */
export interface LossCurveOptions {
  /** steps per averaged point (default 1000, as in the lecture) */
  window?: number;
  /** figure title */
  title?: string;
  /** plot log10 of the loss (default true) */
  log10?: boolean;
  /** at most this many raw points are drawn (every k-th step; default 20,000) */
  maxRawPoints?: number;
}

function toPlotted(losses: readonly number[], log10: boolean): number[] {
  return log10 ? losses.map((v) => Math.log10(v)) : [...losses];
}

function smoothedTrace(values: readonly number[], window: number, name: string, color?: string): Trace {
  const means = windowMeans(values, window);
  return {
    type: "scatter",
    mode: "lines",
    name,
    x: means.map((_, i) => Math.min(values.length - 1, i * window + (window - 1) / 2)),
    y: means.map(plotValue),
    line: color ? { color, width: 2 } : { width: 2 },
  };
}

/**
 * One run's loss per step (log10 by default), faint, with the mean of each
 * window of `window` steps drawn over it.
 *
 * @param losses - the raw step losses (`TrainResult.losses`).
 */
export function lossCurve(losses: readonly number[], options: LossCurveOptions = {}): Figure {
  const { title = "Training loss", log10 = true, maxRawPoints = 20000 } = options;
  const values = toPlotted(losses, log10);
  const window = effectiveWindow(values.length, options.window ?? 1000);
  const stride = Math.max(1, Math.ceil(values.length / maxRawPoints));
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  for (let i = 0; i < values.length; i += stride) {
    xs.push(i);
    ys.push(plotValue(values[i] as number));
  }
  return {
    data: [
      {
        type: "scatter",
        mode: "lines",
        name: "step loss",
        x: xs,
        y: ys,
        line: { color: "rgba(58,120,181,0.3)", width: 1 },
      },
      smoothedTrace(values, window, `mean of ${window} steps`, "#d62728"),
    ],
    layout: baseLayout(title, {
      height: 380,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: log10 ? "log10(loss)" : "loss" } },
    }),
    config: { ...BASE_CONFIG },
  };
}

/** A named run for {@link lossCurves}. */
export interface NamedLosses {
  /** legend entry */
  name: string;
  /** raw step losses */
  losses: readonly number[];
}

/** Several runs on one plot, each as window means of its (log10) step loss. */
export function lossCurves(runs: readonly NamedLosses[], options: LossCurveOptions = {}): Figure {
  const { title = "Training loss", log10 = true } = options;
  const longest = Math.max(0, ...runs.map((r) => r.losses.length));
  const window = effectiveWindow(longest, options.window ?? 1000);
  return {
    data: runs.map((r) => smoothedTrace(toPlotted(r.losses, log10), window, r.name)),
    layout: baseLayout(title, {
      height: 400,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: log10 ? `log10(loss), mean of ${window} steps` : `loss, mean of ${window} steps` } },
    }),
    config: { ...BASE_CONFIG },
  };
}

/** Loss of each evaluated split (train, val, ...) against the step. */
export function evalCurve(evals: readonly EvalRecord[], title = "Loss of each split"): Figure {
  const names = [...new Set(evals.flatMap((e) => Object.keys(e.losses)))];
  return {
    data: names.map((name) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      x: evals.map((e) => e.step),
      y: evals.map((e) => plotValue(e.losses[name] ?? NaN)),
    })),
    layout: baseLayout(title, {
      height: 360,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "loss" } },
    }),
    config: { ...BASE_CONFIG },
  };
}

/**
 * The learning-rate sweep: minibatch loss against log10(lr), with the
 * suggested rate marked when given.
 */
export function lrFinderPlot(points: readonly LrFinderPoint[], suggestion?: LrSuggestion): Figure {
  const data: Trace[] = [
    {
      type: "scatter",
      mode: "lines",
      name: "loss",
      x: points.map((p) => p.exponent),
      y: points.map((p) => plotValue(p.loss)),
      line: { color: "#3a78b5", width: 1 },
    },
  ];
  if (suggestion) {
    data.push({
      type: "scatter",
      mode: "markers+text",
      name: "suggested",
      x: [suggestion.exponent],
      y: [plotValue(suggestion.smoothedLoss)],
      text: [`lr ≈ ${suggestion.lr.toPrecision(2)}`],
      textposition: "top center",
      marker: { color: "#d62728", size: 10 },
    });
  }
  return {
    data,
    layout: baseLayout("Learning-rate finder", {
      height: 380,
      xaxis: { title: { text: "log10(learning rate)" } },
      yaxis: { title: { text: "minibatch loss" } },
    }),
    config: { ...BASE_CONFIG },
  };
}

/**
 * Characters placed by two columns of their embedding (rows of C), each point
 * labelled with its character, as in the lecture's 2-D embedding plot.
 *
 * @param C - embedding rows, one per token (e.g. `model.C.arraySync()`).
 * @param dims - the two columns to plot (default 0 and 1).
 */
export function embeddingScatter(
  C: readonly (readonly number[])[],
  vocab: Vocab,
  dims: [number, number] = [0, 1],
  title = "Character embeddings",
): Figure {
  if (C.length !== vocab.size) throw new RangeError(`C has ${C.length} rows but the vocabulary has ${vocab.size}`);
  const [dx, dy] = dims;
  const labels = vocab.chars.map(printable);
  return {
    data: [
      {
        type: "scatter",
        mode: "markers+text",
        x: C.map((row) => row[dx] ?? NaN),
        y: C.map((row) => row[dy] ?? NaN),
        text: labels,
        textposition: "middle center",
        textfont: { color: "white", size: 12 },
        marker: { size: 24, color: "#3a78b5" },
        hovertemplate: "%{text}: (%{x:.3f}, %{y:.3f})<extra></extra>",
      },
    ],
    layout: baseLayout(title, {
      width: 560,
      height: 560,
      xaxis: { title: { text: `C[:, ${dx}]` }, zeroline: false },
      yaxis: { title: { text: `C[:, ${dy}]` }, zeroline: false, scaleanchor: "x" },
      showlegend: false,
    }),
    config: { ...BASE_CONFIG },
  };
}

/**
 * Two heatmaps side by side: the neural bigram's learned weights W (its
 * logits) and log(counts + 1) of the counting model. They look alike because
 * W learns the log-counts (up to a constant per row).
 */
export function bigramWeightsVsLogCounts(W: Matrix, counts: Matrix, vocab: Vocab): Figure {
  const labels = vocab.chars.map(printable);
  const logCounts = counts.map((row) => row.map((c) => Math.log(c + 1)));
  const heat = (z: Matrix, xaxis: string, yaxis: string, colorbarX: number): Trace => ({
    type: "heatmap",
    z,
    x: labels,
    y: labels,
    xaxis,
    yaxis,
    colorscale: "Blues",
    colorbar: { x: colorbarX, len: 0.8, thickness: 12 },
    hovertemplate: "%{y}→%{x}: %{z:.3f}<extra></extra>",
  });
  const axis = (domain: [number, number]) => ({ domain, type: "category", side: "top", tickfont: { size: 9 } });
  const yaxis = (anchor: string) => ({ autorange: "reversed", type: "category", anchor, tickfont: { size: 9 } });
  return {
    data: [heat(W, "x", "y", 0.44), heat(logCounts, "x2", "y2", 1.0)],
    layout: baseLayout("Learned W vs log(counts + 1)", {
      width: 1000,
      height: 520,
      xaxis: axis([0, 0.42]),
      xaxis2: axis([0.56, 0.98]),
      yaxis: yaxis("x"),
      yaxis2: yaxis("x2"),
      margin: { l: 40, r: 40, t: 110, b: 20 },
      annotations: [
        { text: "learned W (logits)", x: 0.21, y: 1.13, xref: "paper", yref: "paper", showarrow: false },
        { text: "log(counts + 1)", x: 0.77, y: 1.13, xref: "paper", yref: "paper", showarrow: false },
      ],
    }),
    config: { ...BASE_CONFIG },
  };
}

/** One stage of a fused step and its mean time (what {@link GraphNet.profile} returns). */
export interface StageTime {
  /** e.g. "forward linear", "loss", "backward attention" */
  stage: string;
  /** mean microseconds */
  us: number;
}

const STAGE_COLORS: Record<string, string> = {
  forward: "#3a78b5",
  loss: "#7f7f7f",
  backward: "#d62728",
  update: "#2ca02c",
};

/**
 * Where the time of one training step goes: a horizontal bar per stage, in
 * the order the stages run (top to bottom), coloured forward, loss, backward
 * and update, with the total in the title.
 */
export function stepProfileFigure(stages: readonly StageTime[], title = "Time of one fused training step"): Figure {
  const total = stages.reduce((a, s) => a + s.us, 0);
  const kind = (stage: string): string => stage.split(" ")[0] ?? stage;
  return {
    data: [
      {
        type: "bar",
        orientation: "h",
        y: stages.map((s) => s.stage),
        x: stages.map((s) => plotValue(s.us)),
        marker: { color: stages.map((s) => STAGE_COLORS[kind(s.stage)] ?? "#8c564b") },
        hovertemplate: "%{y}: %{x:.1f} µs<extra></extra>",
      },
    ],
    layout: baseLayout(`${title}: ${total.toFixed(0)} µs`, {
      height: Math.max(260, 40 + 22 * stages.length),
      margin: { l: 170, r: 20, t: 50, b: 50 },
      xaxis: { title: { text: "microseconds" } },
      yaxis: { autorange: "reversed", automargin: true },
      showlegend: false,
    }),
    config: { ...BASE_CONFIG },
  };
}
