/**
 * Learning curves of several runs from their logs (log.csv, read with
 * `readRunLog`): the loss on the training split and on the held-out split
 * against the step, one color per run, so runs compare at a glance and the
 * figure can be drawn again at any time from the files on disk.
 *
 * @module
 */
import { BASE_CONFIG, baseLayout, type Figure, type Trace } from "./figure";
import { plotValue } from "./training";

/** What the figure reads of a log row (a `RunLogRow`). */
export interface CurvePoint {
  step: number;
  trainLoss: number;
  valLoss: number;
}

/** One run's curve: its name in the legend and its log rows. */
export interface RunCurve {
  name: string;
  rows: readonly CurvePoint[];
}

/** Options of {@link learningCurvesFigure}. */
export interface LearningCurvesOptions {
  title: string;
  /** what the held-out split is called (default "val"; makemore.py's models call it "test") */
  valName?: string;
  /** figure height in pixels (default 420) */
  height?: number;
}

/** Plotly's default colors, one per run. */
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/** The rows in step order, one per step: a resumed run logs its first step again, and the later row counts. */
export function curvePoints(rows: readonly CurvePoint[]): CurvePoint[] {
  const byStep = new Map<number, CurvePoint>();
  for (const r of rows) byStep.set(r.step, r);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The two traces of one run: held-out loss solid, training loss dashed, in the run's color. */
function runTraces(run: RunCurve, color: string, valName: string): Trace[] {
  const points = curvePoints(run.rows);
  const trace = (split: string, y: number[], dash: string): Trace => ({
    type: "scatter",
    mode: "lines",
    name: `${run.name} ${split}`,
    legendgroup: run.name,
    x: points.map((p) => p.step),
    y: y.map(plotValue),
    line: { color, dash, width: 2 },
    hovertemplate: `${run.name} ${split}, step %{x}: %{y:.4f}<extra></extra>`,
  });
  return [
    trace(
      valName,
      points.map((p) => p.valLoss),
      "solid",
    ),
    trace(
      "train",
      points.map((p) => p.trainLoss),
      "dash",
    ),
  ];
}

/**
 * Train and held-out loss of each run against the step (see the module comment).
 * @throws RangeError when a run has no rows.
 */
export function learningCurvesFigure(runs: readonly RunCurve[], options: LearningCurvesOptions): Figure {
  const empty = runs.find((r) => r.rows.length === 0);
  if (empty) throw new RangeError(`run '${empty.name}' has no logged evaluation`);
  const valName = options.valName ?? "val";
  return {
    data: runs.flatMap((r, i) => runTraces(r, COLORS[i % COLORS.length]!, valName)),
    layout: baseLayout(options.title, {
      height: options.height ?? 420,
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: `loss (solid: ${valName}, dashed: train)` } },
    }),
    config: { ...BASE_CONFIG },
  };
}
