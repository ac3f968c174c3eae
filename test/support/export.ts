/**
 * A small executed notebook (a figure and a table, made by lib/notebook/display)
 * and its standalone HTML export through scripts/export.js, for the export tests.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { lineFigure } from "../../lib/index";
import { figureBundle, tableCells, tableHtml, tableText } from "../../lib/notebook/display";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string };

/** The id of the fixture's plot container. */
export const FIXTURE_PLOT_ID = "mm-export-fixture";

/** A notebook whose one code cell shows a two-trace figure and a table, as a run would save it. */
export function fixtureNotebook(): object {
  const fig = lineFigure(
    [
      { name: "train", x: [0, 1, 2], y: [3.3, 2.5, 2.2] },
      { name: "val", x: [0, 1, 2], y: [3.3, 2.6, 2.4] },
    ],
    { title: "Export fixture" },
  );
  const cells = tableCells([{ variant: "W2*0.01, b2*0 (softmax fix)", val: 2.1296 }]);
  const display = (data: Record<string, unknown>) => ({ output_type: "display_data", data, metadata: {} });
  return {
    cells: [
      { cell_type: "markdown", id: "m1", metadata: {}, source: "# Export fixture" },
      {
        cell_type: "code",
        id: "c1",
        metadata: {},
        execution_count: 1,
        source: "show(fig); showTable(rows);",
        outputs: [
          display(figureBundle(fig, FIXTURE_PLOT_ID)),
          display({ "text/html": tableHtml(cells), "text/plain": tableText(cells) }),
        ],
      },
    ],
    metadata: { kernelspec: { name: "makemore-ts", display_name: "TypeScript (makemore-ts)", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** Writes the fixture into a new temporary folder, exports it; returns the HTML file and the run. */
export function exportFixture(): { html: string; status: number | null; stdout: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-export-test-"));
  const notebook = path.join(dir, "fixture.ipynb");
  fs.writeFileSync(notebook, JSON.stringify(fixtureNotebook()));
  const html = path.join(dir, "out", "fixture.html");
  const r = spawnSync(process.execPath, [path.join(paths.root, "scripts", "export.js"), notebook, "--out", html], {
    encoding: "utf8",
  });
  return { html, status: r.status, stdout: r.stdout, stderr: r.stderr };
}
