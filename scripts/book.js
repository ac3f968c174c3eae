#!/usr/bin/env node
// @ts-check
/**
 * `npm run book`: executes every notebook in notebooks/ with the project
 * kernel and writes a static, offline book to book/:
 *
 *   book/index.html        the notebooks, each with a one-line summary, and a link to the API docs
 *   book/NN-name.html      one page per executed notebook, with navigation; the worked solutions
 *                          (notebooks/solutions/, executed too) folded under their exercises
 *   book/plotly.js         plotly.js, once, shared by every page (file:// works, no network)
 *   book/assets/           CSS (and MathJax when a notebook has formulas)
 *   book/api/              the lib's API documentation (TypeDoc, typedoc.json)
 *   book/book.json         manifest: pages, titles, summaries, figures and their trace counts
 *
 * Usage: node scripts/book.js [--full] [--out DIR] [--jobs N] [--timeout SECONDS]
 *                             [--reuse DIR] [--notebooks DIR] [--no-docs]
 *
 *   --full          the lectures' step counts (default: quick mode, MAKEMORE_QUICK=1)
 *   --out DIR       where to write the book (default: book)
 *   --jobs N        notebooks executed at the same time (default: 2, at most the CPU count)
 *   --timeout S     per-cell timeout in seconds (default: 600 quick, 7200 full)
 *   --reuse DIR     take executed quick-mode notebooks from DIR (e.g. test-results/notebooks/)
 *                   when they match the current sources and are newer than lib/; run the others
 *   --notebooks DIR the notebooks to build (default: notebooks)
 *   --no-docs       skip TypeDoc
 *
 * A failing notebook fails the build: the runner's line naming the notebook
 * and cell, then the cell's error, and exit code 1; the previous book is left
 * as it was. Every bad argument: one line starting with "book:" and exit code 2.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, spawnSync } = require("child_process");
const { parseArgs } = require("util");
const { root, python, jupyterPath, kernelName } = require("./paths.js");

/** The licence header that opens plotly.js: a page holding it carries the 10 MB bundle inline. */
const INLINE_PLOTLY = /\* plotly\.js v\d/;
const PLOTLY_MIME = "application/vnd.plotly.v1+json";

const TEMPLATE_DIR = path.join(__dirname, "book-template");
const TEMPLATE_NAME = "makemore-book";
const MATHJAX_DIR = "/usr/share/javascript/mathjax";
/** The parts of Debian's MathJax 2 that the TeX-AMS_CHTML-full configuration loads. */
const MATHJAX_PARTS = [
  "MathJax.js",
  "config/TeX-AMS_CHTML-full.js",
  "extensions",
  "jax/input/TeX",
  "jax/output/CommonHTML",
  "jax/element",
  "fonts/HTML-CSS/TeX/woff",
  "localization/en",
];

/** A failure with a message for the user; `code` is the exit code. */
class BookError extends Error {
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
 * @typedef {object} Options
 * @property {boolean} full
 * @property {string} out
 * @property {number} jobs
 * @property {number} timeout
 * @property {string | null} reuse
 * @property {string} notebooks
 * @property {boolean} docs
 */

/**
 * @param {string[]} argv
 * @returns {Options}
 */
function parseOptions(argv) {
  /** @type {ReturnType<typeof parseArgs>["values"]} */
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        full: { type: "boolean", default: false },
        out: { type: "string", default: "book" },
        jobs: { type: "string" },
        timeout: { type: "string" },
        reuse: { type: "string" },
        notebooks: { type: "string", default: "notebooks" },
        "no-docs": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new BookError(`${/** @type {Error} */ (e).message.split("\n")[0]} (see --help)`, 2);
  }
  if (values.help) {
    const doc = fs.readFileSync(__filename, "utf8").match(/Usage:[\s\S]*?\n \* A failing/);
    console.log(
      doc
        ? doc[0]
            .replace(/A failing$/, "")
            .replace(/^ \* ?/gm, "")
            .trim()
        : "see scripts/book.js",
    );
    process.exit(0);
  }
  /**
   * @param {unknown} raw
   * @param {string} name
   * @param {number} fallback
   */
  const positiveInt = (raw, name, fallback) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new BookError(`--${name} must be a positive integer, got '${raw}'`, 2);
    return n;
  };
  const full = Boolean(values.full);
  const reuse = typeof values.reuse === "string" ? path.resolve(values.reuse) : null;
  if (reuse && full) throw new BookError("--reuse takes quick-mode runs only; it cannot be combined with --full", 2);
  if (reuse && !fs.existsSync(reuse)) throw new BookError(`--reuse folder ${reuse} does not exist`, 2);
  const notebooks = path.resolve(String(values.notebooks));
  if (!fs.existsSync(notebooks)) throw new BookError(`notebook folder ${notebooks} does not exist`, 2);
  const out = path.resolve(String(values.out));
  if (out === root || out === path.parse(out).root || out === notebooks || notebooks.startsWith(out + path.sep)) {
    throw new BookError(`--out ${out} would replace the project or its notebooks; pick an empty or book folder`, 2);
  }
  // the build replaces --out: only an empty folder or an earlier book may be replaced
  if (fs.existsSync(out) && fs.readdirSync(out).length && !fs.existsSync(path.join(out, "book.json"))) {
    throw new BookError(`--out ${out} is not empty and holds no earlier book (book.json); not replacing it`, 2);
  }
  return {
    full,
    out,
    jobs: positiveInt(values.jobs, "jobs", Math.max(1, Math.min(2, os.cpus().length))),
    timeout: positiveInt(values.timeout, "timeout", full ? 7200 : 600),
    reuse,
    notebooks,
    docs: !values["no-docs"],
  };
}

