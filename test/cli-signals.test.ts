/**
 * Issue 26, as a user stops runs: SIGTERM and SIGHUP save like Ctrl-C (exit
 * 143 and 129); a SIGKILL loses at most one evaluation interval, and the
 * resumed run's log.csv goes on without overlapping steps; a second Ctrl-C
 * never leaves last.ckpt older than model.ckpt; a grid stopped by SIGTERM
 * writes results.csv, and `grid --resume` trains only what did not finish.
 */
import type { ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readCheckpoint } from "../lib/experiments/checkpoint";
import { readResults } from "../lib/experiments/grid";
import type { CheckpointMeta } from "../lib/experiments/run-files";
import { readRunLog } from "../lib/experiments/runlog";
import { finished, runCli, spawnCli, tempDir, waitForStderr, writeNames } from "./support/cli";

jest.setTimeout(180000);

const root = tempDir("mm-signals-");
const input = writeNames(root, 400);
const SMALL = ["--n-embd", "4", "--n-hidden", "16", "--batch-size", "16"];

function meta(file: string): CheckpointMeta {
  return readCheckpoint<unknown, CheckpointMeta>(file).meta;
}

/** A long training run that evaluates every `every` steps, and resolves once it has logged an evaluation past step 0. */
async function longRun(out: string, every: number): Promise<ChildProcess> {
  const child = spawnCli([
    "train",
    "-i",
    input,
    "-o",
    out,
    ...SMALL,
    "--max-steps",
    "10000000",
    "--eval-every",
    String(every),
  ]);
  await waitForStderr(child, /step [1-9]\d*\/10000000 /);
  while (readRunLog(path.join(out, "log.csv")).length < 2) await new Promise((r) => setTimeout(r, 50));
  return child;
}

/** Each step after the first is larger: a log without overlapping rows. */
function expectIncreasing(steps: readonly number[]): void {
  expect(steps.every((s, i) => i === 0 || s > (steps[i - 1] as number))).toBe(true);
}

/** Resumes the run in `out` for two evaluations of `every` steps; checks it starts at `last`; the log's steps after. */
async function resumeFrom(out: string, last: number, every: number): Promise<number[]> {
  const args = ["train", "-o", out, "--resume", "--max-steps", String(last + 2 * every), "--eval-every", String(every)];
  const resumed = await runCli(args);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(new RegExp(`started from step ${last}:`));
  return loggedSteps(out);
}

/** Steps of the log in file order (one lineage of runs: they must only grow). */
function loggedSteps(out: string): number[] {
  return readRunLog(path.join(out, "log.csv")).map((r) => r.step);
}

test.each([
  ["SIGTERM", 143, "terminated (SIGTERM)"],
  ["SIGHUP", 129, "hangup (SIGHUP)"],
] as const)("%s saves like Ctrl-C and exits %d", async (signal, code, word) => {
  const out = path.join(root, signal);
  const child = await longRun(out, 500);
  const done = finished(child);
  child.kill(signal);
  const r = await done;
  expect(r.code).toBe(code);
  expect(r.stderr).toContain(
    `makemore: ${word}: finishing the current step and saving (another ${signal} or Ctrl-C to quit at once)`,
  );
  const step = Number(/^run [0-9a-f]{6} interrupted at step (\d+); saved/m.exec(r.stdout)?.[1]);
  expect(meta(path.join(out, "last.ckpt")).step).toBe(step);
  expect(loggedSteps(out).at(-1)).toBe(step);
});

test("after SIGKILL a resume loses at most one evaluation interval and log.csv has no overlapping steps", async () => {
  const out = path.join(root, "killed");
  const child = await longRun(out, 100);
  const done = finished(child);
  child.kill("SIGKILL");
  expect((await done).code).toBeNull();
  const logged = loggedSteps(out);
  const last = meta(path.join(out, "last.ckpt")).step;
  // last.ckpt is rolled at each evaluation: it holds the last logged step (or the one before, if killed in between)
  expect(last).toBeGreaterThanOrEqual((logged.at(-1) as number) - 100);
  const steps = await resumeFrom(out, last, 100);
  expect(steps.slice(-2)).toEqual([last + 100, last + 200]);
  expectIncreasing(steps);
});

test("a second Ctrl-C during the save leaves last.ckpt no older than model.ckpt, and the resume starts there", async () => {
  const out = path.join(root, "twice");
  const child = await longRun(out, 20);
  const done = finished(child);
  child.kill("SIGINT");
  // two signals sent together may arrive as one: the second goes once the first is seen
  await waitForStderr(child, /makemore: interrupted: finishing/);
  child.kill("SIGINT");
  expect((await done).code).toBe(130);
  const last = meta(path.join(out, "last.ckpt")).step;
  expect(last).toBeGreaterThanOrEqual(meta(path.join(out, "model.ckpt")).step);
  expectIncreasing(await resumeFrom(out, last, 20));
});

test("a grid stopped by SIGTERM writes results.csv; grid --resume trains only what did not finish", async () => {
  const grid = path.join(root, "grid.json");
  fs.writeFileSync(grid, '{ "nEmbd": [2, 3, 4], "nHidden": [8], "evalEvery": 500 }');
  const out = path.join(root, "grid");
  const args = ["grid", "-i", input, "-o", out, "--grid", grid, "--workers", "1", "--max-steps", "3000"];
  const child = spawnCli(args);
  const done = finished(child);
  // one worker takes the runs in order: stopped while the second trains
  await waitForStderr(child, /\[1\/3\] [0-9a-f]{6} finished/);
  child.kill("SIGTERM");
  const stopped = await done;
  expect(stopped.code).toBe(143);
  const before = readResults(path.join(out, "results.csv"));
  expect(before.map((r) => r.status)).toEqual(["finished", "interrupted", "cancelled"]);
  const interrupted = before[1]!;
  // a plain rerun is refused; --resume goes on, the interrupted run from its checkpoint
  expect((await runCli(args)).code).toBe(2);
  const resumed = await runCli([...args, "--resume"]);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(/^grid: 2 runs, 1 kept from before on /m);
  const after = readResults(path.join(out, "results.csv"));
  expect(after.map((r) => r.status)).toEqual(["finished", "finished", "finished"]);
  expect(after.map((r) => r.tag)).toContain(interrupted.tag);
  expect(after.find((r) => r.tag === before[0]!.tag)).toEqual(before[0]);
  const log = readRunLog(path.join(out, interrupted.tag!, "log.csv")).map((r) => r.step);
  expectIncreasing(log);
  // again: every run has a finished row, nothing is trained
  const again = await runCli([...args, "--resume"]);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/^grid: 0 runs, 3 kept from before on /m);
  expect(readResults(path.join(out, "results.csv"))).toEqual(after);
});
