/**
 * Figures of the bigram notebooks. Each builder is a pure function that
 * returns a {@link Figure}; {@link show} draws it in a notebook.
 *
 * @module
 */
import type { Matrix } from "../models/counts";
import { BASE_CONFIG, baseLayout, type Figure } from "./figure";
import type { Vocab } from "../data/vocab";

/** Shows the boundary token readably ('\n' becomes '⏎'). */
export function printable(ch: string): string {
  return ch === "\n" ? "⏎" : ch === " " ? "␠" : ch;
}

/**
 * The lecture's count matrix: a 27x27 heatmap, each cell annotated with its
 * bigram and its count, row = first character, column = next character.
 */
export function countHeatmap(
  counts: Matrix,
  vocab: Vocab,
  title = "Bigram counts: row = character, column = next character",
): Figure {
  const labels = vocab.chars.map(printable);
  const text = counts.map((row, i) => row.map((c, j) => `${labels[i]}${labels[j]}<br>${c}`));
  const cell = 30;
  const side = Math.max(400, labels.length * cell + 120);
  return {
    data: [
      {
        type: "heatmap",
        z: counts,
        x: labels,
        y: labels,
        text,
        texttemplate: "%{text}",
        textfont: { size: 8, color: "#555" },
        // white for rare bigrams to mid blue for common ones, light enough to read the labels
        colorscale: [
          [0, "#ffffff"],
          [0.15, "#c6dbef"],
          [1, "#3a78b5"],
        ],
        showscale: false,
        hovertemplate: "%{y}→%{x}: %{z}<extra></extra>",
        xgap: 1,
        ygap: 1,
      },
    ],
    layout: baseLayout(title, {
      width: side,
      height: side,
      xaxis: { side: "top", type: "category", tickfont: { size: 10 } },
      yaxis: { autorange: "reversed", type: "category", tickfont: { size: 10 } },
      margin: { l: 40, r: 20, t: 80, b: 20 },
    }),
    config: { ...BASE_CONFIG },
  };
}

/** A bar chart of one probability row: P(next character | `given`). */
export function probabilityBar(row: readonly number[], vocab: Vocab, given: string): Figure {
  const labels = vocab.chars.map(printable);
  return {
    data: [
      {
        type: "bar",
        x: labels,
        y: [...row],
        marker: { color: "#3a78b5" },
        hovertemplate: "P(%{x} | " + printable(given) + ") = %{y:.4f}<extra></extra>",
      },
    ],
    layout: baseLayout(`P(next character | '${printable(given)}')`, {
      height: 320,
      xaxis: { type: "category", title: { text: "next character" } },
      yaxis: { title: { text: "probability" }, rangemode: "tozero" },
    }),
    config: { ...BASE_CONFIG },
  };
}
