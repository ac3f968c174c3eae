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

/** One named line of a {@link lineFigure}. */
export interface Series {
  /** legend entry */
  name: string;
  /** x values */
  x: readonly number[];
  /** y values, as many as x */
  y: readonly number[];
}

/** Axis titles and scales of a {@link lineFigure}. */
export interface LineFigureOptions {
  /** figure title */
  title: string;
  /** x-axis title */
  xTitle?: string;
  /** y-axis title */
  yTitle?: string;
  /** logarithmic x axis */
  logX?: boolean;
  /** draw markers on the points too */
  markers?: boolean;
  /** figure height in pixels (default 380) */
  height?: number;
}

/**
 * A line plot of one or more series: the general-purpose figure for curves
 * (loss against a setting, a value against steps).
 * @throws RangeError when a series has different numbers of x and y values.
 */
export function lineFigure(series: readonly Series[], options: LineFigureOptions): Figure {
  for (const s of series) {
    if (s.x.length !== s.y.length)
      throw new RangeError(`series '${s.name}' has ${s.x.length} x and ${s.y.length} y values`);
  }
  return {
    data: series.map((s) => ({
      type: "scatter",
      mode: options.markers ? "lines+markers" : "lines",
      name: s.name,
      x: [...s.x],
      y: [...s.y],
    })),
    layout: baseLayout(options.title, {
      height: options.height ?? 380,
      xaxis: { title: { text: options.xTitle ?? "" }, type: options.logX ? "log" : "linear" },
      yaxis: { title: { text: options.yTitle ?? "" } },
      showlegend: series.length > 1,
    }),
    config: { ...BASE_CONFIG },
  };
}

/** Options of {@link heatmapFigure}. */
export interface HeatmapOptions {
  /** figure title */
  title: string;
  /** column labels */
  x?: readonly string[];
  /** row labels (row 0 is drawn at the top) */
  y?: readonly string[];
  /** Plotly colorscale name or stops (default white to blue) */
  colorscale?: string | [number, string][];
  /** figure height in pixels (default: 22 px per row, at least 200) */
  height?: number;
  /** show the color bar (default true) */
  showscale?: boolean;
}

/** A matrix drawn as an image, row 0 at the top: one-hot rows, weights, saturation maps. */
export function heatmapFigure(z: readonly (readonly number[])[], options: HeatmapOptions): Figure {
  const rows = z.length;
  return {
    data: [
      {
        type: "heatmap",
        z: z.map((r) => [...r]),
        ...(options.x ? { x: [...options.x] } : {}),
        ...(options.y ? { y: [...options.y] } : {}),
        colorscale: options.colorscale ?? [
          [0, "#ffffff"],
          [1, "#2b5d9b"],
        ],
        showscale: options.showscale ?? true,
      },
    ],
    layout: baseLayout(options.title, {
      height: options.height ?? Math.max(200, rows * 22 + 100),
      xaxis: { type: options.x ? "category" : "linear", side: "bottom" },
      yaxis: { autorange: "reversed", type: options.y ? "category" : "linear" },
    }),
    config: { ...BASE_CONFIG },
  };
}

/** One named set of bars of a {@link barFigure}: a value per category. */
export interface BarSeries {
  /** legend entry */
  name: string;
  /** one value per category, in the categories' order */
  y: readonly number[];
}

/**
 * Bars side by side, one group per category (a model, say) and one color per
 * series (a dataset, say): a value compared across categories.
 * @throws RangeError when a series has a different number of values than there are categories.
 */
export function barFigure(
  categories: readonly string[],
  series: readonly BarSeries[],
  options: LineFigureOptions,
): Figure {
  for (const s of series) {
    if (s.y.length !== categories.length)
      throw new RangeError(`series '${s.name}' has ${s.y.length} values for ${categories.length} categories`);
  }
  return {
    data: series.map((s) => ({
      type: "bar",
      name: s.name,
      x: [...categories],
      y: [...s.y],
      hovertemplate: `${s.name}, %{x}: %{y:.4f}<extra></extra>`,
    })),
    layout: baseLayout(options.title, {
      height: options.height ?? 380,
      barmode: "group",
      xaxis: { title: { text: options.xTitle ?? "" }, type: "category" },
      yaxis: { title: { text: options.yTitle ?? "" } },
      showlegend: series.length > 1,
    }),
    config: { ...BASE_CONFIG },
  };
}

/** One panel of a {@link heatmapGridFigure}. */
export interface HeatmapPanel {
  /** the panel's title */
  title: string;
  /** the matrix, row 0 at the top */
  z: readonly (readonly number[])[];
}

