/**
 * Showing figures and live progress in a tslab notebook.
 *
 * A figure goes out as one display message with three forms:
 * - `application/vnd.plotly.v1+json`, drawn natively by JupyterLab and VS Code;
 * - `text/html`, a div and a script calling `Plotly.newPlot`, for classic
 *   Jupyter Notebook 6 and for the HTML that `jupyter nbconvert --to html` writes;
 * - `text/plain`, a one-line description for anything else.
 *
 * The HTML form needs `window.Plotly`. The first figure of each kernel process
 * carries the whole plotly.js bundle inline (no network is needed, once per
 * notebook run, not once per plot). Classic Notebook loads require.js, and a
 * UMD bundle that sees `define.amd` registers itself as an AMD module instead of
 * setting `window.Plotly`; the loader hides `define` while the bundle runs.
 *
 * Outside a notebook (scripts, tests, the CLI) the functions print the text form.
 *
 * @module
 */
import * as fs from "fs";
import { randomBytes } from "crypto";
import type { Figure } from "../plots/figure";

/** A Jupyter display_data / update_display_data message body, as tslab sends it. */
interface DisplayMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type DisplayWriter = (msg: DisplayMessage, update: boolean) => void;

/** Marker comments around the inline bundle, so the book build can swap it for a shared file. */
export const PLOTLY_LOADER_BEGIN = "<!-- makemore:plotly-loader -->";
/** End marker of the inline bundle (see {@link PLOTLY_LOADER_BEGIN}). */
export const PLOTLY_LOADER_END = "<!-- /makemore:plotly-loader -->";

let plotlySent = false;

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

/** The HTML that loads plotly.js inline, hiding require.js's `define` while it runs. */
export function plotlyLoaderHtml(): string {
  const bundlePath = require.resolve("plotly.js-dist/plotly.js");
  const bundle = fs.readFileSync(bundlePath, "utf8").replace(/<\/script/gi, "<\\/script");
  return [
    PLOTLY_LOADER_BEGIN,
    '<script type="text/javascript">window.__makemoreDefine = window.define; window.define = undefined;</script>',
    `<script type="text/javascript">${bundle}</script>`,
    '<script type="text/javascript">window.define = window.__makemoreDefine; delete window.__makemoreDefine;</script>',
    PLOTLY_LOADER_END,
  ].join("\n");
}

/** The HTML of one figure: a div and the script that draws it once `window.Plotly` exists. */
export function figureHtml(fig: Figure, id: string = "mm-" + randomBytes(6).toString("hex")): string {
  const height = typeof fig.layout.height === "number" ? `${fig.layout.height}px` : "450px";
  return [
    `<div id="${id}" class="makemore-plot" style="min-height:${height}"></div>`,
    '<script type="text/javascript">',
    "(function () {",
    `  var el = document.getElementById(${JSON.stringify(id)});`,
    `  var fig = ${scriptJson(fig)};`,
    "  function draw(tries) {",
    "    if (window.Plotly) { window.Plotly.newPlot(el, fig.data, fig.layout, fig.config || {}); return; }",
    "    if (tries > 200) { el.textContent = 'plotly.js is not loaded in this page: rerun the notebook from the top'; return; }",
    "    setTimeout(function () { draw(tries + 1); }, 50);",
    "  }",
    "  draw(0);",
    "})();",
    "</script>",
  ].join("\n");
}

/** One line describing a figure, for consoles and text-only front ends. */
export function figureText(fig: Figure): string {
  const title = (fig.layout.title as { text?: string } | undefined)?.text ?? "untitled";
  return `Figure: ${title} (${fig.data.map((t) => t.type).join(", ")})`;
}

/** The display bundle of a figure (without the plotly.js loader). */
export function figureBundle(fig: Figure, id?: string): Record<string, unknown> {
  return {
    "application/vnd.plotly.v1+json": { data: fig.data, layout: fig.layout, config: fig.config ?? {} },
    "text/html": figureHtml(fig, id),
    "text/plain": figureText(fig),
  };
}

/**
 * Draws a figure in the notebook (with the plotly.js bundle before the first
 * one of the process); outside a notebook prints its one-line description.
 */
export function show(fig: Figure): void {
  const write = kernelWriter();
  if (!write) {
    console.log(figureText(fig));
    return;
  }
  const bundle = figureBundle(fig);
  if (!plotlySent) {
    bundle["text/html"] = plotlyLoaderHtml() + "\n" + String(bundle["text/html"]);
    plotlySent = true;
  }
  write({ data: bundle, metadata: {}, transient: {} }, false);
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
