/**
 * Showing figures, tables and live progress in a tslab notebook.
 *
 * A figure goes out as one display message with three forms:
 * - `application/vnd.plotly.v1+json`, drawn natively by JupyterLab and VS Code;
 * - `text/html`, a div and a script calling `Plotly.newPlot`, for classic
 *   Jupyter Notebook 6 and for HTML exports (the book, `npm run export`);
 * - `text/plain`, a one-line description for anything else.
 *
 * The HTML form carries the figure data but never plotly.js itself (10 MB: a
 * notebook saved with its outputs stays small). It draws with `window.Plotly`
 * when the page has it: the book and `npm run export` load plotly.js once per
 * page. In classic Notebook it loads plotly.js once per page from the Jupyter
 * server, which serves the project's `.jupyter/nbextensions/makemore-ts/plotly.js`
 * (setup links it to node_modules/plotly.js-dist; `npm start` puts `.jupyter`
 * on JUPYTER_PATH), so no network is needed, live or after reopening the file.
 *
 * A table (a danfojs DataFrame or Series, or an array of records) goes out as
 * an HTML table, as pandas frames do in Jupyter, with aligned text as the
 * plain form.
 *
 * Outside a notebook (scripts, tests, the CLI) the functions print the text form.
 *
 * @module
 */
import { randomBytes } from "crypto";
import type { Figure } from "../plots/figure";

/** A Jupyter display_data / update_display_data message body, as tslab sends it. */
interface DisplayMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type DisplayWriter = (msg: DisplayMessage, update: boolean) => void;

/** Where classic Notebook finds plotly.js, relative to its base URL (see the module comment). */
export const PLOTLY_NBEXTENSION = "nbextensions/makemore-ts/plotly.js";

/** The tslab display writer while a cell runs in a tslab kernel, else null. */
function kernelWriter(): DisplayWriter | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const jupyter = require("tslab/dist/jupyter") as { lastWriteDisplayData: DisplayWriter | null };
    return jupyter.lastWriteDisplayData ?? null;
  } catch {
    return null;
  }
}

/** Whether code runs inside a tslab notebook cell (figures are drawn) or elsewhere (text). */
export function inNotebook(): boolean {
  return kernelWriter() !== null;
}

/** JSON safe to put inside a `<script>` element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * The script of a figure's HTML form: draws with `window.Plotly` when the page
 * has it; in classic Notebook (whose body carries `data-base-url`) first loads
 * plotly.js from the server, once for all the figures of the page; elsewhere
 * waits a few seconds for the page to load it, then says what is missing.
 */
function drawScript(id: string, fig: Figure): string {
  return `(function () {
  var el = document.getElementById(${JSON.stringify(id)});
  var fig = ${scriptJson(fig)};
  function draw() { window.Plotly.newPlot(el, fig.data, fig.layout, fig.config || {}); }
  function missing(why) { el.textContent = "plotly.js " + why; }
  if (window.Plotly) { draw(); return; }
  var base = document.body && document.body.getAttribute("data-base-url");
  if (base !== null && base !== undefined) {
    var src = base + ${JSON.stringify(PLOTLY_NBEXTENSION)};
    window.__makemorePlotly = window.__makemorePlotly || new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
    window.__makemorePlotly.then(draw, function () {
      missing("was not found at " + src + ": run npm run setup and start Jupyter with npm start");
    });
    return;
  }
  var tries = 0;
  (function wait() {
    if (window.Plotly) draw();
    else if (++tries > 100) missing("is not in this page: open the notebook in Jupyter (npm start) or export it with npm run export");
    else setTimeout(wait, 50);
  })();
})();`;
}

/** The HTML of one figure: its div, and the script that draws it (see {@link drawScript}). */
export function figureHtml(fig: Figure, id: string = "mm-" + randomBytes(6).toString("hex")): string {
  const height = typeof fig.layout.height === "number" ? `${fig.layout.height}px` : "450px";
  return [
    `<div id="${id}" class="makemore-plot" style="min-height:${height}"></div>`,
    '<script type="text/javascript">',
    drawScript(id, fig),
    "</script>",
  ].join("\n");
}