/** Options of {@link heatmapGridFigure}. */
export interface HeatmapGridOptions {
  /** figure title */
  title: string;
  /** column labels, shared by every panel (unique: Plotly merges equal category labels) */
  x?: readonly string[];
  /** row labels, shared by every panel (unique, as `x`) */
  y?: readonly string[];
  /** panels per row (default 4) */
  columns?: number;
  /** the value of the darkest color (default: the largest value of any panel), so every panel reads the same */
  zmax?: number;
  /** pixels per panel row (default 260) */
  panelHeight?: number;
}

/**
 * Several matrices side by side on one color scale, row 0 at the top: the
 * attention maps of every head of a transformer, say. One color bar serves all.
 * @throws RangeError when there is no panel.
 */
export function heatmapGridFigure(panels: readonly HeatmapPanel[], options: HeatmapGridOptions): Figure {
  if (panels.length === 0) throw new RangeError("a heatmap grid needs at least one panel");
  const columns = Math.min(options.columns ?? 4, panels.length);
  const rows = Math.ceil(panels.length / columns);
  const zmax = options.zmax ?? Math.max(...panels.flatMap((p) => p.z.flatMap((r) => [...r])));
  // Plotly names the axes of panel i "x{i+1}" / "y{i+1}", except the first: "x" / "y"
  const suffix = (i: number): string => (i === 0 ? "" : String(i + 1));
  const axes: Record<string, unknown> = {};
  panels.forEach((_, i) => {
    axes[`xaxis${suffix(i)}`] = { type: options.x ? "category" : "linear", tickangle: 0 };
    axes[`yaxis${suffix(i)}`] = { autorange: "reversed", type: options.y ? "category" : "linear" };
  });
  return {
    data: panels.map((p, i) => ({
      type: "heatmap",
      z: p.z.map((r) => [...r]),
      ...(options.x ? { x: [...options.x] } : {}),
      ...(options.y ? { y: [...options.y] } : {}),
      xaxis: `x${suffix(i)}`,
      yaxis: `y${suffix(i)}`,
      zmin: 0,
      zmax,
      colorscale: [
        [0, "#ffffff"],
        [1, "#2b5d9b"],
      ],
      showscale: i === 0,
      name: p.title,
    })),
    layout: baseLayout(options.title, {
      height: rows * (options.panelHeight ?? 260) + 80,
      grid: { rows, columns, pattern: "independent", xgap: 0.12, ygap: 0.25 },
      annotations: panels.map((p, i) => panelTitle(p.title, i, rows, columns)),
      ...axes,
    }),
    config: { ...BASE_CONFIG },
  };
}

/** A panel's title, centred above its cell of the grid (in paper coordinates). */
function panelTitle(text: string, i: number, rows: number, columns: number): Record<string, unknown> {
  const row = Math.floor(i / columns);
  const col = i % columns;
  return {
    text,
    showarrow: false,
    xref: "paper",
    yref: "paper",
    x: (col + 0.5) / columns,
    y: 1 - row / rows,
    xanchor: "center",
    yanchor: "bottom",
  };
}

/** One labelled point of a {@link scatterFigure}. */
export interface LabelledPoint {
  /** x value */
  x: number;
  /** y value */
  y: number;
  /** hover text (a run tag, a configuration) */
  label: string;
}

/** Points with hover labels: one value against another over many runs (val loss against parameters). */
export function scatterFigure(points: readonly LabelledPoint[], options: LineFigureOptions): Figure {
  return {
    data: [
      {
        type: "scatter",
        mode: "markers",
        x: points.map((p) => p.x),
        y: points.map((p) => p.y),
        text: points.map((p) => p.label),
        marker: { size: 10, color: "#3a78b5" },
        hovertemplate: "%{text}<br>x %{x}<br>y %{y:.4f}<extra></extra>",
      },
    ],
    layout: baseLayout(options.title, {
      height: options.height ?? 380,
      xaxis: { title: { text: options.xTitle ?? "" }, type: options.logX ? "log" : "linear" },
      yaxis: { title: { text: options.yTitle ?? "" } },
      showlegend: false,
    }),
    config: { ...BASE_CONFIG },
  };
}

/** The spread of one set of values: a box with every value drawn beside it (the seed lottery). */
export function spreadFigure(values: readonly number[], labels: readonly string[], options: LineFigureOptions): Figure {
  return {
    data: [
      {
        type: "box",
        y: [...values],
        text: [...labels],
        name: options.xTitle ?? "",
        boxpoints: "all",
        jitter: 0.4,
        pointpos: -1.6,
        marker: { color: "#3a78b5", size: 8 },
        hovertemplate: "%{text}: %{y:.4f}<extra></extra>",
      },
    ],
    layout: baseLayout(options.title, {
      height: options.height ?? 420,
      yaxis: { title: { text: options.yTitle ?? "" } },
      showlegend: false,
    }),
    config: { ...BASE_CONFIG },
  };
}
