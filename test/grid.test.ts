import * as fs from "fs";
import * as path from "path";
import { expandGrid, lossSpread, planGrid, resolveConfig, runGrid, sortResults, type GridRow } from "../lib/index";
import { ConfigError } from "../lib/experiments/hyperparams";
import { formatResultsTable, parseGrid, readGridFile, readResults, writeResults } from "../lib/experiments/grid";
import { tempDir, writeNames } from "./support/cli";

describe("grid files", () => {
  test("lists and single values, by config name or flag name", () => {
    const axes = parseGrid('{"model": "mlp", "n-embd": [4, 10], "--n-hidden": [50, 200], "targetLoss": null}');
    expect(axes).toEqual({ model: ["mlp"], nEmbd: [4, 10], nHidden: [50, 200], targetLoss: [null] });
    const configs = expandGrid(axes, { maxSteps: 100 });
    expect(configs.map((c) => [c.nEmbd, c.nHidden])).toEqual([
      [4, 50],
      [4, 200],
      [10, 50],
      [10, 200],
    ]);
    expect(configs.every((c) => c.maxSteps === 100)).toBe(true);
    // the bigram ignores its shape: equal combinations run once
    expect(expandGrid(parseGrid('{"model": "bigram", "nEmbd": [4, 10]}'))).toHaveLength(1);
  });

  test("bad grid files are one clear ConfigError each", () => {
    expect(() => parseGrid("{nEmbd: [4]}", "g.json")).toThrow(/^g.json is not valid JSON: /);
    expect(() => parseGrid("[1, 2]", "g.json")).toThrow("g.json must hold a JSON object of hyperparameters");
    expect(() => parseGrid('{"nEmb": [4]}', "g.json")).toThrow(
      "g.json: unknown hyperparameter 'nEmb' (known: model, blockSize, nEmbd,",
    );
    expect(() => parseGrid('{"nEmbd": []}', "g.json")).toThrow("g.json: nEmbd has an empty list of values");
    expect(() => parseGrid('{"nEmbd": [4, -1]}', "g.json")).toThrow("g.json: nEmbd must be a positive integer, got -1");
    expect(() => parseGrid('{"nEmbd": 4, "n-embd": 5}', "g.json")).toThrow("g.json: nEmbd is given twice");
    expect(() => readGridFile("/nonexistent/grid.json")).toThrow(
      "cannot read grid file /nonexistent/grid.json: no such file",
    );
    expect(() => parseGrid("{}", "g.json")).not.toThrow();
    expect(() => parseGrid("[", "g.json")).toThrow(ConfigError);
  });

  test("the parameter ceiling splits jobs from skipped rows", () => {
    const configs = expandGrid(parseGrid('{"nEmbd": [4, 10], "nHidden": [50, 200]}'));
    const { jobs, skipped } = planGrid(configs, 27, "/tmp/out", 12000);
    expect(jobs.map((j) => [j.config.nEmbd, j.config.nHidden, j.params])).toEqual([
      [4, 50, 2135],
      [4, 200, 8135],
      [10, 50, 3197],
      [10, 200, 11897],
    ]);
    expect(skipped).toEqual([]);
    const tight = planGrid(configs, 27, "/tmp/out", 5000);
    expect(tight.jobs.map((j) => j.params)).toEqual([2135, 3197]);
    expect(tight.skipped.map((s) => [s.params, s.status, s.message])).toEqual([
      [8135, "skipped", "8135 parameters > --max-params 5000"],
      [11897, "skipped", "11897 parameters > --max-params 5000"],
    ]);
    expect(path.dirname(tight.jobs[0]!.dir)).toBe("/tmp/out");
    expect(path.basename(tight.jobs[0]!.dir)).toBe(tight.jobs[0]!.tag);
  });

  test("results: sorted by val loss, CSV with every hyperparameter, table, spread", () => {
    const row = (tag: string, nEmbd: number, loss: number, status: GridRow["status"] = "finished"): GridRow => ({
      tag,
      config: resolveConfig({ nEmbd }),
      params: 100 * nEmbd,
      bestValLoss: loss,
      bestStep: 10,
      steps: 20,
      seconds: 1.25,
      status,
    });
    const rows = sortResults([row("aaaaaa", 4, 2.5), row("bbbbbb", 8, NaN, "skipped"), row("cccccc", 2, 2.25)]);
    expect(rows.map((r) => r.tag)).toEqual(["cccccc", "aaaaaa", "bbbbbb"]);
    const file = path.join(tempDir("mm-grid-"), "results.csv");
    writeResults(file, rows);
    const back = readResults(file);
    expect(Object.keys(back[0]!)).toEqual([
      "tag",
      "model",
      "blockSize",
      "nEmbd",
      "nHidden",
      "nLayers",
      "nHead",
      "nEmbd2",
      "batchSize",
      "lr",
      "optimizer",
      "weightDecay",
      "lrDecayStep",
      "maxSteps",
      "evalEvery",
      "earlyStop",
      "targetLoss",
      "seed",
      "evalLines",
      "params",
      "bestValLoss",
      "bestStep",
      "steps",
      "seconds",
      "status",
      "message",
    ]);
    expect(back.map((r) => [r.tag, r.nEmbd, r.bestValLoss, r.status])).toEqual([
      ["cccccc", "2", "2.2500", "finished"],
      ["aaaaaa", "4", "2.5000", "finished"],
      ["bbbbbb", "8", "", "skipped"],
    ]);
    const table = formatResultsTable(rows).split("\n");
    expect(table[0]).toMatch(/^fixed: model=mlp blockSize=3 nHidden=200 /);
    expect(table[1]).toMatch(/^tag\s+nEmbd\s+params\s+val loss\s+best step\s+steps\s+seconds\s+status$/);
    expect(table[3]).toMatch(/^cccccc\s+2\s+200\s+2\.2500\s+10\s+20\s+1\.3\s+finished$/);
    expect(lossSpread(rows)).toEqual({ n: 2, min: 2.25, median: 2.375, max: 2.5 });
    expect(lossSpread([rows[0]!, rows[1]!, { ...rows[0]!, bestValLoss: 3 }]).median).toBe(2.5);
  });
});

