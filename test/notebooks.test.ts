/**
 * Every notebook in notebooks/ runs top to bottom in quick mode with the
 * project kernel (any cell error, TypeScript compile errors included, fails
 * it), prints the key values its text promises, and is committed without outputs.
 * Saved with its outputs, it stays under 2 MB: its figures carry their data
 * but not plotly.js, and its tables are HTML tables.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { listNotebooks, NOTEBOOK_DIR, readNotebook, runNotebook, type NotebookRun } from "./support/notebooks";

const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** A notebook executed and saved with all its outputs must stay below this. */
const MAX_SAVED_BYTES = 2_000_000;

/** A text output as one string (saved notebooks split them into lines). */
const mimeText = (value: unknown): string => (Array.isArray(value) ? value.join("") : String(value ?? ""));

/** The figure a display's HTML draws: the JSON its script holds. */
function htmlFigure(html: string): { data: unknown[] } {
  const json = html.match(/\n {2}var fig = (.*);\n/);
  if (!json) throw new Error(`a figure's HTML holds no figure:\n${html.slice(0, 300)}`);
  return JSON.parse(json[1]!) as { data: unknown[] };
}

/** Checks what every saved notebook must be: small, figures with their data, no plotly.js inside. */
function checkSaved(run: NotebookRun): void {
  expect(fs.statSync(run.file).size).toBeLessThan(MAX_SAVED_BYTES);
  for (const display of run.displays.filter((d) => PLOTLY_MIME in d)) {
    const figure = display[PLOTLY_MIME] as { data: unknown[] };
    const html = mimeText(display["text/html"]);
    expect(figure.data.length).toBeGreaterThan(0);
    expect(htmlFigure(html).data).toEqual(figure.data);
    expect(html).not.toMatch(/plotly\.js v\d/);
  }
}

/** The HTML tables a run showed (showTable). */
function tables(run: NotebookRun): string[] {
  return run.displays.map((d) => mimeText(d["text/html"])).filter((h) => h.includes('class="dataframe'));
}

/** Checks that a run showed one HTML table holding each of `cells` whole, and printed no text table. */
function expectTable(run: NotebookRun, cells: string[]): void {
  const found = tables(run).filter((t) => cells.every((c) => t.includes(`;">${c}</td>`)));
  expect(found).toHaveLength(1);
  expect(run.stdout).not.toMatch(/[║│╔╚]/);
}

/** What each notebook must print or show, beyond running without error. */
const EXPECTATIONS: Record<string, (run: NotebookRun) => void> = {
  "01-bigram-counts.ipynb": (run) => {
    expect(run.stdout).toMatch(/32033 names, shortest 2, longest 15/);
    expect(run.stdout).toMatch(/average NLL with \+1 smoothing: 2\.4546/);
    expect(run.stdout).toMatch(/228146 bigrams/);
    const plotly = run.displays.filter((d) => PLOTLY_MIME in d);
    expect(plotly.length).toBeGreaterThanOrEqual(2);
  },
  "03-mlp.ipynb": (run) => {
    // the fused backward pass agrees with autodiff on every parameter, and trains by default
    const diffs = [...run.stdout.matchAll(/largest difference (\S+) \(largest gradient/g)].map((m) => Number(m[1]));
    expect(diffs).toHaveLength(5);
    for (const d of diffs) expect(d).toBeLessThan(1e-4);
    expect(run.stdout).toMatch(/tfjs : +\d+ steps\/s/);
    expect(run.stdout).toMatch(/fused: +\d+ steps\/s/);
    expect(run.stdout).toMatch(/s on the fused kernels\)/);
  },
  "04-initialization.ipynb": (run) => {
    expectTable(run, ["original init", "W2*0.01, b2*0 (softmax fix)", "Kaiming W1 (5/3)/sqrt(30)"]);
  },
  "05-batchnorm.ipynb": (run) => {
    expectTable(run, ["BN, gain 5/3", "no BN, gain 0.5", "no BN, gain 3"]);
  },
  "06-experiments.ipynb": (run) => {
    expect(tables(run).length).toBeGreaterThanOrEqual(1);
    expect(run.stdout).not.toMatch(/[║│╔╚]/);
  },
};

const notebooks = listNotebooks();

/** The code blocks of the README's "Your first notebook" section: one cell each. */
function readmeFirstNotebook(): string[] {
  const readme = fs.readFileSync(path.join(NOTEBOOK_DIR, "..", "README.md"), "utf8");
  const section = readme.split("\n### Your first notebook\n")[1]?.split("\n### ")[0] ?? "";
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** Writes cells as a notebook for the project kernel into a temporary folder; returns its path. */
function writeNotebook(name: string, cells: string[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "makemore-nb-")), name);
  const code = (source: string, i: number) => ({
    cell_type: "code",
    id: `cell-${i}`,
    metadata: {},
    execution_count: null,
    outputs: [],
    source,
  });
  const kernelspec = { name: "makemore-ts", display_name: "TypeScript (makemore-ts)", language: "typescript" };
  fs.writeFileSync(
    file,
    JSON.stringify({ cells: cells.map(code), metadata: { kernelspec }, nbformat: 4, nbformat_minor: 5 }),
  );
  return file;
}

describe("committed notebooks", () => {
  test("there are notebooks", () => {
    expect(notebooks).toContain("01-bigram-counts.ipynb");
  });
  test.each(notebooks)("%s has no outputs and pins the makemore-ts kernel", (name) => {
    const nb = readNotebook(path.join(NOTEBOOK_DIR, name));
    const withOutputs = nb.cells.filter(
      (c) => c.cell_type === "code" && ((c.outputs ?? []).length > 0 || c.execution_count != null),
    );
    expect(withOutputs).toHaveLength(0);
    expect(nb.metadata.kernelspec).toMatchObject({ name: "makemore-ts", display_name: "TypeScript (makemore-ts)" });
  });
});

describe("notebooks run in quick mode", () => {
  test.concurrent.each(notebooks)("%s", async (name) => {
    const run = await runNotebook(name);
    if (run.code !== 0) throw new Error(`notebook failed:\n${run.stderr}`);
    checkSaved(run);
    const check = EXPECTATIONS[name];
    if (check) check(run);
  });
});

describe("the README's first notebook", () => {
  test("runs as written: trains, plots its loss, shows its losses as a table, samples ten names", async () => {
    const cells = readmeFirstNotebook();
    expect(cells).toHaveLength(3);
    const file = writeNotebook("readme-first-notebook.ipynb", cells);
    const run = await runNotebook(file).finally(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
    if (run.code !== 0) throw new Error(`the README's notebook failed:\n${run.stderr}`);
    checkSaved(run);
    expect(run.displays.filter((d) => PLOTLY_MIME in d)).toHaveLength(1);
    const table = tables(run);
    expect(table).toHaveLength(1);
    const losses = [...table[0]!.matchAll(/>(\d\.\d{4})<\/td>/g)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(2);
    for (const loss of losses) expect(loss).toBeLessThan(2.4);
    const names = run.stdout.trim().split("\n").slice(-10);
    expect(names.every((n) => /^[a-z]+$/.test(n))).toBe(true);
  });
});

describe("the notebook runner", () => {
  test("fails on a TypeScript compile error and names the cell", async () => {
    const run = await runNotebook(path.join(__dirname, "fixtures", "compile-error.ipynb"));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cell 1 failed/);
    expect(run.stderr).toMatch(/Type 'string' is not assignable to type 'number'/);
  });
});
