/**
 * Live Jupyter in a real browser: a throwaway `jupyter notebook` on a free
 * loopback port with a token serves copies of notebooks 01, 09 and 10;
 * headless Chromium opens each, runs every cell through the menus (Kernel →
 * Restart & Run All → confirm), waits until every cell has run and the kernel
 * is idle, and checks that no cell shows an error and every plot drew. For 01:
 * the count heatmap, with plotly.js loaded from the server, not from the
 * notebook. For 09 and 10: each live table of runs (runsBoard) stayed one
 * table, updated in place until every run in it was done. Then it saves the
 * notebook, checks the file is small, reopens it and checks that every plot
 * draws again from the saved outputs. The server is stopped in afterAll,
 * also when a test fails.
 */
import * as fs from "fs";
import * as path from "path";
import type { Page } from "playwright-core";
import { PLOTLY_NBEXTENSION } from "../../lib/notebook/display";
import { startJupyter, type JupyterServer } from "./support/jupyter";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { launchChromium } = require("../../scripts/chromium.js") as typeof import("../../scripts/chromium.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string };

/** The few browser globals the page functions below use (tsconfig has no DOM lib). */
declare const window: {
  Jupyter?: { notebook?: { _fully_loaded?: boolean; save_notebook(): Promise<unknown> } };
  Plotly?: unknown;
};
/** A table element, as far as the checks of live tables read it. */
interface HtmlTable {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
}
declare const document: {
  querySelector(selector: string): unknown;
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; querySelector(s: string): unknown }>;
};

const NOTEBOOK = "01-bigram-counts.ipynb";
/** The notebooks with long runs, and the live tables of runs each shows (one per training cell). */
const LIVE_RUNS: [string, number][] = [
  ["09-makemore-models.ipynb", 3],
  ["10-long-lines.ipynb", 1],
];
const ARTIFACTS = path.join(paths.root, "test-artifacts", "jupyter");
/** Notebook 01 needs ~15 s in the kernel; compilation on a busy machine can take several times that. */
const RUN_TIMEOUT_MS = 240000;
/** Notebooks 09 and 10 take one to two minutes in quick mode on an idle machine, several times that on a busy one. */
const LONG_RUN_TIMEOUT_MS = 900000;

let server: JupyterServer | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const served = [NOTEBOOK, ...LIVE_RUNS.map(([nb]) => nb)].map((nb) => path.join(paths.root, "notebooks", nb));
  server = await startJupyter(served, { MAKEMORE_QUICK: "1" });
  browser = await launchChromium({ viewport: { width: 1400, height: 1250 } });
}, 120000);

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.stop();
  }
}, 60000);

/** Text of every code cell's prompt, e.g. "In [3]:" or "In [*]:". */
function prompts(page: Page): Promise<string[]> {
  return page.$$eval("#notebook .cell.code_cell .input_prompt", (els) =>
    els.map((e) => (e.textContent ?? "").replace(/\s+/g, " ").trim()),
  );
}

/** Opens a served notebook and waits until it is loaded and its kernel (the project's) is idle; returns its code cell count. */
async function openNotebook(page: Page, notebook: string): Promise<number> {
  if (!server) throw new Error("the server did not start");
  await page.goto(`${server.url}notebooks/${notebook}?token=${server.token}`, { timeout: 60000 });
  await page.waitForFunction(() => Boolean(window.Jupyter?.notebook?._fully_loaded), undefined, { timeout: 60000 });
  await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 90000 });
  expect((await page.textContent(".kernel_indicator_name"))?.trim()).toBe("TypeScript (makemore-ts)");
  return (await prompts(page)).length;
}

/** Kernel menu → Restart & Run All → confirm; waits until every code cell has a number and the kernel is idle. */
async function restartAndRunAll(page: Page, cells: number, timeoutMs: number): Promise<void> {
  await page.click("#kernellink");
  await page.click("#restart_run_all > a");
  const confirm = page.locator(".modal-dialog .modal-footer button", { hasText: "Restart and Run All Cells" });
  await confirm.click({ timeout: 10000 });
  await page.waitForFunction(
    () => {
      const ps = Array.from(document.querySelectorAll("#notebook .cell.code_cell .input_prompt"));
      const idle = document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
      return idle && ps.length > 0 && ps.every((p) => /\[\d+\]/.test(p.textContent ?? ""));
    },
    undefined,
    { timeout: timeoutMs, polling: 500 },
  );
  expect(await prompts(page)).toHaveLength(cells);
}

/** What cells show as errors: runtime errors (error outputs) and compile errors (stderr). */
function cellErrors(page: Page): Promise<string[]> {
  return page.$$eval("#notebook .output_area .output_error, #notebook .output_area .output_stderr", (els) =>
    els.map((e) => (e.textContent ?? "").trim().slice(0, 500)),
  );
}

/** Waits until `n` plot containers have drawn Plotly's SVG. */
async function plotsDrawn(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (count) =>
      Array.from(document.querySelectorAll("#notebook .output_area .makemore-plot")).filter(
        (el) => el.querySelector("svg.main-svg") !== null,
      ).length === count,
    n,
    { timeout: 60000, polling: 500 },
  );
}

