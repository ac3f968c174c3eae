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
    // the counting loop, the sampling loop and the NLL sum agree with the lib
    expect(run.stdout).toMatch(/largest difference between the loop's counts and bigramCounts: 0\n/);
    expect(run.stdout).toMatch(/the loop, seed 2147483647: mor\. axx\. minaymoryles\. kondlaisah\. anchshizarie\.\n/);
    expect(run.stdout).toMatch(/sampleWords gives the same first 5 of 5 names/);
    expect(run.stdout).toMatch(/largest difference between the loop and bigramNll: 0\.0e\+0/);
    const plotly = run.displays.filter((d) => "application/vnd.plotly.v1+json" in d);
    expect(plotly.length).toBeGreaterThanOrEqual(2);
    // The first figure carries the plotly.js bundle, the others do not.
    const html = plotly.map((d) => String(d["text/html"]));
    expect(html[0]).toContain("makemore:plotly-loader");
    expect(html.slice(1).some((h) => h.includes("makemore:plotly-loader"))).toBe(false);
  },
  "02-neural-bigram.ipynb": (run) => {
    // the hand-written steps start from the lecture's W and agree with train()
    expect(run.stdout).toMatch(/step 0: loss 3\.768[67]\n/);
    const steps = [...run.stdout.matchAll(/step \d: loss (\S+)/g)].map((m) => Number(m[1]));
    expect(steps).toHaveLength(5);
    for (let k = 1; k < steps.length; k++) expect(steps[k]).toBeLessThan(steps[k - 1] as number);
    const check = /hand-written steps and train\(\): losses (\S+), W after 5 steps (\S+)/.exec(run.stdout);
    expect(Number(check?.[1])).toBeLessThan(1e-3);
    expect(Number(check?.[2])).toBeLessThan(1e-3);
    const nll = /neural bigram NLL: (\S+) +count model: (\S+)/.exec(run.stdout);
    expect(Math.abs(Number(nll?.[1]) - Number(nll?.[2]))).toBeLessThan(0.02);
  },
  "03-mlp.ipynb": (run) => {
    // the lecture's split, its first loss, and the hand-written step against train()
    expect(run.stdout).toMatch(/examples: train 182625, val 22655, test 22866/);
    expect(run.stdout).toMatch(/step 0 by hand: loss 27\.8817/);
    const check = /hand-written step and train\(\): loss (\S+), parameters (\S+)/.exec(run.stdout);
    expect(Number(check?.[1])).toBeLessThan(1e-4);
    expect(Number(check?.[2])).toBeLessThan(1e-4);
    // the long run trains on the fused engine by default
    expect(run.stdout).toMatch(/s on the fused kernels\)/);
  },
  "04-initialization.ipynb": (run) => {
    // the initial loss of the original init, and after the softmax fix (near -ln(1/27) = 3.2958)
    const before = Number(/initial loss \(original init\): (\S+)/.exec(run.stdout)?.[1]);
    const after = Number(/initial loss \(W2 \* 0\.01, b2 = 0\): (\S+)/.exec(run.stdout)?.[1]);
    expect(before).toBeGreaterThan(20);
    expect(Math.abs(after - 3.2958)).toBeLessThan(0.05);
  },
  "05-batchnorm.ipynb": (run) => {
    // batch norm by hand from the lecture's generator, against the lib
    expect(run.stdout).toMatch(/batch norm by hand, step 0: loss 3\.3239/);
    const byHand = /batch norm by hand and the lib: loss (\S+), running mean (\S+), running std (\S+)/.exec(run.stdout);
    for (const d of byHand?.slice(1) ?? []) expect(Number(d)).toBeLessThan(1e-5);
    expect(byHand).not.toBeNull();
    const layers = /notebook's layers and the lib's: output (\S+), running mean (\S+), running var (\S+)/.exec(
      run.stdout,
    );
    for (const d of layers?.slice(1) ?? []) expect(Number(d)).toBeLessThan(1e-5);
    expect(layers).not.toBeNull();
    // quick-mode ranges: 2,000 steps of the batch-norm MLP, 300 of the deep network
    const losses = [...run.stdout.matchAll(/statistics: +train (\S+) +val (\S+)/g)].flatMap((m) => [m[1], m[2]]);
    expect(losses).toHaveLength(4);
    for (const l of losses.map(Number)) expect(l).toBeGreaterThan(2.1);
    for (const l of losses.map(Number)) expect(l).toBeLessThan(2.7);
    const batchLoss = Number(/loss on a batch after \d+ steps: (\S+)/.exec(run.stdout)?.[1]);
    expect(batchLoss).toBeGreaterThan(2);
    expect(batchLoss).toBeLessThan(3.2);
    const tanh = [...run.stdout.matchAll(/\(Tanh\): mean \S+, std (\S+), saturated (\S+)%/g)];
    expect(tanh).toHaveLength(5);
    for (const m of tanh) {
      expect(Number(m[1])).toBeGreaterThan(0.5);
      expect(Number(m[1])).toBeLessThan(0.75);
      expect(Number(m[2])).toBeLessThan(10);
    }
  },
  "06-experiments.ipynb": (run) => {
    // the grid: 3 x 3 sizes, the 16/200 model over the 12,000-parameter ceiling, the rest trained
    expect(run.stdout).toMatch(/9 combinations, 8 under 12000 parameters, 1 skipped: 16\/200 \(15659\)/);
    const done = [...run.stdout.matchAll(/done (\d+)\/8: \S+ val (\S+)/g)].map((m) => Number(m[2]));
    expect(done).toHaveLength(8);
    for (const v of done) expect(v).toBeGreaterThan(1.9);
    for (const v of done) expect(v).toBeLessThan(3.3);
    // the table lists every combination, the skipped one included
    expect(run.stdout).toMatch(/bestVal[\s\S]*status/);
    expect(run.stdout).toMatch(/skipped/);
  },
  "A1-fast-engine.ipynb": (run) => {
    // the fused backward pass agrees with autodiff on every parameter, and trains by default
    const diffs = [...run.stdout.matchAll(/largest difference (\S+) \(largest gradient/g)].map((m) => Number(m[1]));
    expect(diffs).toHaveLength(5);
    for (const d of diffs) expect(d).toBeLessThan(1e-4);
    expect(run.stdout).toMatch(/tfjs : +\d+ steps\/s/);
    expect(run.stdout).toMatch(/fused: +\d+ steps\/s/);
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
