/**
 * `npm run export`: a saved notebook as one HTML file whose plots draw offline,
 * with plotly.js inlined once (the notebook itself never carries it). The
 * browser suite opens the same export in Chromium (test/browser/export.test.ts).
 */
import * as fs from "fs";
import * as path from "path";
import { exportFixture, FIXTURE_PLOT_ID } from "./support/export";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { withPlotly, PLACEHOLDER } = require("../scripts/export.js") as {
  withPlotly(html: string): string;
  PLACEHOLDER: string;
};

describe("npm run export", () => {
  let run: ReturnType<typeof exportFixture>;
  beforeAll(() => {
    run = exportFixture();
  }, 120000);
  afterAll(() => fs.rmSync(path.dirname(path.dirname(run.html)), { recursive: true, force: true }));

  test("writes one page with plotly.js inlined once, the figure and the table", () => {
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    expect(run.stdout).toMatch(/^export: wrote .*fixture\.html \(\d+\.\d MB, plotly\.js inlined once\)/);
    const html = fs.readFileSync(run.html, "utf8");
    expect(html.match(/\* plotly\.js v\d/g)).toHaveLength(1);
    // inlined in the head, before the outputs that draw with it
    expect(html.indexOf("plotly.js v")).toBeLessThan(html.indexOf("</head>"));
    expect(html).toContain(`id="${FIXTURE_PLOT_ID}" class="makemore-plot"`);
    expect(html).toContain('<td style="text-align: left;">W2*0.01, b2*0 (softmax fix)</td>');
    // nothing from a CDN: no require.js, no widget manager
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
  });

  test("a page without figures gets no plotly.js", () => {
    const page = `<head>${PLACEHOLDER}</head><body><p>text</p></body>`;
    expect(withPlotly(page)).toBe("<head></head><body><p>text</p></body>");
  });
});
