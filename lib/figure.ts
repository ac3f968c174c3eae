/**
 * The figure objects the plot builders return: plain Plotly JSON
 * (`{data, layout, config}`), so tests can check their data and any Plotly
 * front end (classic Notebook, JupyterLab, VS Code, a static page) can draw them.
 *
 * @module
 */

/** One Plotly trace: `type` plus the trace's attributes. */
export interface Trace {
  /** Plotly trace type: "scatter", "heatmap", "bar", "histogram", ... */
  type: string;
  /** any other Plotly trace attribute (x, y, z, text, mode, marker, ...) */
  [attribute: string]: unknown;
}

/** A Plotly figure as JSON. */
export interface Figure {
  /** the traces */
  data: Trace[];
  /** Plotly layout attributes (title, axes, size, annotations, ...) */
  layout: Record<string, unknown>;
  /** Plotly config (responsive, displaylogo, ...) */
  config?: Record<string, unknown>;
}

/** The layout every figure of the project starts from. */
export function baseLayout(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: { text: title },
    margin: { l: 60, r: 20, t: 50, b: 50 },
    ...extra,
  };
}

/** The config every figure of the project uses. */
export const BASE_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({ responsive: true, displaylogo: false });