/** One line describing a figure, for consoles and text-only front ends. */
export function figureText(fig: Figure): string {
  const title = (fig.layout.title as { text?: string } | undefined)?.text ?? "untitled";
  return `Figure: ${title} (${fig.data.map((t) => t.type).join(", ")})`;
}

/** Significant digits a figure keeps: float32 values (what tfjs computes) need no more than 7. */
export const FIGURE_DIGITS = 7;

/** A value with every non-integer number cut to {@link FIGURE_DIGITS} significant digits. */
function compact(value: unknown): unknown {
  if (typeof value === "number") return Number.isInteger(value) ? value : Number(value.toPrecision(FIGURE_DIGITS));
  if (Array.isArray(value)) return value.map(compact);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compact(v)]));
  }
  return value;
}

/**
 * A figure as it is saved into a notebook: numbers to {@link FIGURE_DIGITS}
 * significant digits. A float32 loss printed as a double has 17 digits of
 * which 10 are noise, and a figure's data is stored twice (plotly JSON and
 * HTML), so this keeps a long training curve well inside a small notebook.
 */
export function compactFigure(fig: Figure): Figure {
  return compact(fig) as Figure;
}

/** The display bundle of a figure (its numbers compacted, see {@link compactFigure}). */
export function figureBundle(fig: Figure, id?: string): Record<string, unknown> {
  const small = compactFigure(fig);
  return {
    "application/vnd.plotly.v1+json": { data: small.data, layout: small.layout, config: small.config ?? {} },
    "text/html": figureHtml(small, id),
    "text/plain": figureText(fig),
  };
}

/** Draws a figure in the notebook; outside a notebook prints its one-line description. */
export function show(fig: Figure): void {
  const write = kernelWriter();
  if (write) write({ data: figureBundle(fig), metadata: {}, transient: {} }, false);
  else console.log(figureText(fig));
}

/** A display area that can be overwritten in place: live progress in a cell. */
export interface LiveDisplay {
  /** replaces the area's content with HTML (text is printed outside a notebook) */
  html(html: string, text: string): void;
}

/**
 * Creates a display area updated in place (one output that changes, never
 * thousands of printed lines). Outside a notebook, updates go to stdout as
 * one line each, at most one every `minIntervalMs` (the last one always shows
 * when `final` text is passed through {@link LiveDisplay.html}).
 */
export function liveDisplay(minIntervalMs = 2000): LiveDisplay {
  const id = "mm-live-" + randomBytes(6).toString("hex");
  let first = true;
  let lastPrint = 0;
  return {
    html(html: string, text: string): void {
      const write = kernelWriter();
      if (write) {
        write({ data: { "text/html": html, "text/plain": text }, metadata: {}, transient: { display_id: id } }, !first);
        first = false;
        return;
      }
      const now = Date.now();
      if (first || now - lastPrint >= minIntervalMs) {
        console.log(text);
        lastPrint = now;
        first = false;
      }
    },
  };
}

/** Shows an HTML fragment (a table, a styled note) in the notebook; prints `text` elsewhere. */
export function showHtml(html: string, text: string): void {
  const write = kernelWriter();
  if (write) write({ data: { "text/html": html, "text/plain": text }, metadata: {}, transient: {} }, false);
  else console.log(text);
}

/**
 * What {@link showTable} needs of a danfojs DataFrame or Series (`values` is
 * one list per row, or one value per row for a Series). Described by shape so
 * that the lib does not load danfojs.
 */
export interface FrameLike {
  readonly columns: readonly string[];
  readonly index: readonly (string | number)[];
  readonly values: readonly unknown[];
}

/** One row of a table given as records: column name to value. */
export type TableRecord = Readonly<Record<string, unknown>>;

/** A table in one form: header, cells as text, and which columns hold numbers. */
export interface TableCells {
  /** column names, the index column (empty name) first when there is one */
  header: string[];
  rows: string[][];
  /** per column: every non-empty cell is a number (right-aligned) */
  numeric: boolean[];
}