/**
 * A path for messages: relative to the project when inside it.
 * @param {string} p
 */
function shown(p) {
  const rel = path.relative(root, p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

/** @param {string} msg */
function log(msg) {
  console.log(`book: ${msg}`);
}

// ---------------------------------------------------------------------------
// Notebooks: reading, summaries
// ---------------------------------------------------------------------------

/**
 * @typedef {object} NbOutput
 * @property {string} output_type
 * @property {string} [name]
 * @property {string | string[]} [text]
 * @property {Record<string, unknown>} [data]
 * @property {string} [ename]
 * @property {string} [evalue]
 */
/**
 * @typedef {object} NbCell
 * @property {string} cell_type
 * @property {string | string[]} source
 * @property {NbOutput[]} [outputs]
 * @property {number | null} [execution_count]
 * @property {Record<string, unknown>} [metadata]
 */
/**
 * @typedef {object} Notebook
 * @property {NbCell[]} cells
 * @property {{kernelspec?: {name?: string}, title?: string} & Record<string, unknown>} metadata
 * @property {number} nbformat
 * @property {number} nbformat_minor
 */

/** @param {string | string[] | undefined} s */
const joined = (s) => (Array.isArray(s) ? s.join("") : (s ?? ""));

/**
 * @param {string} file
 * @returns {Notebook}
 */
function readNotebook(file) {
  let nb;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new BookError(`${path.relative(root, file)} is not a readable notebook: ${/** @type {Error} */ (e).message}`);
  }
  if (!nb || !Array.isArray(nb.cells) || typeof nb.metadata !== "object") {
    throw new BookError(`${path.relative(root, file)} is not a notebook (no cells or metadata)`);
  }
  return nb;
}

/** @param {string} s */
function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * Inline Markdown (code spans, bold, italics, links) of a summary line as HTML.
 * @param {string} md
 */
function inlineMarkdown(md) {
  /** @type {string[]} */
  const codes = [];
  let s = md.replace(/`([^`]+)`/g, (_m, code) => {
    codes.push(`<code>${escapeHtml(code)}</code>`);
    return `@@code${codes.length - 1}@@`;
  });
  s = escapeHtml(s)
    .replace(/\[([^\]]+)\]\([^)]*\)/g, "$1")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/__([^_]+)__/g, "<strong>$1</strong>")
    .replace(/(^|[^\w*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/(^|[^\w])_([^_\s][^_]*)_(?!\w)/g, "$1<em>$2</em>");
  return s.replace(/@@code(\d+)@@/g, (_m, i) => codes[Number(i)] ?? "");
}

/** A summary grows sentence by sentence to at least this many characters... */
const SUMMARY_MIN = 80;
/** ...and is cut (at a word) beyond this many. */
const SUMMARY_MAX = 240;

/** Words whose trailing period does not end a sentence. */
const ABBREVIATIONS = /(^|[\s(])(e\.g|i\.e|al|vs|cf|etc|fig|eq|approx|resp|Dr|Mr|Ms|Mrs|No)\.$/i;

/**
 * The first sentence of a paragraph: up to the first `.`, `!` or `?` that is
 * followed by a capital letter, outside parentheses, and not after an abbreviation.
 * @param {string} text
 */
function firstSentence(text) {
  const end = /[.!?]["')*_`]*(?=\s+["'(*_`[]?[A-Z])/g;
  let m;
  while ((m = end.exec(text))) {
    const upTo = text.slice(0, m.index + m[0].length);
    const depth = (upTo.match(/\(/g) ?? []).length - (upTo.match(/\)/g) ?? []).length;
    if (depth <= 0 && !ABBREVIATIONS.test(text.slice(0, m.index + 1))) return upTo;
  }
  return text;
}

/**
 * Title and one-line summary of a notebook: the first heading of its first
 * Markdown cell, and the opening sentences (at least SUMMARY_MIN characters)
 * of the paragraph that follows it, unless the notebook's metadata gives one
 * as `"makemore": {"summary": "..."}`.
 * @param {Notebook} nb
 * @param {string} fallbackTitle
 * @returns {{title: string, summaryMd: string}}
 */
function describe(nb, fallbackTitle) {
  const first = nb.cells.find((c) => c.cell_type === "markdown");
  const lines = first ? joined(first.source).split("\n") : [];
  const h = lines.findIndex((l) => /^#{1,6}\s+\S/.test(l));
  const heading = h >= 0 ? lines[h] : undefined;
  const title = heading ? heading.replace(/^#+\s+/, "").trim() : fallbackTitle;
  /** @type {string[]} */
  const para = [];
  for (const line of lines.slice(h + 1)) {
    if (line.trim() === "") {
      if (para.length) break;
      continue;
    }
    if (/^(#|```|\||>|\s*[-*+]\s|\s*\d+\.\s|<)/.test(line) && !para.length) continue;
    para.push(line.trim());
  }
  const given = /** @type {{summary?: unknown} | undefined} */ (nb.metadata.makemore)?.summary;
  if (typeof given === "string" && given.trim()) return { title, summaryMd: given.trim() };
  // whole sentences until the summary says something (a short first sentence is often only a bridge)
  let rest = para.join(" ");
  let summaryMd = "";
  while (rest && summaryMd.length < SUMMARY_MIN) {
    const sentence = firstSentence(rest);
    summaryMd = summaryMd ? `${summaryMd} ${sentence}` : sentence;
    rest = rest.slice(sentence.length).trim();
  }
  if (summaryMd.length > SUMMARY_MAX) summaryMd = summaryMd.slice(0, SUMMARY_MAX).replace(/\s+\S*$/, "") + " …";
  return { title, summaryMd };
}

/**
 * Whether a notebook's Markdown has TeX math for MathJax ($...$, $$...$$, \(...\), \[...\]).
 * Code spans and fenced blocks are ignored.
 * @param {Notebook} nb
 */
function hasMath(nb) {
  return nb.cells
    .filter((c) => c.cell_type === "markdown")
    .map((c) =>
      joined(c.source)
        .replace(/```[\s\S]*?```/g, "")
        .replace(/`[^`]*`/g, ""),
    )
    .some((s) => /\$\$[\s\S]+?\$\$|(^|[^\\$])\$(?=\S)[^$\n]*?\S\$(?!\d)|\\\([\s\S]+?\\\)|\\\[[\s\S]+?\\\]/.test(s));
}

/** @param {string} file */
const countCodeCells = (file) => readNotebook(file).cells.filter((c) => c.cell_type === "code").length;

/** @param {NbCell} c */
const codeSource = (c) => joined(c.source);

/**
 * Whether an executed notebook from --reuse stands for the current source:
 * same code, every code cell run without error, newer than the lib and the kernel.
 * @param {string} executedFile
 * @param {Notebook} source
 * @param {number} libTime newest modification time of lib/ and the kernel launcher
 */
function isFresh(executedFile, source, libTime) {
  if (!fs.existsSync(executedFile)) return false;
  if (fs.statSync(executedFile).mtimeMs <= libTime) return false;
  let ex;
  try {
    ex = readNotebook(executedFile);
  } catch {
    return false;
  }
  const a = source.cells.filter((c) => c.cell_type === "code");
  const b = ex.cells.filter((c) => c.cell_type === "code");
  if (a.length !== b.length) return false;
  return b.every(
    (c, i) =>
      codeSource(c) === codeSource(/** @type {NbCell} */ (a[i])) &&
      (codeSource(c).trim() === "" || c.execution_count != null) &&
      !(c.outputs ?? []).some((o) => o.output_type === "error"),
  );
}

/** Newest modification time of the files a notebook run depends on besides itself. */
function libTime() {
  let newest = 0;
  /** @param {string} p */
  const walk = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  walk(path.join(root, "lib"));
  walk(path.join(root, "scripts", "kernel.js"));
  return newest;
}

// ---------------------------------------------------------------------------
// Worked solutions of the exercises, folded under each exercise
// ---------------------------------------------------------------------------

/** Folder of the worked solutions, inside the notebooks folder. */
const SOLUTIONS = "solutions";

/**
 * The solution notebooks (`solutions/*.ipynb` inside the notebooks folder), as
 * paths relative to it; none when the folder is missing.
 * @param {string} notebooksDir
 */
function solutionFiles(notebooksDir) {
  const dir = path.join(notebooksDir, SOLUTIONS);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => path.join(SOLUTIONS, f));
}

/**
 * The exercise a cell belongs to: its `"makemore": {"exercise": "1.1"}` metadata.
 * @param {NbCell | undefined} cell
 * @returns {string | null}
 */
function exerciseOf(cell) {
  const mm = /** @type {{exercise?: unknown} | undefined} */ (cell?.metadata?.makemore);
  return typeof mm?.exercise === "string" ? mm.exercise : null;
}

/**
 * Puts the cells that solve each exercise (with their outputs) right after the
 * exercise's last cell in a page. The first is marked `solutionStart` and the
 * last `solutionEnd`, and the page template wraps them in a `<details>` block
 * that stays closed until the reader opens it.
 * @param {Notebook} page an executed notebook
 * @param {Notebook[]} solutions executed solution notebooks
 * @returns {Notebook}
 */
function foldSolutions(page, solutions) {
  /** @type {Map<string, NbCell[]>} */
  const byExercise = new Map();
  for (const cell of solutions.flatMap((nb) => nb.cells)) {
    const id = exerciseOf(cell);
    if (id) byExercise.set(id, [...(byExercise.get(id) ?? []), cell]);
  }
  /** @type {NbCell[]} */
  const cells = [];
  page.cells.forEach((cell, i) => {
    cells.push(cell);
    const id = exerciseOf(cell);
    const solution = id && exerciseOf(page.cells[i + 1]) !== id ? byExercise.get(id) : undefined;
    if (!id || !solution) return;
    const copies = structuredClone(solution);
    const mark = (/** @type {number} */ k, /** @type {Record<string, unknown>} */ extra) => {
      const c = /** @type {NbCell} */ (copies[k]);
      const mm = /** @type {Record<string, unknown> | undefined} */ (c.metadata?.makemore);
      c.metadata = { ...c.metadata, makemore: { ...mm, ...extra } };
    };
    mark(0, { solutionStart: `Solution to exercise ${id}` });
    mark(copies.length - 1, { solutionEnd: true });
    cells.push(...copies);
  });
  return { ...page, cells };
}

// ---------------------------------------------------------------------------
// Running things
// ---------------------------------------------------------------------------

/** Process groups of the commands running now (each command runs in its own group). */
/** @type {Set<number>} */
const running = new Set();
/** Scratch folders to remove when the build is interrupted. @type {Set<string>} */
const scratch = new Set();

/**
 * Stops a command's whole process group (the notebook runner and its kernel,
 * TypeDoc and the worker it forks): SIGTERM, then SIGKILL after 5 s.
 * @param {number} pid
 */
function killGroup(pid) {
  /** @param {NodeJS.Signals} sig */
  const send = (sig) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone
    }
  };
  send("SIGTERM");
  setTimeout(() => send("SIGKILL"), 5000).unref();
}

/**
 * Runs a command in its own process group, collecting its output (nothing is echoed).
 * @param {string} cmd
 * @param {string[]} args
 * @param {NodeJS.ProcessEnv} env
 * @param {number} timeoutMs
 * @param {AbortSignal} [signal] stops the command (it then resolves with code 130)
 * @returns {Promise<{code: number, stdout: string, stderr: string, timedOut: boolean}>}
 */
function run(cmd, args, env, timeoutMs, signal) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const pid = child.pid;
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let aborted = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (pid !== undefined) running.add(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      if (pid !== undefined) killGroup(pid);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (pid !== undefined) running.delete(pid);
    };
    child.on("error", (e) => {
      done();
      reject(new BookError(`cannot run ${cmd}: ${e.message}`));
    });
    child.on("close", (code) => {
      done();
      resolve({ code: aborted ? 130 : (code ?? 1), stdout, stderr, timedOut });
    });
  });
}

/**
 * Runs `fn` on every item, at most `limit` at a time; after the first
 * failure (fn resolves to false) no new item is started.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<boolean>} fn
 * @returns {Promise<boolean>} whether every item succeeded
 */
async function pool(items, limit, fn) {
  let next = 0;
  let ok = true;
  const worker = async () => {
    while (ok && next < items.length) {
      const item = /** @type {T} */ (items[next++]);
      if (!(await fn(item))) ok = false;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return ok;
}

/** Checks what the build needs before spending minutes on it. */
function checkPrerequisites() {
  const py = spawnSync(python, ["-c", "import nbclient, nbconvert"], { stdio: "ignore" });
  if (py.status !== 0) throw new BookError(`Jupyter (nbclient, nbconvert) is missing for ${python}: run npm run setup`);
  const spec = path.join(jupyterPath, "kernels", kernelName, "kernel.json");
  if (!fs.existsSync(spec))
    throw new BookError(`the kernel spec ${path.relative(root, spec)} is missing: run npm run setup`);
  if (!fs.existsSync(path.join(root, "node_modules", "plotly.js-dist", "plotly.js"))) {
    throw new BookError("node_modules/plotly.js-dist is missing: run npm run setup");
  }
}

/**
 * Folders where nbconvert looks for templates; the lab template's CSS is shared from there.
 * @returns {string}
 */
function labStaticDir() {
  const r = spawnSync(
    python,
    ["-c", "import jupyter_core.paths as p; print('\\n'.join(p.jupyter_path('nbconvert', 'templates')))"],
    { encoding: "utf8" },
  );
  const dirs = (r.stdout || "").split("\n").filter(Boolean);
  for (const d of [...dirs, "/usr/share/jupyter/nbconvert/templates", "/usr/local/share/jupyter/nbconvert/templates"]) {
    const dir = path.join(d, "lab", "static");
    if (fs.existsSync(path.join(dir, "index.css"))) return dir;
  }
  throw new BookError("nbconvert's lab template (lab/static/index.css) was not found: reinstall jupyter-nbconvert");
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/**
 * One figure of a page, from its `application/vnd.plotly.v1+json` output.
 * @typedef {object} Figure
 * @property {string | null} id the id of its plot container (`<div id="mm-..." class="makemore-plot">`)
 * @property {number} traces number of traces in the figure data
 * @property {number} visibleTraces traces Plotly draws (not `visible: false` or "legendonly")
 * @property {string[]} types trace types
 */

/**
 * Lists the figures of an executed notebook with their trace counts. Their
 * HTML carries no plotly.js (lib/notebook/display.ts): pages load book/plotly.js.
 * @param {Notebook} nb executed notebook
 * @returns {Figure[]}
 */
function listFigures(nb) {
  /** @type {Figure[]} */
  const figures = [];
  for (const cell of nb.cells) {
    for (const out of cell.outputs ?? []) {
      const data = out.data;
      const fig = /** @type {{data?: {type?: string, visible?: unknown}[]} | undefined} */ (data?.[PLOTLY_MIME]);
      if (!data || !fig || !Array.isArray(fig.data)) continue;
      const id = joined(/** @type {string | string[]} */ (data["text/html"] ?? "")).match(/id="(mm-[^"]+)"/);
      figures.push({
        id: id ? (id[1] ?? null) : null,
        traces: fig.data.length,
        visibleTraces: fig.data.filter((t) => t.visible === undefined || t.visible === true).length,
        types: fig.data.map((t) => t.type ?? "scatter"),
      });
    }
  }
  return figures;
}

/**
 * @typedef {object} Page
 * @property {string} source notebook file name
 * @property {string} file page file name
 * @property {string} title
 * @property {string} summaryMd
 * @property {boolean} math
 * @property {Figure[]} figures
 * @property {number} seconds execution time (0 when reused)
 * @property {boolean} reused
 */

/**
 * @param {Page[]} pages
 * @param {number} i
 */
function navHtml(pages, i) {
  const page = /** @type {Page} */ (pages[i]);
  const prev = pages[i - 1];
  const next = pages[i + 1];
  const top = [
    '<nav class="mm-nav" aria-label="book"><div class="mm-nav-inner">',
    '<a class="mm-home" href="index.html">makemore-ts</a>',
    `<span class="mm-current">${escapeHtml(page.title)}</span>`,
    prev ? `<a rel="prev" href="${prev.file}" title="${escapeHtml(prev.title)}">← previous</a>` : "",
    `<a href="index.html">contents</a>`,
    next ? `<a rel="next" href="${next.file}" title="${escapeHtml(next.title)}">next →</a>` : "",
    "</div></nav>",
  ].join("\n");
  const bottom = [
    '<nav class="mm-pager" aria-label="previous and next notebook">',
    prev
      ? `<a class="mm-prev" rel="prev" href="${prev.file}"><small>previous</small>${escapeHtml(prev.title)}</a>`
      : "",
    next
      ? `<a class="mm-next" rel="next" href="${next.file}"><small>next</small>${escapeHtml(next.title)}</a>`
      : '<a class="mm-next" href="index.html"><small>the end</small>back to the contents</a>',
    "</nav>",
  ].join("\n");
  return { top, bottom };
}

const MATHJAX_HTML = [
  "<script>",
  "window.MathJax = {",
  "  tex2jax: { inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true },",
  "  TeX: { equationNumbers: { autoNumber: 'AMS' } },",
  "  CommonHTML: { linebreaks: { automatic: true } },",
  "  showMathMenu: false,",
  "  messageStyle: 'none'",
  "};",
  "</script>",
  '<script src="assets/mathjax/MathJax.js?config=TeX-AMS_CHTML-full"></script>',
].join("\n");

/**
 * Fills a converted page's placeholders: title, navigation, MathJax.
 * @param {string} html
 * @param {Page[]} pages
 * @param {number} i
 * @param {boolean} mathjax whether MathJax was copied into the book
 */
function finishPage(html, pages, i, mathjax) {
  const page = /** @type {Page} */ (pages[i]);
  const { top, bottom } = navHtml(pages, i);
  const placeholders = ["<!-- makemore:nav-top -->", "<!-- makemore:nav-bottom -->", "<!-- makemore:mathjax -->"];
  for (const p of placeholders) {
    if (!html.includes(p)) throw new BookError(`${page.file}: the page template lost its ${p} placeholder`);
  }
  if (INLINE_PLOTLY.test(html)) throw new BookError(`${page.file}: a notebook output carries plotly.js inline`);
  return html
    .replace(/<title>[\s\S]*?<\/title>/, () => `<title>${escapeHtml(page.title)} · makemore-ts</title>`)
    .replace("<!-- makemore:nav-top -->", () => top)
    .replace("<!-- makemore:nav-bottom -->", () => bottom)
    .replace("<!-- makemore:mathjax -->", () => (page.math && mathjax ? MATHJAX_HTML : ""));
}

/**
 * @param {Page[]} pages
 * @param {{full: boolean, docs: boolean, seconds: number}} info
 */
function indexHtml(pages, info) {
  const items = pages
    .map(
      (p) => `<li>
  <a href="${p.file}">${escapeHtml(p.title)}</a>
  <p>${inlineMarkdown(p.summaryMd)}</p>
  <p class="mm-meta">${escapeHtml(p.source)} · ${p.figures.length} figure${p.figures.length === 1 ? "" : "s"}</p>
</li>`,
    )
    .join("\n");
  const mode = info.full
    ? "full mode (the lectures' step counts)"
    : "quick mode (small step counts; <code>npm run book -- --full</code> for the lectures' numbers)";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>makemore-ts · the book</title>
<link rel="stylesheet" href="assets/book.css">
</head>
<body class="makemore-book">
<nav class="mm-nav" aria-label="book"><div class="mm-nav-inner">
<a class="mm-home" href="index.html">makemore-ts</a>
<span class="mm-current">contents</span>
${info.docs ? '<a href="api/index.html">API reference</a>' : ""}
${pages[0] ? `<a rel="next" href="${pages[0].file}">start →</a>` : ""}
</div></nav>
<main class="makemore-page mm-index">
<h1>makemore-ts</h1>
<p class="mm-lead">Karpathy's makemore lectures rebuilt as TypeScript notebooks, executed, with every output and interactive plot.</p>
<ol class="mm-toc">
${items}
</ol>
${
  info.docs
    ? '<p><a href="api/index.html">API reference of <code>lib/</code></a>: every function and class the notebooks import, generated by TypeDoc from the TSDoc comments.</p>'
    : "<p>API reference not built (<code>--no-docs</code>); <code>npm run docs</code> writes it to docs/api/.</p>"
}
<p class="mm-build">Built ${escapeHtml(new Date().toISOString().replace(/\.\d+Z$/, "Z"))} in ${mode}, in ${Math.round(info.seconds)} s. Works offline: open this file in a browser.</p>
</main>
</body>
</html>
`;
}

/**
 * Copies the parts of MathJax the pages use into assets/mathjax.
 * @param {string} assets
 * @returns {boolean} whether MathJax is available
 */
function copyMathJax(assets) {
  if (!fs.existsSync(path.join(MATHJAX_DIR, "MathJax.js"))) {
    log(`warning: ${MATHJAX_DIR} is missing (apt-get install libjs-mathjax fonts-mathjax); formulas stay as TeX`);
    return false;
  }
  for (const part of MATHJAX_PARTS) {
    const from = path.join(MATHJAX_DIR, part);
    if (fs.existsSync(from))
      fs.cpSync(from, path.join(assets, "mathjax", part), { recursive: true, dereference: true });
  }
  return true;
}

/** Placeholder URL of the book's index in the API docs' header, made relative per page afterwards. */
const DOCS_BOOK_LINK = "makemore-book-index.placeholder";

/**
 * Starts TypeDoc with typedoc.json, writing to `out`, with a header link back to the book.
 * @param {string} work a scratch folder
 * @param {string} out
 * @param {AbortSignal} signal stops TypeDoc when the build fails
 */
function startDocs(work, out, signal) {
  const options = path.join(work, "typedoc.json");
  const config = {
    extends: [path.join(root, "typedoc.json")],
    navigationLinks: { "makemore-ts book": DOCS_BOOK_LINK },
  };
  fs.writeFileSync(options, JSON.stringify(config));
  const typedoc = path.join(root, "node_modules", "typedoc", "bin", "typedoc");
  return run(process.execPath, [typedoc, "--options", options, "--out", out], process.env, 10 * 60 * 1000, signal);
}

/**
 * Prepares the API docs for file://: the "makemore-ts book" header link points
 * at the book's index relative to each page, and icons refer to the sprite
 * that TypeDoc's icons.js puts into every page (`#icon-x`) instead of
 * assets/icons.svg, which Chromium refuses to load from file:// (a console
 * error per icon before icons.js rewrites them itself).
 * @param {string} dir the API docs folder
 * @param {string} index the book's index.html
 */
function prepareDocs(dir, index) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) prepareDocs(file, index);
    else if (entry.name.endsWith(".html")) {
      const rel = path.relative(path.dirname(file), index).split(path.sep).join("/");
      const html = fs
        .readFileSync(file, "utf8")
        .split(`href="${DOCS_BOOK_LINK}"`)
        .join(`href="${rel}"`)
        .replace(/(<use\s+href=")(?:\.\.\/)*assets\/icons\.svg(#icon-[^"]+")/g, "$1$2");
      fs.writeFileSync(file, html);
    }
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

/** @param {string[]} argv */
async function main(argv) {
  const started = Date.now();
  const opts = parseOptions(argv);
  checkPrerequisites();
  const files = fs
    .readdirSync(opts.notebooks)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
  if (!files.length) throw new BookError(`no notebooks (*.ipynb) in ${opts.notebooks}`, 2);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-book-"));
  scratch.add(work);
  const stopDocs = new AbortController();
  /** @type {Promise<unknown> | null} */
  let docs = null;
  try {
    const executedDir = path.join(work, "executed");
    const stage = path.join(work, "book");
    fs.mkdirSync(executedDir);
    fs.mkdirSync(path.join(stage, "assets"), { recursive: true });

    // TypeDoc runs while the notebooks execute, with a link back to the book in its header.
    const docsRun = opts.docs ? startDocs(work, path.join(stage, "api"), stopDocs.signal) : null;
    docs = docsRun;

    /** @type {Page[]} */
    const pages = files.map((f) => {
      const nb = readNotebook(path.join(opts.notebooks, f));
      if (nb.metadata.kernelspec?.name !== kernelName) {
        throw new BookError(`${f}: kernel '${nb.metadata.kernelspec?.name ?? "none"}' is not ${kernelName}`, 2);
      }
      const { title, summaryMd } = describe(nb, f.replace(/\.ipynb$/, ""));
      return {
        source: f,
        file: f.replace(/\.ipynb$/, ".html"),
        title,
        summaryMd,
        math: hasMath(nb),
        figures: [],
        seconds: 0,
        reused: false,
      };
    });

    const mode = opts.full ? "full" : "quick";
    /** @type {NodeJS.ProcessEnv} */
    const env = {
      ...process.env,
      JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    };
    if (opts.full) delete env.MAKEMORE_QUICK;
    else env.MAKEMORE_QUICK = "1";
    const newestLib = opts.reuse ? libTime() : 0;
    /** @type {string[]} */
    const failures = [];

    // the worked solutions run too: their cells are folded into the pages of their exercises
    /** @type {Page[]} */
    const solutionRuns = solutionFiles(opts.notebooks).map((source) => ({
      source,
      file: "",
      title: source,
      summaryMd: "",
      math: false,
      figures: [],
      seconds: 0,
      reused: false,
    }));
    if (solutionRuns.length) fs.mkdirSync(path.join(executedDir, SOLUTIONS));
    const runs = [...pages, ...solutionRuns];
    log(`executing ${runs.length} notebook${runs.length === 1 ? "" : "s"} in ${mode} mode (${opts.jobs} at a time)`);
    const allOk = await pool(runs, opts.jobs, async (page) => {
      const src = path.join(opts.notebooks, page.source);
      const dest = path.join(executedDir, page.source);
      if (opts.reuse) {
        const candidate = path.join(opts.reuse, path.basename(page.source));
        if (isFresh(candidate, readNotebook(src), newestLib)) {
          fs.copyFileSync(candidate, dest);
          page.reused = true;
          log(`${page.source}: reusing ${shown(candidate)}`);
          return true;
        }
      }
      const t0 = Date.now();
      const r = await run(
        python,
        [path.join(root, "scripts", "run_notebook.py"), src, "--out", dest, "--timeout", String(opts.timeout)],
        env,
        // the runner bounds each cell; this bounds a runner that hangs outside the cells
        (opts.timeout * Math.max(1, countCodeCells(src)) + 120) * 1000,
      );
      page.seconds = (Date.now() - t0) / 1000;
      if (r.code !== 0) {
        const why = r.timedOut ? "timed out" : `exit code ${r.code}`;
        failures.push(`${page.source} failed (${why}):\n${r.stderr.trim() || r.stdout.trim() || "(no output)"}`);
        return false;
      }
      log(`${page.source}: executed in ${page.seconds.toFixed(1)} s`);
      return true;
    });
    if (!allOk) {
      for (const f of failures) console.error(`book: ${f}`);
      throw new BookError(
        `${failures.length} notebook${failures.length === 1 ? "" : "s"} failed; ${shown(opts.out)} was not changed`,
      );
    }

    // Each exercise's solution, folded under it; then figures and their traces, for the manifest.
    const solved = solutionRuns.map((r) => readNotebook(path.join(executedDir, r.source)));
    for (const page of pages) {
      const file = path.join(executedDir, page.source);
      const nb = solved.length ? foldSolutions(readNotebook(file), solved) : readNotebook(file);
      if (solved.length) fs.writeFileSync(file, JSON.stringify(nb));
      page.figures = listFigures(nb);
    }

    // HTML: one nbconvert call for all pages, with the book template.
    const conv = await run(
      python,
      [
        "-m",
        "nbconvert",
        "--to",
        "html",
        "--template",
        TEMPLATE_NAME,
        `--TemplateExporter.extra_template_basedirs=${TEMPLATE_DIR}`,
        "--no-prompt",
        "--output-dir",
        stage,
        ...pages.map((p) => path.join(executedDir, p.source)),
      ],
      env,
      10 * 60 * 1000,
    );
    if (conv.code !== 0) throw new BookError(`nbconvert failed:\n${conv.stderr.trim()}`);

    const mathjax = pages.some((p) => p.math) ? copyMathJax(path.join(stage, "assets")) : false;
    pages.forEach((page, i) => {
      const file = path.join(stage, page.file);
      if (!fs.existsSync(file)) throw new BookError(`nbconvert wrote no ${page.file}`);
      fs.writeFileSync(file, finishPage(fs.readFileSync(file, "utf8"), pages, i, mathjax));
    });

    // Shared assets: plotly.js once, the lab CSS, the book CSS.
    fs.copyFileSync(path.join(root, "node_modules", "plotly.js-dist", "plotly.js"), path.join(stage, "plotly.js"));
    const lab = labStaticDir();
    fs.copyFileSync(path.join(lab, "index.css"), path.join(stage, "assets", "jupyterlab.css"));
    fs.copyFileSync(path.join(lab, "theme-light.css"), path.join(stage, "assets", "jupyterlab-theme-light.css"));
    fs.copyFileSync(path.join(TEMPLATE_DIR, "book.css"), path.join(stage, "assets", "book.css"));

    if (docsRun) {
      const d = await docsRun;
      if (d.code !== 0 || !fs.existsSync(path.join(stage, "api", "index.html"))) {
        throw new BookError(`TypeDoc failed:\n${(d.stdout + d.stderr).trim()}`);
      }
      prepareDocs(path.join(stage, "api"), path.join(stage, "index.html"));
    }

    const seconds = (Date.now() - started) / 1000;
    fs.writeFileSync(path.join(stage, "index.html"), indexHtml(pages, { full: opts.full, docs: opts.docs, seconds }));
    const manifest = {
      mode,
      built: new Date().toISOString(),
      api: opts.docs ? "api/index.html" : null,
      pages: pages.map((p) => ({
        file: p.file,
        source: p.source,
        title: p.title,
        summary: p.summaryMd,
        math: p.math,
        reused: p.reused,
        seconds: Math.round(p.seconds * 10) / 10,
        figures: p.figures,
      })),
    };
    fs.writeFileSync(path.join(stage, "book.json"), JSON.stringify(manifest, null, 2) + "\n");

    fs.rmSync(opts.out, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.cpSync(stage, opts.out, { recursive: true });
    log(
      `wrote ${shown(path.join(opts.out, "index.html"))} (${pages.length} notebook page${pages.length === 1 ? "" : "s"}, ${mode} mode${opts.docs ? ", API docs" : ""}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    // a failed build does not leave TypeDoc writing into the removed scratch folder
    stopDocs.abort();
    await docs?.catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
    scratch.delete(work);
  }
}

module.exports = {
  INLINE_PLOTLY,
  describe,
  firstSentence,
  foldSolutions,
  hasMath,
  inlineMarkdown,
  listFigures,
};

if (require.main === module) {
  // commands run in their own process groups: Ctrl-C must reach them through us
  for (const sig of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
    process.on(sig, () => {
      for (const pid of running) killGroup(pid);
      for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
      console.error(`book: interrupted (${sig}); the book was not changed`);
      process.exit(130);
    });
  }
  main(process.argv.slice(2)).catch((e) => {
    if (e instanceof BookError) {
      console.error(`book: ${e.message}`);
      process.exit(e.code);
    }
    console.error(`book: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
}
