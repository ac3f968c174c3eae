/**
 * Run folders that stay consistent (issue 17), tried as an adversarial user
 * would: two trainings racing into one folder, a run killed with SIGKILL and
 * resumed, --resume on other data, empty and impossible paths, sizes that
 * cannot fit, closed pipes, and a resume after config.json was deleted.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { initBackend } from "../lib/runtime/backend";
import { loadRun, readRunLog } from "../lib/index";
import { readRunConfig } from "../lib/experiments/run-files";
import { formatBytes } from "../lib/experiments/limits";
import { acquireRunLock, LOCK_FILE } from "../lib/experiments/run-lock";
import {
  type CliResult,
  expectError,
  finished,
  inProcess,
  runCli,
  spawnCli,
  tempDir,
  waitForStderr,
  writeNames,
} from "./support/cli";

jest.setTimeout(120000);

/** A tiny model: a few hundred steps a second even on a busy machine. */
const TINY = ["--n-embd", "4", "--n-hidden", "16", "--batch-size", "16", "--eval-every", "20"];

let root = "";
let input = "";

beforeAll(() => {
  root = tempDir("mm-runs-");
  input = writeNames(root);
});

/** Every file under a folder, relative, sorted (lock files included). */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

test("two trainings started together into one folder: one runs, the other exits 2 naming it; the folder resumes", async () => {
  const out = path.join(root, "race");
  const args = ["train", "-i", input, "-o", out, ...TINY, "--max-steps", "20000", "--eval-every", "5000"];
  const children = [spawnCli(args), spawnCli(args)];
  const results = await Promise.all(children.map(finished));
  const winner = results.findIndex((r) => r.code === 0);
  expect(results.map((r) => r.code).sort()).toEqual([0, 2]);
  const loser = results[1 - winner] as CliResult;
  const pid = children[winner]?.pid as number;
  expectError(
    loser,
    2,
    new RegExp(
      `^makemore: error: ${out} is in use by makemore train \\(pid ${pid} on ${os.hostname()}, since [-\\d]+T[\\d:.]+Z\\); wait for it to end or stop it$`,
    ),
  );
  expect(loser.stdout).toBe("");
  // one run in the folder: one tag in the log, and config.json describes the checkpoints
  const tags = new Set(readRunLog(path.join(out, "log.csv")).map((r) => r.tag));
  expect(tags.size).toBe(1);
  expect(fs.readdirSync(out).sort()).toEqual(["config.json", "last.ckpt", "log.csv", "model.ckpt", "samples.txt"]);
  await initBackend("cpu", { quiet: true });
  const best = loadRun(out);
  expect(best.config).toEqual(readRunConfig(out).config);
  expect([...tags]).toEqual([best.meta.tag]);
  best.model.dispose();
  const resumed = await runCli(["train", "-o", out, "--resume", "--max-steps", "20040", "--samples", "0"]);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(/^run [0-9a-f]{6} started from step 20000: /m);
});

test("a run killed with SIGKILL leaves a stale lock that the next run takes over", async () => {
  const out = path.join(root, "killed");
  const child = spawnCli(["train", "-i", input, "-o", out, ...TINY, "--max-steps", "10000000"]);
  const done = finished(child);
  await waitForStderr(child, /step \d+\/10000000 /);
  child.kill("SIGKILL");
  expect((await done).code).toBeNull();
  const lock = JSON.parse(fs.readFileSync(path.join(out, LOCK_FILE), "utf8")) as { pid: number };
  expect(lock.pid).toBe(child.pid);
  const resumed = await runCli(["train", "-o", out, "--resume", "--max-steps", "40", "--samples", "0"]);
  expect(resumed.code).toBe(0);
  expect(resumed.stderr).toContain(`makemore: note: took over ${out} from makemore train (pid ${child.pid} on `);
  expect(resumed.stdout).toMatch(/^run [0-9a-f]{6} finished: /m);
  expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false);
});