/** Options of {@link showTable}. */
export interface TableOptions {
  /** show the row labels (the DataFrame's index); default: for DataFrames, not for records */
  index?: boolean;
  /** a line above the table */
  caption?: string;
  /** decimals of the numbers that are not integers (default: as JavaScript writes them) */
  digits?: number;
}

function isFrame(table: FrameLike | readonly TableRecord[]): table is FrameLike {
  return !Array.isArray(table);
}

/** A cell as text: numbers as JavaScript writes them (or to `digits` decimals), null and undefined as empty, objects as JSON. */
function cellText(value: unknown, digits?: number): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" && digits !== undefined && !Number.isInteger(value)) return value.toFixed(digits);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** The cells of a DataFrame or Series: its columns, one row per index label. */
function frameCells(frame: FrameLike): { header: string[]; rows: unknown[][] } {
  const rows = frame.values.map((row) => (Array.isArray(row) ? [...(row as unknown[])] : [row]));
  return { header: [...frame.columns], rows };
}

/** The cells of records: every key that occurs, in order of first appearance. */
function recordCells(records: readonly TableRecord[]): { header: string[]; rows: unknown[][] } {
  const header: string[] = [];
  for (const r of records) for (const key of Object.keys(r)) if (!header.includes(key)) header.push(key);
  return { header, rows: records.map((r) => header.map((key) => r[key])) };
}

/** A table as text cells, with an index column first when asked for. */
export function tableCells(table: FrameLike | readonly TableRecord[], options: TableOptions = {}): TableCells {
  const frame = isFrame(table);
  const { header, rows } = frame ? frameCells(table) : recordCells(table);
  const withIndex = options.index ?? frame;
  const labels = frame ? table.index : rows.map((_, i) => i);
  const full = withIndex ? rows.map((row, i) => [labels[i], ...row]) : rows;
  const names = withIndex ? ["", ...header] : header;
  const numeric = names.map((_, c) =>
    full.every((row) => row[c] === null || row[c] === undefined || typeof row[c] === "number"),
  );
  return { header: names, rows: full.map((row) => names.map((_, c) => cellText(row[c], options.digits))), numeric };
}

/** Text safe inside HTML elements and attributes. */
function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * A table as HTML, in the form Jupyter styles for pandas frames (`class="dataframe"`):
 * a header row, row labels as header cells, numbers right-aligned, every cell whole.
 */
export function tableHtml(cells: TableCells, caption?: string): string {
  const align = (c: number) => ` style="text-align: ${cells.numeric[c] ? "right" : "left"};"`;
  const indexed = cells.header[0] === "";
  const head = cells.header.map((name, c) => `<th${align(c)}>${escapeHtml(name)}</th>`).join("");
  const body = cells.rows
    .map((row) => {
      const tds = row.map((v, c) =>
        c === 0 && indexed ? `<th>${escapeHtml(v)}</th>` : `<td${align(c)}>${escapeHtml(v)}</td>`,
      );
      return `<tr>${tds.join("")}</tr>`;
    })
    .join("\n");
  const title = caption ? `<caption>${escapeHtml(caption)}</caption>` : "";
  return `<table border="1" class="dataframe makemore-table">${title}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A table as aligned plain text: two spaces between columns, numbers right-aligned, nothing cut. */
export function tableText(cells: TableCells, caption?: string): string {
  const widths = cells.header.map((name, c) => Math.max(name.length, ...cells.rows.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row
      .map((v, c) => (cells.numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  const lines = [line(cells.header), ...cells.rows.map(line)];
  return (caption ? [caption, ...lines] : lines).join("\n");
}

/**
 * Shows a danfojs DataFrame or Series, or an array of records, as a table: HTML
 * in a notebook (as pandas frames are shown), aligned text elsewhere.
 * @example `showTable(new dfd.DataFrame(rows));` or `showTable(rows, { caption: "every variant" });`
 */
export function showTable(table: FrameLike | readonly TableRecord[], options: TableOptions = {}): void {
  const cells = tableCells(table, options);
  showHtml(tableHtml(cells, options.caption), tableText(cells, options.caption));
}