describe("runGrid (worker processes)", () => {
  test("runs every job in parallel workers and reports each row", async () => {
    const dir = tempDir("mm-grid-");
    const input = writeNames(dir);
    const configs = expandGrid(parseGrid('{"nEmbd": [2, 4]}'), { nHidden: 8, maxSteps: 40, evalEvery: 20 });
    const { jobs } = planGrid(configs, 27, path.join(dir, "out"));
    const events: string[] = [];
    const rows = await runGrid({
      input,
      jobs,
      workers: 2,
      backend: "cpu",
      onEvent: (e) => events.push(e.type),
    });
    expect(rows.map((r) => [r.tag, r.status, r.steps, r.config.nEmbd])).toEqual(
      jobs.map((j) => [j.tag, "finished", 40, j.config.nEmbd]),
    );
    for (const r of rows) {
      expect(r.bestValLoss).toBeGreaterThan(1);
      expect(r.bestValLoss).toBeLessThan(3.4);
      expect(fs.existsSync(path.join(dir, "out", r.tag, "model.ckpt"))).toBe(true);
    }
    expect(events.filter((e) => e === "done")).toHaveLength(2);
    expect(events.filter((e) => e === "start")).toHaveLength(2);
  }, 60000);

  test("a bad dataset fails each job with its message; an abort interrupts and cancels", async () => {
    const dir = tempDir("mm-grid-");
    const configs = expandGrid(parseGrid('{"seed": [1, 2, 3]}'), { nHidden: 8, maxSteps: 1000000, evalEvery: 50 });
    const { jobs } = planGrid(configs, 27, path.join(dir, "out"));
    const failed = await runGrid({ input: path.join(dir, "missing.txt"), jobs: jobs.slice(0, 1), workers: 1 });
    expect(failed[0]).toMatchObject({
      status: "failed",
      message: `cannot read ${path.join(dir, "missing.txt")}: no such file`,
    });

    const input = writeNames(dir);
    const controller = new AbortController();
    const rows = await runGrid({
      input,
      jobs,
      workers: 1,
      backend: "cpu",
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "progress" && e.step > 0) controller.abort();
      },
    });
    expect(rows.map((r) => r.status)).toEqual(["interrupted", "cancelled", "cancelled"]);
    expect(rows[0]!.steps).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dir, "out", rows[0]!.tag, "model.ckpt"))).toBe(true);
  }, 60000);
});