test("a folder locked by a live process is refused for train, grid and lottery, and nothing is written", async () => {
  const out = path.join(root, "held");
  const lock = acquireRunLock(out, "makemore train");
  try {
    const held = `makemore: error: ${out} is in use by makemore train (pid ${process.pid} on ${os.hostname()}, since ${lock.holder.since}); wait for it to end or stop it`;
    const grid = path.join(root, "held-grid.json");
    fs.writeFileSync(grid, '{ "nEmbd": [2], "maxSteps": 20, "evalEvery": 20 }');
    // train as a separate process; grid and lottery are refused before any backend, so in this one
    const t = await runCli(["train", "-i", input, "-o", out, ...TINY, "--max-steps", "20"]);
    const g = await inProcess(["grid", "-i", input, "-o", out, "--grid", grid]);
    const l = await inProcess(["lottery", "-i", input, "-o", out, "--seeds", "2", "--max-steps", "20"]);
    // a resume is told the folder is in use, not that the run in it lacks files
    const resume = await inProcess(["train", "-o", out, "--resume"]);
    for (const r of [t, g, l, resume]) expectError(r, 2, held);
    expect(tree(out)).toEqual([LOCK_FILE]);
  } finally {
    lock.release();
  }
});

test("--resume on other data is refused unless --new-data, which records the change", async () => {
  const out = path.join(root, "data-change");
  expect((await runCli(["train", "-i", input, "-o", out, ...TINY, "--max-steps", "40", "--samples", "0"])).code).toBe(
    0,
  );
  const first = readRunConfig(out) as unknown as { data: { sha256: string } };
  const other = path.join(root, "other.txt");
  fs.writeFileSync(other, fs.readFileSync(input, "utf8").split("\n").slice(0, 200).join("\n") + "\n");
  const accents = path.join(root, "accents.txt");
  fs.writeFileSync(accents, "zoë\njosé\nemma\n");
  // refused before any backend starts, so in this process
  const refused = await inProcess(["train", "-i", other, "-o", out, "--resume", "--max-steps", "60"]);
  const alphabet = await inProcess(["train", "-i", accents, "-o", out, "--resume", "--max-steps", "60", "--new-data"]);
  expectError(
    refused,
    2,
    new RegExp(
      `^makemore: error: cannot resume ${out} on other data: it was trained on ${input} \\(300 lines, [\\d,]+ bytes, sha256 ${first.data.sha256.slice(0, 8)}\\), ` +
        `not on ${other} \\(200 lines, [\\d,]+ bytes, sha256 [0-9a-f]{8}\\); pass --new-data to go on training on it on purpose, or train into another folder$`,
    ),
  );
  expectError(
    alphabet,
    2,
    `makemore: error: cannot resume ${out} on ${accents}: it holds characters the run's vocabulary lacks ("ë", "é"), ` +
      "so it is not the data the run was trained on and the model cannot read it; train a new run in another folder",
  );
  const moved = await runCli(["train", "-i", other, "-o", out, "--resume", "--max-steps", "60", "--new-data"]);
  expect(moved.code).toBe(0);
  expect(moved.stdout).toMatch(/^run ([0-9a-f]{6}) started from step 40 on new data: /m);
  const tag = /^run ([0-9a-f]{6}) started/m.exec(moved.stdout)?.[1];
  const saved = readRunConfig(out) as unknown as { dataset: string; data: { source: string }; dataHistory: unknown[] };
  expect(saved.dataset).toBe(other);
  expect(saved.data.source).toBe(other);
  expect(saved.dataHistory).toEqual([
    expect.objectContaining({ source: input, fromStep: 0, previousBest: null, sha256: first.data.sha256 }),
    expect.objectContaining({ source: other, fromStep: 40, tag, previousBest: "model.before-40.ckpt", lines: 200 }),
  ]);
  expect(fs.existsSync(path.join(out, "model.before-40.ckpt"))).toBe(true);
  // the best val loss starts afresh on the new data: its first evaluation is saved as the best
  expect(moved.stdout).toMatch(/^step {5}60 .*\(best, saved\)$/m);
});