/** Saves the notebook, checks the file is small and holds its figures, reloads it and waits for its plots. */
async function saveAndReopen(page: Page, notebook: string, plots: number): Promise<void> {
  if (!server) throw new Error("the server did not start");
  await page.evaluate(() => window.Jupyter?.notebook?.save_notebook());
  const saved = path.join(server.notebookDir, notebook);
  expect(fs.statSync(saved).size).toBeLessThan(2_000_000);
  expect(fs.readFileSync(saved, "utf8")).toContain("application/vnd.plotly.v1+json");
  await page.reload();
  await page.waitForFunction(() => Boolean(window.Jupyter?.notebook?._fully_loaded), undefined, { timeout: 60000 });
  await plotsDrawn(page, plots);
}

/** Fails with the server's last lines attached, after a screenshot of what the user would have seen. */
async function failWithLog(page: Page, name: string, e: unknown): Promise<never> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`) }).catch(() => undefined);
  const log = server?.log().split("\n").slice(-40).join("\n") ?? "";
  throw new Error(`${(e as Error).message}\n--- jupyter log (last lines) ---\n${log}`);
}

test(
  `${NOTEBOOK}: Restart & Run All in Jupyter Notebook draws the heatmap without errors`,
  async () => {
    if (!server || !browser) throw new Error("the server or the browser did not start");
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    try {
      const cells = await openNotebook(page, NOTEBOOK);
      expect(cells).toBeGreaterThan(5);
      await restartAndRunAll(page, cells, RUN_TIMEOUT_MS);
      expect(await cellErrors(page)).toEqual([]);

      // the count heatmap: a plot container with Plotly's SVG and a heatmap trace with its image
      const heatmap = page
        .locator("#notebook .output_area .makemore-plot", { has: page.locator("g.hm image") })
        .first();
      await heatmap.waitFor({ state: "visible", timeout: 30000 });
      const drawn = await heatmap.evaluate((el) => ({
        svg: el.querySelectorAll("svg.main-svg").length,
        heatmaps: el.querySelectorAll(".heatmaplayer > g.hm").length,
        traces: ((el as unknown as { data?: { type: string }[] }).data ?? []).map((t) => t.type),
        title: el.querySelector(".gtitle")?.textContent ?? "",
        width: el.getBoundingClientRect().width,
        height: el.getBoundingClientRect().height,
      }));
      expect(drawn.svg).toBeGreaterThan(0);
      expect(drawn.heatmaps).toBe(1);
      expect(drawn.traces).toEqual(["heatmap"]);
      expect(drawn.width).toBeGreaterThan(300);
      expect(drawn.height).toBeGreaterThan(300);
      expect(pageErrors).toEqual([]);

      await heatmap.scrollIntoViewIfNeeded();
      await heatmap.screenshot({ path: path.join(ARTIFACTS, "01-heatmap.png") });
      await page.screenshot({ path: path.join(ARTIFACTS, "01-notebook.png") });

      // plotly.js came from the server (the project's .jupyter/nbextensions), once for the page
      const loads = await page.$$eval("script[src]", (els) =>
        els.map((e) => e.getAttribute("src") ?? "").filter((src) => src.includes("plotly")),
      );
      expect(loads).toEqual([`/${PLOTLY_NBEXTENSION}`]);

      // saved with its outputs, the notebook stays small and reopens with its plots drawn
      const plots = await page.locator("#notebook .output_area .makemore-plot").count();
      expect(plots).toBeGreaterThan(1);
      await saveAndReopen(page, NOTEBOOK, plots);
      await page.screenshot({ path: path.join(ARTIFACTS, "01-reopened.png") });
      expect(pageErrors).toEqual([]);
    } catch (e) {
      await failWithLog(page, "01", e);
    } finally {
      await page.close();
    }
  },
  RUN_TIMEOUT_MS + 180000,
);

test.each(LIVE_RUNS)(
  "%s: Restart & Run All draws every plot, each live table of runs ends with every run done",
  async (notebook, boards) => {
    if (!server || !browser) throw new Error("the server or the browser did not start");
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const name = notebook.slice(0, 2);
    try {
      const cells = await openNotebook(page, notebook);
      await restartAndRunAll(page, cells, LONG_RUN_TIMEOUT_MS);
      expect(await cellErrors(page)).toEqual([]);
      const plots = await page.locator("#notebook .output_area .makemore-plot").count();
      expect(plots).toBeGreaterThan(2);
      await plotsDrawn(page, plots);
      // a live table of runs is one output updated in place: one table per training cell, every run done
      const status = await page.$$eval("#notebook .output_area table.makemore-table", (tables) =>
        (tables as unknown as HtmlTable[])
          .filter((t) =>
            Array.from(t.querySelectorAll("thead th:last-child")).some((th) => th.textContent === "status"),
          )
          .map((t) => Array.from(t.querySelectorAll("tbody td:last-child")).map((td) => td.textContent ?? "")),
      );
      expect(status).toHaveLength(boards);
      for (const runs of status) expect(runs.every((s) => s === "done")).toBe(true);
      expect(pageErrors).toEqual([]);
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-notebook.png`), fullPage: true });
      await saveAndReopen(page, notebook, plots);
      expect(pageErrors).toEqual([]);
    } catch (e) {
      await failWithLog(page, name, e);
    } finally {
      await page.close();
    }
  },
  LONG_RUN_TIMEOUT_MS + 180000,
);
