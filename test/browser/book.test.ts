/**
 * The book in a real browser. beforeAll builds it with scripts/book.js into
 * test-results/book/ (quick mode, with the API docs), reusing the executed
 * notebooks that test/notebooks.test.ts left in test-results/notebooks/ when
 * they match the current sources and are newer than lib/ (else it executes
 * them itself). Then headless Chromium opens every page from file:// and
 * checks: every plot container drew Plotly's SVG with as many traces as the
 * figure data has, nothing was fetched from the network, no console error,
 * navigation links, and a screenshot of each page in test-artifacts/book/.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import type { Page } from "playwright-core";
import { listNotebooks } from "../support/notebooks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const book = require("../../scripts/book.js") as typeof import("../../scripts/book.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { launchChromium } = require("../../scripts/chromium.js") as typeof import("../../scripts/chromium.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string };

const BOOK = path.join(paths.root, "test-results", "book");
const ARTIFACTS = path.join(paths.root, "test-artifacts", "book");
/** Building may execute every notebook (quick mode) when no fresh runs can be reused. */
const BUILD_TIMEOUT_MS = 20 * 60 * 1000;

interface ManifestFigure {
  id: string | null;
  traces: number;
  visibleTraces: number;
  types: string[];
}
interface Manifest {
  mode: string;
  api: string | null;
  pages: { file: string; source: string; title: string; summary: string; figures: ManifestFigure[] }[];
}

const notebooks = listNotebooks();
const pageOf = (nb: string) => nb.replace(/\.ipynb$/, ".html");

let manifest: Manifest;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

/** Runs the book build; rejects with its output when it fails. */
function buildBook(): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = [
      path.join(paths.root, "scripts", "book.js"),
      "--out",
      BOOK,
      "--reuse",
      path.join(paths.root, "test-results", "notebooks"),
    ];
    fs.mkdirSync(path.join(paths.root, "test-results", "notebooks"), { recursive: true });
    const child = spawn(process.execPath, args, { cwd: paths.root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), BUILD_TIMEOUT_MS - 30000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`npm run book failed (exit ${code}):\n${out}`));
    });
  });
}

/** What a page did while it loaded: console errors, uncaught exceptions, requests off file://. */
interface PageWatch {
  errors: string[];
  external: string[];
}