test("empty, blank and impossible paths are usage errors, and nothing is written (not even into the current folder)", async () => {
  const cwd = tempDir("mm-runs-cwd-");
  const file = path.join(root, "a-file.txt");
  fs.writeFileSync(file, "x\n");
  const spawned = await Promise.all([
    runCli(["train", "-i", input, "-o", "", "--max-steps", "20"], { cwd }),
    runCli(["train", "-i", input, "-o", "  ", "--max-steps", "20"], { cwd }),
  ]);
  expectError(spawned[0] as CliResult, 2, "makemore: error: -o/--out is empty: give a folder path");
  expectError(spawned[1] as CliResult, 2, 'makemore: error: -o/--out is only whitespace ("  "): give a folder path');
  const grid = path.join(root, "g.json");
  fs.writeFileSync(grid, '{ "nEmbd": [2] }');
  const cases: [string[], string][] = [
    [["train", "-i", input, "-o", file], `-o/--out ${file} is a file, not a folder`],
    [
      ["train", "-i", input, "-o", path.join(file, "run")],
      `-o/--out ${path.join(file, "run")}: ${file} is a file, so no folder can be made in it`,
    ],
    [["train", "-i", input, "-o", "runs/a\0b"], '-o/--out "runs/a\\u0000b" holds a NUL byte'],
    [
      ["train", "-i", "", "-o", cwd],
      "-i/--input is empty: give a dataset name (names, words, brown, addition, sqrt) or a file path",
    ],
    [
      ["train", "-i", path.join(file, "names.txt"), "-o", cwd],
      `-i/--input ${path.join(file, "names.txt")}: ${file} is a file, not a folder`,
    ],
    [["grid", "-i", input, "-o", cwd, "--grid", ""], "--grid is empty: give a file path"],
    [["grid", "-i", input, "-o", "", "--grid", grid], "-o/--out is empty: give a folder path"],
    [
      ["lottery", "-i", " ", "-o", cwd, "--seeds", "2"],
      '-i/--input is only whitespace (" "): give a dataset name (names, words, brown, addition, sqrt) or a file path',
    ],
    [["sample", "-o", ""], "-o/--out is empty: give a run folder or a checkpoint file"],
    [
      ["sample", "-o", path.join(file, "model.ckpt")],
      `-o/--out ${path.join(file, "model.ckpt")}: ${file} is a file, not a folder`,
    ],
    [
      ["train", "-i", input, "-o", path.join(root, "x".repeat(300))],
      `-o/--out: the name '${"x".repeat(24)}...' in it is longer than 255 bytes`,
    ],
  ];
  for (const [args, message] of cases) expectError(await inProcess(args), 2, `makemore: error: ${message}`);
  expect(fs.readdirSync(cwd)).toEqual([]);
});

