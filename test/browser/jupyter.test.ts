/**
 * Live Jupyter in a real browser: a throwaway `jupyter notebook` on a free
 * loopback port with a token serves a copy of notebook 01; headless Chromium
 * opens it, runs every cell through the menus (Kernel → Restart & Run All →
 * confirm), waits until every cell has run and the kernel is idle, then checks
 * that the count heatmap was drawn (plotly.js loaded from the server, not
 * from the notebook) and that no cell shows an error. Then it saves the
 * notebook, checks the file is small, reopens it and checks that every plot
 * draws again from the saved outputs. The server is stopped in afterAll,
 * also when the test fails.
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
declare const document: {
  querySelector(selector: string): unknown;
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; querySelector(s: string): unknown }>;
};

const NOTEBOOK = "01-bigram-counts.ipynb";
const ARTIFACTS = path.join(paths.root, "test-artifacts", "jupyter");
/** Notebook 01 needs ~15 s in the kernel; compilation on a busy machine can take several times that. */
const RUN_TIMEOUT_MS = 240000;

let server: JupyterServer | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = await startJupyter([path.join(paths.root, "notebooks", NOTEBOOK)], { MAKEMORE_QUICK: "1" });
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

test(
  `${NOTEBOOK}: Restart & Run All in Jupyter Notebook draws the heatmap without errors`,
  async () => {
    if (!server || !browser) throw new Error("the server or the browser did not start");
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    try {
      await page.goto(`${server.url}notebooks/${NOTEBOOK}?token=${server.token}`, { timeout: 60000 });
      // the notebook is loaded and its kernel (the project's) has started
      await page.waitForFunction(() => Boolean(window.Jupyter?.notebook?._fully_loaded), undefined, { timeout: 60000 });
      await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 90000 });
      expect((await page.textContent(".kernel_indicator_name"))?.trim()).toBe("TypeScript (makemore-ts)");
      const cells = (await prompts(page)).length;
      expect(cells).toBeGreaterThan(5);

      // Kernel menu → Restart & Run All → "Restart and Run All Cells"
      await page.click("#kernellink");
      await page.click("#restart_run_all > a");
      const confirm = page.locator(".modal-dialog .modal-footer button", { hasText: "Restart and Run All Cells" });
      await confirm.click({ timeout: 10000 });

      // every code cell has a number (none queued "*" or never run) and the kernel is idle
      await page.waitForFunction(
        () => {
          const ps = Array.from(document.querySelectorAll("#notebook .cell.code_cell .input_prompt"));
          const idle = document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
          return idle && ps.length > 0 && ps.every((p) => /\[\d+\]/.test(p.textContent ?? ""));
        },
        undefined,
        { timeout: RUN_TIMEOUT_MS, polling: 500 },
      );
      const after = await prompts(page);
      expect(after).toHaveLength(cells);

      // no cell shows an error: runtime errors (error outputs) or compile errors (stderr)
      const errors = await page.$$eval(
        "#notebook .output_area .output_error, #notebook .output_area .output_stderr",
        (els) => els.map((e) => (e.textContent ?? "").trim().slice(0, 500)),
      );
      expect(errors).toEqual([]);

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
      await page.evaluate(() => window.Jupyter?.notebook?.save_notebook());
      const saved = path.join(server.notebookDir, NOTEBOOK);
      const plots = await page.locator("#notebook .output_area .makemore-plot").count();
      expect(plots).toBeGreaterThan(1);
      expect(fs.statSync(saved).size).toBeLessThan(2_000_000);
      expect(fs.readFileSync(saved, "utf8")).toContain("application/vnd.plotly.v1+json");
      await page.reload();
      await page.waitForFunction(() => Boolean(window.Jupyter?.notebook?._fully_loaded), undefined, { timeout: 60000 });
      await page.waitForFunction(
        (n) =>
          Array.from(document.querySelectorAll("#notebook .output_area .makemore-plot")).filter(
            (el) => el.querySelector("svg.main-svg") !== null,
          ).length === n,
        plots,
        { timeout: 60000, polling: 500 },
      );
      await page.screenshot({ path: path.join(ARTIFACTS, "01-reopened.png") });
      expect(pageErrors).toEqual([]);
    } catch (e) {
      // keep what the user would have seen, then fail with the server's log attached
      await page.screenshot({ path: path.join(ARTIFACTS, "01-failure.png") }).catch(() => undefined);
      const log = server.log().split("\n").slice(-40).join("\n");
      throw new Error(`${(e as Error).message}\n--- jupyter log (last lines) ---\n${log}`);
    } finally {
      await page.close();
    }
  },
  RUN_TIMEOUT_MS + 180000,
);
