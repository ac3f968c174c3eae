/**
 * `makemore grid`, `makemore lottery` and Ctrl-C, run as a user runs them:
 * bin/makemore.js in a child process.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../lib/runtime/backend";
import { loadRun, readRunLog } from "../lib/index";
import { readResults } from "../lib/experiments/grid";
import { expectError, finished, runCli, spawnCli, tempDir, waitForStderr, writeNames } from "./support/cli";

jest.setTimeout(120000);

let root = "";
let input = "";

beforeAll(() => {
  root = tempDir("mm-cli-grid-");
  input = writeNames(root);
});

function writeGrid(name: string, text: string): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, text);
  return file;
}

test("grid: every combination in worker processes, the ceiling skips, results.csv sorted by val loss", async () => {
  const grid = writeGrid("grid.json", '{ "nEmbd": [2, 4], "n-hidden": [8, 64], "maxSteps": 40, "evalEvery": 20 }');
  const out = path.join(root, "grid");
  const r = await runCli(["grid", "-i", input, "-o", out, "--grid", grid, "--max-params", "1000", "--workers", "2"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^grid: 2 runs, 2 skipped \(over --max-params 1000\) on /m);
  expect(r.stdout.match(/^skipped [0-9a-f]{6}: \d+ parameters > --max-params 1000$/gm)).toHaveLength(2);
  expect(r.stderr.match(/^\[\d\/2\] [0-9a-f]{6} finished: best val \d\.\d{4} \(40 steps/gm)).toHaveLength(2);
  const rows = readResults(path.join(out, "results.csv"));
  expect(rows.map((row) => [row.nHidden, row.status])).toEqual([
    ["8", "finished"],
    ["8", "finished"],
    ["64", "skipped"],
    ["64", "skipped"],
  ]);
  expect(Number(rows[0]!.bestValLoss)).toBeLessThanOrEqual(Number(rows[1]!.bestValLoss));
  for (const row of rows.slice(0, 2)) {
    expect(row).toMatchObject({ model: "mlp", maxSteps: "40", steps: "40" });
    expect(Number(row.params)).toBeLessThanOrEqual(1000);
    expect(readRunLog(path.join(out, row.tag!, "log.csv")).map((l) => l.step)).toEqual([0, 20, 40]);
  }
  // the same table on stdout, best first
  const lines = r.stdout.split("\n");
  const header = lines.findIndex((l) => /^tag\s+nEmbd\s+nHidden\s+params\s+val loss/.test(l));
  expect(header).toBeGreaterThan(0);
  expect(lines.slice(header + 2, header + 6).map((l) => l.slice(0, 6))).toEqual(rows.map((row) => row.tag));
  // refuse to overwrite the results
  expectError(
    await runCli(["grid", "-i", input, "-o", out, "--grid", grid]),
    2,
    `makemore: error: ${out} already holds results (results.csv); use --resume to train only its unfinished runs or --force to replace them`,
  );
});

test("grid: bad grid files and a ceiling below every combination", async () => {
  const out = path.join(root, "bad-grid");
  const notJson = writeGrid("not-json.json", "{ nEmbd: [2, 4] }");
  const unknown = writeGrid("unknown.json", '{ "nEmbd": [2, 4], "dropout": [0.1] }');
  const badValue = writeGrid("bad-value.json", '{ "nEmbd": [2, "x"] }');
  const small = writeGrid("grid-small.json", '{ "nEmbd": [2, 4] }');
  const [a, b, c, d, over] = await Promise.all([
    runCli(["grid", "-i", input, "-o", out, "--grid", notJson]),
    runCli(["grid", "-i", input, "-o", out, "--grid", unknown]),
    runCli(["grid", "-i", input, "-o", out, "--grid", badValue]),
    runCli(["grid", "-i", input, "-o", out, "--grid", path.join(root, "missing.json")]),
    runCli(["grid", "-i", input, "-o", out, "--grid", small, "--max-params", "10"]),
  ]);
  expectError(a, 2, new RegExp(`^makemore: error: ${notJson} is not valid JSON: `));
  expectError(b, 2, new RegExp(`^makemore: error: ${unknown}: unknown hyperparameter 'dropout' \\(known: model, `));
  expectError(c, 2, `makemore: error: ${badValue}: nEmbd must be a positive integer, got "x"`);
  expectError(d, 2, `makemore: error: cannot read grid file ${path.join(root, "missing.json")}: no such file`);
  expect(over.code).toBe(3);
  expect(over.stderr.trimEnd()).toMatch(
    /^makemore: error: every combination is over the ceiling: the smallest has [\d,]+ parameters, more than --max-params 10$/,
  );
  expect(fs.existsSync(path.join(out, "results.csv"))).toBe(false);
});

test("lottery: one configuration, several seeds, the spread of the best val loss", async () => {
  const out = path.join(root, "lottery");
  const r = await runCli([
    "lottery",
    "-i",
    input,
    "-o",
    out,
    "--seeds",
    "3",
    "--n-embd",
    "2",
    "--n-hidden",
    "8",
    "--max-steps",
    "40",
    "--eval-every",
    "20",
    "--workers",
    "2",
  ]);
  expect(r.code).toBe(0);
  const rows = readResults(path.join(out, "results.csv"));
  expect(rows.map((row) => row.seed).sort()).toEqual(["1", "2", "3"]);
  const losses = rows.map((row) => Number(row.bestValLoss));
  const m = /seed lottery over 3 seeds: best val loss min (\S+), median (\S+), max (\S+) \(spread (\S+)\)/.exec(
    r.stdout,
  );
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBeCloseTo(Math.min(...losses), 4);
  expect(Number(m![2])).toBeCloseTo([...losses].sort()[1]!, 4);
  expect(Number(m![3])).toBeCloseTo(Math.max(...losses), 4);
  expect(new Set(losses).size).toBeGreaterThan(1); // different seeds, different results
  expectError(
    await runCli(["lottery", "-i", input, "-o", out + "2"]),
    2,
    "makemore: error: missing --seeds <n>: how many seeds to try",
  );
});

test("Ctrl-C during training: finishes the step, saves, flushes the log, exits 130", async () => {
  const out = path.join(root, "interrupted");
  const child = spawnCli([
    "train",
    "-i",
    input,
    "-o",
    out,
    "--n-embd",
    "4",
    "--n-hidden",
    "16",
    "--max-steps",
    "1000000",
  ]);
  const done = finished(child);
  await waitForStderr(child, /step \d+\/1000000 /);
  child.kill("SIGINT");
  const r = await done;
  expect(r.code).toBe(130);
  expect(r.stderr).toContain("makemore: interrupted: finishing the current step and saving");
  const m = /^run ([0-9a-f]{6}) interrupted at step (\d+); saved; best val loss/m.exec(r.stdout);
  expect(m).not.toBeNull();
  const text = fs.readFileSync(path.join(out, "log.csv"), "utf8");
  expect(text.endsWith("\n")).toBe(true);
  const last = text.trimEnd().split("\n").pop()!;
  expect(last).toMatch(new RegExp(`^${m![1]},${m![2]},\\d+\\.\\d{6},\\d+\\.\\d{6},\\d+\\.\\d{3}$`));
  const log = readRunLog(path.join(out, "log.csv"));
  expect(log[log.length - 1]!.step).toBe(Number(m![2]));
  await initBackend("cpu");
  const best = loadRun(out);
  const lastCkpt = loadRun(path.join(out, "last.ckpt"));
  expect(lastCkpt.meta.step).toBe(Number(m![2]));
  expect(best.meta.valLoss).toBeCloseTo(Math.min(...log.map((l) => l.valLoss)), 5);
  best.model.dispose();
  lastCkpt.model.dispose();
  // the run goes on from where it stopped
  const resumed = await runCli([
    "train",
    "-o",
    out,
    "--resume",
    "--max-steps",
    String(Number(m![2]) + 20),
    "--eval-every",
    "10",
  ]);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(new RegExp(`started from step ${m![2]}:`));
});