test("sizes that cannot fit are refused before any write, exit 3, with the estimate and the ceiling", async () => {
  const out = path.join(root, "too-big");
  const t0 = Date.now();
  // the case as a user runs it; the others in this process (the check comes before any backend)
  const batch = await runCli(["train", "-i", input, "-o", out, "--batch-size", "100000000"]);
  expect(Date.now() - t0).toBeLessThan(30000);
  const context = await inProcess(["train", "-i", input, "-o", out, "--block-size", "10000000"]);
  process.env.MAKEMORE_MAX_MEMORY = "100m";
  const env = await inProcess(["train", "-i", input, "-o", out]).finally(() => delete process.env.MAKEMORE_MAX_MEMORY);
  const flag = await inProcess([
    "lottery",
    "-i",
    input,
    "-o",
    out,
    "--seeds",
    "2",
    "--max-memory",
    "150m",
    "--workers",
    "1",
  ]);
  const ceiling = `half of this machine's ${formatBytes(os.totalmem())}; --max-memory or MAKEMORE_MAX_MEMORY sets it`;
  expectError(
    batch,
    3,
    new RegExp(
      `^makemore: error: the run needs about \\d+ GB of memory \\(activations of a batch of 100,000,000 \\d+ GB, minibatch of 100,000,000 3\\.0 GB\\), more than the ceiling of [\\d.]+ GB \\(${ceiling}\\)$`,
    ),
  );
  expectError(context, 3, /^makemore: error: the run needs about [\d.]+ [GT]B of memory \(/);
  expectError(
    env,
    3,
    /^makemore: error: the run needs about 2\d\d MB of memory .*more than the ceiling of 100 MB \(MAKEMORE_MAX_MEMORY=100m; /,
  );
  expectError(
    flag,
    3,
    /^makemore: error: run [0-9a-f]{6} needs about 2\d\d MB of memory .* more than the ceiling of 150 MB \(--max-memory 150 MB; /,
  );
  expect(fs.existsSync(out)).toBe(false);
});

test("a closed stdout ends help and sample quietly with exit 0; train finishes its run", async () => {
  const out = path.join(root, "race"); // the run of the first test
  const closed = (args: string[]): Promise<CliResult> => {
    const child = spawnCli(args);
    child.stdout?.destroy(); // the reader goes away at once, like `| head -1` after its line
    return finished(child);
  };
  const [help, sample, train] = await Promise.all([
    closed(["grid", "--help"]),
    closed(["sample", "-o", out, "-n", "200"]),
    closed(["train", "-i", input, "-o", path.join(root, "piped-train"), ...TINY, "--max-steps", "40"]),
  ]);
  for (const r of [help, sample, train])
    expect({ code: r.code, stderr: r.stderr.replace(/^\S+ step .*\n/gm, "") }).toEqual({ code: 0, stderr: "" });
  expect(fs.readdirSync(path.join(root, "piped-train")).sort()).toEqual([
    "config.json",
    "last.ckpt",
    "log.csv",
    "model.ckpt",
    "samples.txt",
  ]);
});

test("--resume says what the folder holds and what it lacks", async () => {
  const partial = path.join(root, "partial");
  fs.mkdirSync(partial);
  for (const name of ["model.ckpt", "last.ckpt", "log.csv"]) fs.writeFileSync(path.join(partial, name), "");
  const empty = path.join(root, "empty-run");
  fs.mkdirSync(empty);
  const none = path.join(root, "no-such-run");
  const [p, e, n, both] = [
    await inProcess(["train", "-o", partial, "--resume"]),
    await inProcess(["train", "-o", empty, "--resume"]),
    await inProcess(["train", "-o", none, "--resume"]),
    await inProcess(["train", "-i", input, "-o", partial, "--new-data"]),
  ];
  expectError(
    p,
    2,
    `makemore: error: cannot resume ${partial}: config.json is missing (it holds model.ckpt, last.ckpt, log.csv)`,
  );
  expectError(e, 2, `makemore: error: nothing to resume in ${empty}: it holds no run (no config.json, no model.ckpt)`);
  expectError(n, 2, `makemore: error: nothing to resume in ${none}: no such folder`);
  expectError(both, 2, "makemore: error: --new-data goes with --resume: it lets a run go on training on other data");
  expect(fs.existsSync(none)).toBe(false);
});

test("grid workers lock and record their run folders, and leave no lock behind", async () => {
  const out = path.join(root, "grid");
  const grid = path.join(root, "grid.json");
  fs.writeFileSync(grid, '{ "nEmbd": [2], "nHidden": [8], "maxSteps": 20, "evalEvery": 20 }');
  const r = await runCli(["grid", "-i", input, "-o", out, "--grid", grid, "--workers", "1"]);
  expect(r.code).toBe(0);
  expect(tree(out).filter((f) => f.includes(LOCK_FILE))).toEqual([]);
  const [tag] = fs.readdirSync(out).filter((f) => f !== "results.csv");
  const saved = readRunConfig(path.join(out, tag as string)) as unknown as {
    data: { lines: number };
    dataHistory: unknown[];
  };
  expect(saved.data.lines).toBe(300);
  expect(saved.dataHistory).toEqual([expect.objectContaining({ fromStep: 0, tag })]);
});
