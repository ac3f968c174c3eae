#!/usr/bin/env node
// @ts-check
/**
 * `npm run export -- NOTEBOOK.ipynb`: one notebook as a standalone HTML file
 * whose plots draw offline.
 *
 * A notebook saved with its outputs carries each figure's data but not
 * plotly.js (lib/notebook/display.ts), so a plain `jupyter nbconvert --to html`
 * page has nothing to draw with. This runs nbconvert with the makemore-export
 * template (JupyterLab's export without require.js from a CDN) and inlines
 * plotly.js once in the page's head.
 *
 * Usage: node scripts/export.js NOTEBOOK.ipynb [--out FILE.html] [--execute]
 *
 *   --out FILE   where to write the page (default: the notebook's name with .html, beside it)
 *   --execute    run the notebook first with the project kernel (outputs are not saved
 *                into the notebook); MAKEMORE_QUICK=1 for the small step counts
 *
 * Errors: one line starting with "export:", exit code 2 for bad arguments, 1 otherwise.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");
const { parseArgs } = require("util");
const { root, python, jupyterPath } = require("./paths.js");

const TEMPLATE_DIR = path.join(__dirname, "export-template");
const PLACEHOLDER = "<!-- makemore:plotly -->";
const PLOTLY = path.join(root, "node_modules", "plotly.js-dist", "plotly.js");

class ExportError extends Error {
  /**
   * @param {string} message
   * @param {number} [code]
   */
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {string[]} argv
 * @returns {{notebook: string, out: string, execute: boolean}}
 */
function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: "string" }, execute: { type: "boolean", default: false } },
      allowPositionals: true,
    });
  } catch (e) {
    throw new ExportError(`${/** @type {Error} */ (e).message.split("\n")[0]}`, 2);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new ExportError("give one notebook: npm run export -- NOTEBOOK.ipynb", 2);
  const notebook = path.resolve(/** @type {string} */ (positionals[0]));
  if (!fs.existsSync(notebook)) throw new ExportError(`${notebook} does not exist`, 2);
  const out = path.resolve(values.out ?? notebook.replace(/\.ipynb$/, "") + ".html");
  return { notebook, out, execute: Boolean(values.execute) };
}

/**
 * The script element that defines `window.Plotly`, safe inside an HTML page.
 * @returns {string}
 */
function inlinePlotly() {
  const bundle = fs.readFileSync(PLOTLY, "utf8").replace(/<\/script/gi, "<\\/script");
  return `<script type="text/javascript">\n${bundle}\n</script>`;
}

/**
 * Converts the notebook with the export template into a scratch folder; returns the HTML.
 * @param {{notebook: string, execute: boolean}} opts
 * @returns {string}
 */
function convert({ notebook, execute }) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-export-"));
  try {
    const args = ["-m", "nbconvert", "--to", "html", "--template", "makemore-export"];
    args.push(
      `--TemplateExporter.extra_template_basedirs=${TEMPLATE_DIR}`,
      "--output-dir",
      scratch,
      "--output",
      "page",
    );
    if (execute) args.push("--execute", "--ExecutePreprocessor.timeout=-1");
    const env = {
      ...process.env,
      JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    };
    const r = spawnSync(python, [...args, notebook], { cwd: root, env, encoding: "utf8" });
    if (r.error) throw new ExportError(`cannot run ${python}: ${r.error.message}`);
    if (r.status !== 0) throw new ExportError(`nbconvert failed:\n${(r.stderr || "").trim()}`);
    return fs.readFileSync(path.join(scratch, "page.html"), "utf8");
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Puts plotly.js where the template left its placeholder, when the page has figures.
 * @param {string} html
 * @returns {string}
 */
function withPlotly(html) {
  if (!html.includes(PLACEHOLDER)) throw new ExportError("the export template lost its makemore:plotly placeholder");
  const figures = html.includes('class="makemore-plot"');
  return html.replace(PLACEHOLDER, () => (figures ? inlinePlotly() : ""));
}

/** @param {string[]} argv */
function main(argv) {
  const opts = parseOptions(argv);
  if (!fs.existsSync(PLOTLY)) throw new ExportError("node_modules/plotly.js-dist is missing: run npm run setup");
  const html = withPlotly(convert(opts));
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, html);
  const rel = path.relative(process.cwd(), opts.out) || opts.out;
  console.log(`export: wrote ${rel} (${(html.length / 1e6).toFixed(1)} MB, plotly.js inlined once)`);
}

module.exports = { withPlotly, PLACEHOLDER };

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof ExportError)) throw e;
    console.error(`export: ${e.message}`);
    process.exit(e.code);
  }
}