async function open(file: string): Promise<{ page: Page; watch: PageWatch }> {
  if (!browser) throw new Error("the browser did not start");
  const page = await browser.context.newPage();
  const watch: PageWatch = { errors: [], external: [] };
  page.on("console", (m) => {
    if (m.type() === "error") watch.errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => watch.errors.push(`exception: ${e.message}`));
  page.on("requestfailed", (r) => watch.errors.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on("request", (r) => {
    if (!/^(file|data|blob|about):/.test(r.url())) watch.external.push(r.url());
  });
  await page.goto(pathToFileURL(path.join(BOOK, file)).href, { waitUntil: "load", timeout: 60000 });
  return { page, watch };
}

describe("book build (pure parts)", () => {
  test("takes the title, and opening sentences of the first paragraph as the summary", () => {
    const notebook = (md: string, metadata: Record<string, unknown> = {}) => ({
      cells: [{ cell_type: "markdown", source: md }],
      metadata,
      nbformat: 4,
      nbformat_minor: 5,
    });
    const long = "We train the MLP of Bengio et al. 2003 (a **neural** model) on three characters of context.";
    expect(book.describe(notebook(`# 03 · An MLP\n\n${long} Then more.\n\n## Next`), "fallback")).toEqual({
      title: "03 · An MLP",
      summaryMd: long,
    });
    // a short first sentence is followed by the next one
    expect(
      book.describe(
        notebook(
          "# 02\n\nShort one. Here we build the same model a second way, as a network trained by gradient descent. More.",
        ),
        "x",
      ),
    ).toEqual({
      title: "02",
      summaryMd: "Short one. Here we build the same model a second way, as a network trained by gradient descent.",
    });
    expect(book.describe(notebook("# T\n\nA. B.", { makemore: { summary: "Given." } }), "x").summaryMd).toBe("Given.");
    expect(book.inlineMarkdown("it **counts** `a<b`")).toBe("it <strong>counts</strong> <code>a&lt;b</code>");
  });

  test("counts the traces of each figure", () => {
    const html = '<div id="mm-abc" class="makemore-plot"></div>';
    const nb = {
      cells: [
        {
          cell_type: "code",
          source: "show(fig)",
          outputs: [
            {
              output_type: "display_data",
              data: {
                "application/vnd.plotly.v1+json": { data: [{ type: "scatter" }, { type: "bar", visible: false }] },
                "text/html": html,
              },
            },
          ],
        },
      ],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    };
    expect(book.listFigures(nb)).toEqual([{ id: "mm-abc", traces: 2, visibleTraces: 1, types: ["scatter", "bar"] }]);
  });

  test("recognizes plotly.js by its opening licence header", () => {
    const bundle = fs.readFileSync(path.join(paths.root, "node_modules", "plotly.js-dist", "plotly.js"), "utf8");
    expect(book.INLINE_PLOTLY.test(bundle.slice(0, 200))).toBe(true);
  });
});

describe("the book", () => {
  beforeAll(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await buildBook();
    manifest = JSON.parse(fs.readFileSync(path.join(BOOK, "book.json"), "utf8")) as Manifest;
    browser = await launchChromium();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
  }, 30000);

  test("has a page per notebook, an index linking them with summaries, one shared plotly.js", () => {
    expect(manifest.pages.map((p) => p.source)).toEqual(notebooks);
    const index = fs.readFileSync(path.join(BOOK, "index.html"), "utf8");
    for (const p of manifest.pages) {
      expect(index).toContain(`href="${p.file}"`);
      expect(p.summary.length).toBeGreaterThan(10);
      const html = fs.readFileSync(path.join(BOOK, p.file), "utf8");
      // the bundle is not inlined: pages stay small and load the shared copy in <head>
      expect(html).not.toMatch(book.INLINE_PLOTLY);
      expect(html.length).toBeLessThan(3_000_000);
      expect(html.slice(0, html.indexOf("</head>"))).toContain('<script src="plotly.js"></script>');
    }
    expect(index).toContain('href="api/index.html"');
    const bundles = fs.readdirSync(BOOK).filter((f) => /plotly.*\.js$/.test(f));
    expect(bundles).toEqual(["plotly.js"]);
  });

  test("index page opens offline without errors and links every notebook", async () => {
    const { page, watch } = await open("index.html");
    try {
      const links = await page.$$eval(".mm-toc a", (as) => as.map((a) => a.getAttribute("href")));
      expect(links).toEqual(notebooks.map(pageOf));
      await page.screenshot({ path: path.join(ARTIFACTS, "index.png"), fullPage: true });
      expect(watch.errors).toEqual([]);
      expect(watch.external).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test("API reference opens offline without errors", async () => {
    expect(manifest.api).toBe("api/index.html");
    const { page, watch } = await open("api/index.html");
    try {
      expect(await page.title()).toMatch(/makemore-ts/);
      expect(await page.locator("a[href*='functions/']").count()).toBeGreaterThan(5);
      // the header links back to the book, from every depth
      expect(await page.locator("a[href='../index.html']", { hasText: "makemore-ts book" }).count()).toBeGreaterThan(0);
      const sub = fs.readdirSync(path.join(BOOK, "api", "functions"))[0] ?? "";
      expect(fs.readFileSync(path.join(BOOK, "api", "functions", sub), "utf8")).toContain('href="../../index.html"');
      await page.screenshot({ path: path.join(ARTIFACTS, "api.png") });
      expect(watch.errors).toEqual([]);
      expect(watch.external).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test("each exercise's worked solution is folded under it, with its check saying correct or why not", () => {
    const exercises: Record<string, string[]> = {
      "01-bigram-counts.html": ["1.1", "1.2", "1.3"],
      "02-neural-bigram.html": ["1.4", "1.5", "1.6"],
      "03-mlp.html": ["2.1", "2.2", "2.3"],
      "04-initialization.html": ["3.1"],
      "05-batchnorm.html": ["3.2"],
      "08-wavenet.html": ["5.1"],
    };
    for (const p of manifest.pages) {
      const html = fs.readFileSync(path.join(BOOK, p.file), "utf8");
      const blocks = [
        ...html.matchAll(
          /<details class="mm-solution"><summary>Solution to exercise ([\d.]+)<\/summary>([\s\S]*?)<\/details>/g,
        ),
      ];
      expect({ page: p.file, solutions: blocks.map((m) => m[1]) }).toEqual({
        page: p.file,
        solutions: exercises[p.file] ?? [],
      });
      for (const [, id, body] of blocks)
        expect(body).toMatch(new RegExp(`Exercise ${id!.replace(".", "\\.")} \\([^)]*\\): (correct|not yet)`));
    }
  });

  test.each(notebooks)("%s: every plot drew its traces, no console error, navigation", async (nb) => {
    const i = notebooks.indexOf(nb);
    const entry = manifest.pages.find((p) => p.source === nb);
    if (!entry) throw new Error(`${nb} is not in the book's manifest`);
    const { page, watch } = await open(entry.file);
    try {
      // worked solutions come folded (closed); open them, so that the plots inside are drawn and sized too
      const folded = await page.$$eval("details.mm-solution", (ds) =>
        ds.map((d) => (d as unknown as { open: boolean }).open),
      );
      expect(folded.filter((open) => open)).toEqual([]);
      await page.$$eval("details.mm-solution", (ds) =>
        ds.forEach((d) => ((d as unknown as { open: boolean }).open = true)),
      );
      // containers: as many as figures in the notebook's outputs, each drawn by Plotly
      const ids = await page.$$eval(".makemore-plot", (els) => els.map((e) => e.id));
      expect(ids).toEqual(entry.figures.map((f) => f.id));
      for (const [k, fig] of entry.figures.entries()) {
        const sel = `[id="${fig.id}"]`;
        await page.waitForSelector(`${sel} svg.main-svg`, { timeout: 30000 });
        const drawn = await page.$eval(sel, (el) => ({
          // trace groups Plotly drew: one <g> per trace in each cartesian layer, plus pie-like traces
          rendered: el.querySelectorAll(".mlayer > g, .pielayer > g.trace").length,
          data: ((el as unknown as { data?: unknown[] }).data ?? []).length,
          heatmapImages: el.querySelectorAll("g.hm image").length,
          width: el.getBoundingClientRect().width,
          height: el.getBoundingClientRect().height,
        }));
        expect({ figure: k, ...drawn }).toMatchObject({
          figure: k,
          rendered: fig.visibleTraces,
          data: fig.traces,
          heatmapImages: fig.types.filter((t) => t === "heatmap").length,
        });
        expect(drawn.width).toBeGreaterThan(200);
        expect(drawn.height).toBeGreaterThan(150);
        await page
          .locator(sel)
          .screenshot({ path: path.join(ARTIFACTS, `${pageOf(nb).replace(/\.html$/, "")}-fig${k + 1}.png`) });
      }
      // navigation: contents, previous and next notebook
      expect(await page.locator(".mm-nav a[href='index.html']").count()).toBeGreaterThan(0);
      const prev = await page.$$eval(".mm-nav a[rel=prev]", (as) => as.map((a) => a.getAttribute("href")));
      const next = await page.$$eval(".mm-nav a[rel=next]", (as) => as.map((a) => a.getAttribute("href")));
      expect(prev).toEqual(i > 0 ? [pageOf(notebooks[i - 1] ?? "")] : []);
      expect(next).toEqual(i < notebooks.length - 1 ? [pageOf(notebooks[i + 1] ?? "")] : []);
      expect(await page.title()).toBe(`${entry.title} · makemore-ts`);

      await page.screenshot({ path: path.join(ARTIFACTS, pageOf(nb).replace(/\.html$/, ".png")), fullPage: true });
      expect(watch.errors).toEqual([]);
      expect(watch.external).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
