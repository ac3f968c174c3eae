/**
 * The book folds each worked solution under its exercise: scripts/book.js
 * puts the solution's cells after the exercise's last cell, and the page
 * template wraps them in a closed <details> block.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const book = require("../scripts/book.js") as typeof import("../scripts/book.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../scripts/paths.js") as { root: string; python: string };

type Cell = { cell_type: string; source: string; metadata: Record<string, unknown>; outputs?: never[] };
const cell = (source: string, exercise?: string, cell_type = "markdown"): Cell => ({
  cell_type,
  source,
  metadata: exercise ? { makemore: { exercise } } : {},
  ...(cell_type === "code" ? { outputs: [], execution_count: null } : {}),
});
const notebook = (cells: Cell[]) => ({ cells, metadata: {}, nbformat: 4, nbformat_minor: 5 });

const page = notebook([
  cell("# 01"),
  cell("### Exercise 1.1", "1.1"),
  cell("checkTrigramCounts(x)", "1.1", "code"),
  cell("### Exercise 1.2", "1.2"),
  cell("checkSplitScores(s)", "1.2", "code"),
  cell("the end"),
]);
const solution = notebook([
  cell("# Solutions"),
  cell("setup", undefined, "code"),
  cell("## 1.1", "1.1"),
  cell("trigram code", "1.1", "code"),
  cell("## 1.2", "1.2"),
  cell("## 1.3", "1.3"),
]);

describe("foldSolutions", () => {
  test("puts each exercise's solution cells after its last cell, marking the first and the last", () => {
    const folded = book.foldSolutions(page, [solution]) as unknown as ReturnType<typeof notebook>;
    expect(folded.cells.map((c) => c.source)).toEqual([
      "# 01",
      "### Exercise 1.1",
      "checkTrigramCounts(x)",
      "## 1.1",
      "trigram code",
      "### Exercise 1.2",
      "checkSplitScores(s)",
      "## 1.2",
      "the end",
    ]);
    const marks = folded.cells.map((c) => c.metadata.makemore);
    expect(marks[3]).toEqual({ exercise: "1.1", solutionStart: "Solution to exercise 1.1" });
    expect(marks[4]).toEqual({ exercise: "1.1", solutionEnd: true });
    expect(marks[7]).toEqual({ exercise: "1.2", solutionStart: "Solution to exercise 1.2", solutionEnd: true });
    // the solution notebook itself is left as it was
    expect(solution.cells[2]!.metadata).toEqual({ makemore: { exercise: "1.1" } });
  });

  test("leaves a page without exercises, or without solutions, as it is", () => {
    const plain = notebook([cell("# 06"), cell("code", undefined, "code")]);
    expect(book.foldSolutions(plain, [solution])).toEqual(plain);
    expect(book.foldSolutions(page, [])).toEqual(page);
  });

  test("the page template wraps the solution in a closed <details> block", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-fold-"));
    try {
      const file = path.join(dir, "page.ipynb");
      fs.writeFileSync(file, JSON.stringify(book.foldSolutions(page, [solution])));
      const template = path.join(paths.root, "scripts", "book-template");
      const r = spawnSync(
        paths.python,
        [
          "-m",
          "nbconvert",
          "--to",
          "html",
          "--template",
          "makemore-book",
          `--TemplateExporter.extra_template_basedirs=${template}`,
          "--output-dir",
          dir,
          file,
        ],
        { encoding: "utf8" },
      );
      expect(r.status).toBe(0);
      const html = fs.readFileSync(path.join(dir, "page.html"), "utf8");
      const blocks = [
        ...html.matchAll(/<details class="mm-solution"><summary>([^<]*)<\/summary>([\s\S]*?)<\/details>/g),
      ];
      expect(blocks.map((m) => m[1])).toEqual(["Solution to exercise 1.1", "Solution to exercise 1.2"]);
      expect(blocks[0]![2]).toMatch(/>trigram<\/span> <span class="n">code</);
      expect(blocks[0]![2]).not.toContain("checkTrigramCounts");
      expect(html).not.toMatch(/<details[^>]* open/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
