/**
 * Live progress of a training run: one line on a terminal, or an HTML
 * display updated in place in a notebook with a sparkline of the loss; and
 * {@link train}, the training loop with this display for `progress: true`
 * (what the notebooks call; lib/training/train.ts leaves the display to its caller).
 *
 * @module
 */
import type { Examples } from "../data/examples";
import type { Model } from "../models/model";
import {
  train as trainLoop,
  type ProgressInfo,
  type Reporter,
  type TrainOptions,
  type TrainResult,
} from "../training/train";
import { inNotebook, liveDisplay, type LiveDisplay } from "./display";

/** The live display: in a notebook one HTML display updated in place, else a console line every 2 s. */
export function progressDisplay(): Reporter {
  if (inNotebook()) {
    const live: LiveDisplay = liveDisplay();
    return Object.assign((info: ProgressInfo) => live.html(progressHtml(info), progressText(info)), {
      intervalMs: 1000,
    });
  }
  return Object.assign((info: ProgressInfo) => console.log(progressText(info)), { intervalMs: 2000 });
}

/** The sink `progress` asks for: none, a callback, or the live display. */
export function makeReporter(progress: TrainOptions["progress"]): Reporter | null {
  if (progress === false) return null;
  if (typeof progress === "function")
    return Object.assign((info: ProgressInfo) => progress(info), { intervalMs: 1000 });
  return progressDisplay();
}

/**
 * Trains a model: `train` of lib/training/train.ts with the live display of
 * {@link progressDisplay} for `progress: true` (the default).
 */
export function train(model: Model, data: Examples, options: TrainOptions): Promise<TrainResult> {
  return trainLoop(model, data, options, progressDisplay);
}

/** Seconds as "1h02m", "3m05s" or "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** The one-line progress text: step, loss, lr, speed, time left or taken, last evaluation. */
export function progressText(info: ProgressInfo): string {
  const width = String(info.total).length;
  const parts = [
    `${info.label ? info.label + " " : ""}step ${String(info.done).padStart(width)}/${info.total}`,
    `loss ${Number.isFinite(info.loss) ? info.loss.toFixed(4) : String(info.loss)}`,
    `lr ${info.lr.toPrecision(3)}`,
    `${info.stepsPerSecond.toFixed(0)} steps/s`,
  ];
  if (info.finished) parts.push(`done in ${formatDuration(info.done / (info.stepsPerSecond || Infinity))}`);
  else if (info.stepsPerSecond > 0) parts.push(`eta ${formatDuration((info.total - info.done) / info.stepsPerSecond)}`);
  if (info.lastEval) {
    const ev = Object.entries(info.lastEval.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`);
    parts.push(`[eval @${info.lastEval.step}: ${ev.join(", ")}]`);
  }
  return parts.join("  ");
}

/**
 * Averages of consecutive windows of `values`, at most `points` of them (the
 * last window may be shorter), for sparklines.
 */
export function downsample(values: readonly number[], points: number): number[] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length <= points) return finite;
  const size = Math.ceil(finite.length / points);
  const out: number[] = [];
  for (let s = 0; s < finite.length; s += size) {
    const chunk = finite.slice(s, s + size);
    out.push(chunk.reduce((a, b) => a + b, 0) / chunk.length);
  }
  return out;
}

/** A tiny inline SVG line of a series (e.g. log10 loss), `width` x `height` pixels. */
export function sparklineSvg(values: readonly number[], width = 240, height = 40): string {
  const ys = downsample(values, width / 2);
  if (ys.length < 2) return `<svg width="${width}" height="${height}"></svg>`;
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const span = hi - lo || 1;
  const pts = ys
    .map((y, i) => {
      const px = (i / (ys.length - 1)) * (width - 2) + 1;
      const py = height - 1 - ((y - lo) / span) * (height - 2);
      return `${px.toFixed(1)},${py.toFixed(1)}`;
    })
    .join(" ");
  return (
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `style="vertical-align:middle;background:#f7f7f7">` +
    `<polyline fill="none" stroke="#3a78b5" stroke-width="1.2" points="${pts}"/></svg>`
  );
}

/** The HTML of the live progress display: the text line and a sparkline of log10 loss. */
export function progressHtml(info: ProgressInfo): string {
  const text = progressText(info).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return (
    `<div style="font-family:monospace;font-size:12px;display:flex;gap:12px;align-items:center">` +
    `${sparklineSvg(info.log10Losses)}<span>${text}</span></div>`
  );
}
