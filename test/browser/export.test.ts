/**
 * `npm run export` in a real browser: the exported page of a small saved
 * notebook (a figure and a table, test/support/export.ts) opens from file://,
 * draws its figure with the plotly.js inlined in it, shows the table as a
 * table, fetches nothing from the network and logs no error.
 */
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { exportFixture, FIXTURE_PLOT_ID } from "../support/export";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { launchChromium } = require("../../scripts/chromium.js") as typeof import("../../scripts/chromium.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string };

const ARTIFACTS = path.join(paths.root, "test-artifacts", "export");

test("an exported notebook draws its plots offline and shows its tables", async () => {
  const run = exportFixture();
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    const external: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => void (!/^(file|data|blob|about):/.test(r.url()) && external.push(r.url())));
    await page.goto(pathToFileURL(run.html).href, { waitUntil: "load", timeout: 60000 });
    const plot = `[id="${FIXTURE_PLOT_ID}"]`;
    await page.waitForSelector(`${plot} svg.main-svg`, { timeout: 30000 });
    const traces = await page.$eval(plot, (el) => el.querySelectorAll(".mlayer > g").length);
    expect(traces).toBe(2);
    expect(await page.locator("table.dataframe td", { hasText: "W2*0.01, b2*0 (softmax fix)" }).count()).toBe(1);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "fixture.png"), fullPage: true });
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  } finally {
    await browser.close();
    fs.rmSync(path.dirname(path.dirname(run.html)), { recursive: true, force: true });
  }
}, 180000);
