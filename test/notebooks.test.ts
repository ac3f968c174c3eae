/**
 * Every notebook in notebooks/ runs top to bottom in quick mode with the
 * project kernel (any cell error, TypeScript compile errors included, fails
 * it), prints the key values its text promises, and is committed without outputs.
 */
import * as path from "path";
import { listNotebooks, NOTEBOOK_DIR, readNotebook, runNotebook, type NotebookRun } from "./support/notebooks";

/** What each notebook must print or show, beyond running without error. */
const EXPECTATIONS: Record<string, (run: NotebookRun) => void> = {
  "01-bigram-counts.ipynb": (run) => {
    expect(run.stdout).toMatch(/32033 names, shortest 2, longest 15/);
    expect(run.stdout).toMatch(/average NLL with \+1 smoothing: 2\.4546/);
    expect(run.stdout).toMatch(/228146 bigrams/);
    const plotly = run.displays.filter((d) => "application/vnd.plotly.v1+json" in d);
    expect(plotly.length).toBeGreaterThanOrEqual(2);
    // The first figure carries the plotly.js bundle, the others do not.
    const html = plotly.map((d) => String(d["text/html"]));
    expect(html[0]).toContain("makemore:plotly-loader");
    expect(html.slice(1).some((h) => h.includes("makemore:plotly-loader"))).toBe(false);
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
  "07-backprop.ipynb": (run) => {
    expect(run.stdout).toMatch(/4137 parameters/);
    expect(run.stdout).toMatch(/12297 parameters/);
    // every hand-derived gradient, the fused forms and the wasm kernels' gradients agree with autodiff
    const lines = [
      ...run.stdout.matchAll(
        /^(\S+(?: \(wasm\))?) +\| exact: (true|false) +\| approximate: (true|false) +\| maxdiff: (\S+)$/gm,
      ),
    ];
    expect(lines.length).toBe(26 + 2 + 7);
    for (const m of lines) {
      expect(m[3]).toBe("true");
      expect(Number(m[4])).toBeLessThan(1e-6);
    }
    expect(run.stdout).toMatch(/26 gradients by hand: 26 approximately equal/);
    for (const form of ["cross-entropy", "batch-norm"]) {
      const m = new RegExp(`fused ${form} backward: largest difference (\\S+)`).exec(run.stdout);
      expect(Number(m?.[1])).toBeLessThan(1e-6);
    }
  },
  "08-wavenet.ipynb": (run) => {
    for (const n of [12097, 22097, 22397, 76579]) expect(run.stdout).toContain(`${n} parameters`);
    // the lecture's walk through the hierarchy, batch of 4
    for (const shape of [
      "Embedding +: \\(4, 8, 10\\)",
      "FlattenConsecutive : \\(4, 4, 20\\)",
      "FlattenConsecutive : \\(4, 2, 136\\)",
    ]) {
      expect(run.stdout).toMatch(new RegExp(shape));
    }
    expect(run.stdout).toMatch(/FlattenConsecutive : \(4, 136\)/);
    expect(run.stdout).toMatch(/Linear +: \(4, 27\)/);
    expect(run.stdout).toMatch(/mean over dim 0 -> \(1, 4, 68\), over dims \(0, 1\) -> \(1, 1, 68\)/);
    // the fixed hierarchy and the 76,579-parameter network run on the fused engine
    expect(run.stdout).toMatch(/batch norm over \(0, 1\): 22397 parameters.* on the fused engine/);
    expect(run.stdout).toMatch(/n_embd 24, n_hidden 128: 76579 parameters.* on the fused engine/);
  },
};

const notebooks = listNotebooks();

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
    const check = EXPECTATIONS[name];
    if (check) check(run);
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
