/**
 * The makemore CLI as a user runs it: bin/makemore.js in a child process,
 * checked by exit code, messages and the files it leaves.
 */
import * as fs from "fs";
import * as path from "path";
import { initBackend } from "../lib/runtime/backend";
import { loadRun, readRunLog } from "../lib/index";
import { type CliResult, expectError, inProcess, runCli, tempDir, writeNames } from "./support/cli";

jest.setTimeout(120000);

/** A tiny model and run: a few seconds per training. */
const SMALL = ["--n-embd", "4", "--n-hidden", "16", "--batch-size", "16", "--max-steps", "60", "--eval-every", "20"];

let root = "";
let input = "";

beforeAll(() => {
  root = tempDir("mm-cli-");
  input = writeNames(root);
});

/** The output without the backend line that initBackend prints. */
function body(r: CliResult): string {
  return r.stdout.replace(/^makemore: tfjs backend .*\n/m, "");
}

test("--help on every command lists its flags", async () => {
  const top = await runCli(["--help"]);
  const [train, sample, grid, lottery] = await Promise.all(
    ["train", "sample", "grid", "lottery"].map((c) => inProcess([c, "--help"])),
  );
  for (const r of [top, train!, sample!, grid!, lottery!]) expect(r.code).toBe(0);
  expect(top.stdout).toMatch(/Usage: makemore \[options\] \[command\]/);
  for (const c of ["train", "sample", "grid", "lottery"]) expect(top.stdout).toContain(`  ${c} [options]`);
  for (const flag of [
    "-i, --input <file>",
    "-o, --out <dir>",
    "--model <kind>",
    "--block-size <n>",
    "--n-embd <n>",
    "--n-hidden <n>",
    "--n-layers <n>",
    "--batch-size <n>",
    "--lr <rate>",
    "--lr-decay-step <step>",
    "--max-steps <n>",
    "--eval-every <n>",
    "--early-stop <n>",
    "--target-loss <loss>",
    "--max-params <n>",
    "--seed <n>",
    "--backend <name>",
    "--resume",
    "--force",
  ]) {
    expect(train!.stdout).toContain(flag);
  }
  expect(sample!.stdout).toContain("-n, --num <n>");
  expect(grid!.stdout).toContain("--grid <file>");
  expect(grid!.stdout).toContain("--workers <k>");
  expect(lottery!.stdout).toContain("--seeds <n>");
});

test("train leaves config, log, best checkpoint and samples; the same seed gives the same losses and samples", async () => {
  const a = path.join(root, "same-a");
  const b = path.join(root, "same-b");
  const trainInto = (out: string): Promise<CliResult> =>
    runCli(["train", "-i", input, "-o", out, ...SMALL, "--seed", "5", "--samples", "4"]);
  const [ra, rb] = await Promise.all([trainInto(a), trainInto(b)]);
  expect([ra.code, rb.code]).toEqual([0, 0]);
  const tag = /^run ([0-9a-f]{6}) started: mlp block 3, embd 4, hidden 16, \d+ parameters/m.exec(ra.stdout)?.[1];
  expect(tag).toBeDefined();
  expect(ra.stdout).toMatch(
    /^run [0-9a-f]{6} started: .* 60 steps on the fused kernels \(tfjs backend (wasm|cpu|node)\) -> /m,
  );
  expect(ra.stdout).toMatch(
    new RegExp(`^run ${tag} finished: best val loss \\d\\.\\d{4} at step \\d+ \\(60 steps`, "m"),
  );
  expect(fs.readdirSync(a).sort()).toEqual(["config.json", "last.ckpt", "log.csv", "model.ckpt", "samples.txt"]);
  const logA = readRunLog(path.join(a, "log.csv"));
  const logB = readRunLog(path.join(b, "log.csv"));
  expect(logA.map((r) => r.tag)).toEqual([tag, tag, tag, tag]);
  expect(logB[0]!.tag).not.toBe(tag);
  const values = (rows: typeof logA): number[][] => rows.map((r) => [r.step, r.trainLoss, r.valLoss]);
  expect(values(logA)).toEqual(values(logB));
  expect(logA.map((r) => r.step)).toEqual([0, 20, 40, 60]);
  const samples = fs.readFileSync(path.join(a, "samples.txt"), "utf8");
  expect(samples.trimEnd().split("\n")).toHaveLength(4);
  expect(fs.readFileSync(path.join(b, "samples.txt"), "utf8")).toBe(samples);
  expect(ra.stdout).toContain(`samples from ${path.join(a, "model.ckpt")}:\n`);

  // sample: the same seed, the same words; the lib loads the same checkpoint
  const [s1, s2, s3] = await Promise.all([
    runCli(["sample", "-o", a, "-n", "6", "--seed", "3"]),
    runCli(["sample", "-o", b, "-n", "6", "--seed", "3"]),
    runCli(["sample", "-o", a, "-n", "6", "--seed", "4"]),
  ]);
  expect([s1.code, s2.code, s3.code]).toEqual([0, 0, 0]);
  expect(body(s1).trimEnd().split("\n")).toHaveLength(6);
  expect(body(s1)).toBe(body(s2));
  expect(body(s1)).not.toBe(body(s3));
  await initBackend("cpu");
  const run = loadRun(a);
  expect(run.meta.tag).toBe(tag);
  expect(run.config).toMatchObject({ nEmbd: 4, nHidden: 16, seed: 5 });
  run.model.dispose();
});

test("bad input files and dataset names: one line each, exit 1", async () => {
  const dir = path.join(root, "bad-inputs");
  fs.mkdirSync(dir);
  const empty = path.join(dir, "empty.txt");
  fs.writeFileSync(empty, "\n\n  \n");
  const binary = path.join(dir, "data.bin");
  fs.writeFileSync(binary, Buffer.from([0x61, 0x00, 0x62, 0x0a]));
  const latin1 = path.join(dir, "latin1.txt");
  fs.writeFileSync(latin1, Buffer.from([0x6a, 0x6f, 0x73, 0xe9, 0x0a]));
  const missing = path.join(dir, "missing.txt");
  const cases: [string, string][] = [
    [missing, `makemore: error: cannot read ${missing}: no such file`],
    [empty, `makemore: error: cannot read ${empty}: it holds no non-blank line`],
    [dir, `makemore: error: cannot read ${dir}: it is a directory, not a text file`],
    [binary, `makemore: error: cannot read ${binary}: it looks binary (it holds NUL bytes)`],
    [latin1, `makemore: error: cannot read ${latin1}: it is not valid UTF-8 text`],
    [
      "poems",
      "makemore: error: unknown dataset 'poems': use one of names, words, brown, addition, sqrt or a file path",
    ],
  ];
  const results = await Promise.all(cases.map(([file]) => runCli(["train", "-i", file, "-o", path.join(dir, "out")])));
  results.forEach((r, i) => expectError(r, 1, cases[i]![1]));
  expect(fs.existsSync(path.join(dir, "out"))).toBe(false);
});

test("bad flags and values: one line each, exit 2", async () => {
  const out = path.join(root, "bad-flags");
  const cases: [string[], string | RegExp][] = [
    [["train", "-i", input, "-o", out, "--lrr", "0.1"], "makemore: error: unknown option '--lrr' (Did you mean --lr?)"],
    [
      ["train", "-i", input, "-o", out, "--lr", "fast"],
      `makemore: error: option '--lr <rate>' argument 'fast' is invalid. it must be a positive number, got "fast".`,
    ],
    [
      ["train", "-i", input, "-o", out, "--n-embd", "2.5"],
      `makemore: error: option '--n-embd <n>' argument '2.5' is invalid. it must be a positive integer, got "2.5".`,
    ],
    [
      ["train", "-i", input, "-o", out, "--model", "gpt"],
      /^makemore: error: option '--model <kind>' argument 'gpt' is invalid/,
    ],
    [
      ["train", "-i", input, "-o", out, "--backend", "gpu"],
      /^makemore: error: option '--backend <name>' argument 'gpu' is invalid/,
    ],
    [["train", "-i", input], "makemore: error: required option '-o, --out <dir>' not specified"],
    [
      ["train", "-o", out],
      "makemore: error: missing -i/--input: a dataset name (names, words, brown, addition, sqrt) or a file",
    ],
    [["train", "-i", input, "-o", out, "--model", "deep", "--batch-size", "1"], /needs batchSize of at least 2$/],
    [["train", "-i", input, "-o", out, "extra"], /^makemore: error: too many arguments for 'train'/],
    [["sample", "-o", out, "-n", "0"], /^makemore: error: option '-n, --num <n>' argument '0' is invalid/],
    [["fly"], "makemore: error: unknown command 'fly'"],
  ];
  // the first two as a user runs them, the rest in-process (same program, same exit codes)
  const spawned = await Promise.all(cases.slice(0, 2).map(([args]) => runCli(args)));
  const local: CliResult[] = [];
  for (const [args] of cases.slice(2)) local.push(await inProcess(args));
  [...spawned, ...local].forEach((r, i) => expectError(r, 2, cases[i]![1]));
  expect(fs.existsSync(out)).toBe(false);
});

test("--max-params below the model's size: refused before training, exit 3", async () => {
  const out = path.join(root, "too-big");
  const r = await runCli(["train", "-i", input, "-o", out, "--n-hidden", "200", "--max-params", "5000"]);
  expectError(r, 3, "makemore: error: the mlp model has 11,897 parameters, more than --max-params 5,000");
  expect(r.stdout).toBe("");
  expect(fs.existsSync(out)).toBe(false);
});

test("an occupied output folder is refused; --resume continues it, --force replaces it", async () => {
  const out = path.join(root, "occupied");
  expect((await runCli(["train", "-i", input, "-o", out, ...SMALL])).code).toBe(0);
  expectError(
    await runCli(["train", "-i", input, "-o", out, ...SMALL]),
    2,
    `makemore: error: ${out} already holds a run (config.json, model.ckpt, last.ckpt, log.csv); use --resume to continue it or --force to replace it`,
  );
  const fresh = path.join(root, "nothing-here");
  const [noRun, changed] = await Promise.all([
    runCli(["train", "-o", fresh, "--resume"]),
    runCli(["train", "-o", out, "--resume", "--n-embd", "8"]),
  ]);
  // after the refused one: two processes resuming one folder at once would meet its lock
  const resumed = await runCli(["train", "-o", out, "--resume", "--max-steps", "100"]);
  expectError(noRun, 2, `makemore: error: nothing to resume in ${fresh}: no such folder`);
  expectError(changed, 2, /^makemore: error: cannot resume with nEmbd 8: the saved run has 4/);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(/^run [0-9a-f]{6} started from step 60: mlp block 3, embd 4, hidden 16/m);
  const log = readRunLog(path.join(out, "log.csv"));
  expect(log.map((r) => r.step)).toEqual([0, 20, 40, 60, 80, 100]);
  expect(new Set(log.map((r) => r.tag)).size).toBe(2);
  const forced = await runCli(["train", "-i", input, "-o", out, ...SMALL, "--force"]);
  expect(forced.code).toBe(0);
  expect(readRunLog(path.join(out, "log.csv"))).toHaveLength(10);
});

test("a corrupted or truncated checkpoint is one clear error for sample and resume", async () => {
  const out = path.join(root, "damaged");
  expect((await runCli(["train", "-i", input, "-o", out, ...SMALL, "--samples", "0"])).code).toBe(0);
  const ckpt = path.join(out, "model.ckpt");
  const good = fs.readFileSync(ckpt);
  const truncated = path.join(root, "truncated");
  const flipped = path.join(root, "flipped");
  for (const [dir, bytes] of [
    [truncated, good.subarray(0, good.length - 100)],
    [flipped, Buffer.from(good.map((b, i) => (i === good.length - 50 ? b ^ 1 : b)))],
  ] as const) {
    fs.cpSync(out, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "model.ckpt"), bytes);
  }
  const [t, f, resumed, none] = await Promise.all([
    runCli(["sample", "-o", truncated]),
    runCli(["sample", "-o", flipped]),
    runCli(["train", "-o", flipped, "--resume", "--max-steps", "80"]),
    runCli(["sample", "-o", path.join(root, "no-such-run")]),
  ]);
  const tc = path.join(truncated, "model.ckpt");
  expectError(t, 1, `makemore: error: ${tc} is truncated (${good.length - 100} of ${good.length} bytes)`);
  expectError(f, 1, `makemore: error: ${path.join(flipped, "model.ckpt")} is corrupted (checksum mismatch)`);
  expectError(resumed, 1, `makemore: error: ${path.join(flipped, "model.ckpt")} is corrupted (checksum mismatch)`);
  expectError(none, 1, `makemore: error: no checkpoint at ${path.join(root, "no-such-run")}`);
});

test("stopping: NaN loss exits 4 keeping the best checkpoint; early stop; target loss with steps and seconds", async () => {
  const [nan, early, target] = await Promise.all([
    // 1e38: at 1e30 the relaxed kernels' fused multiply-adds keep this MLP's loss finite (about 1e31)
    runCli(["train", "-i", input, "-o", path.join(root, "nan"), ...SMALL, "--lr", "1e38"]),
    runCli([
      "train",
      "-i",
      input,
      "-o",
      path.join(root, "early"),
      ...SMALL,
      "--max-steps",
      "400",
      "--lr",
      "3",
      "--early-stop",
      "2",
    ]),
    runCli([
      "train",
      "-i",
      input,
      "-o",
      path.join(root, "target"),
      ...SMALL,
      "--max-steps",
      "400",
      "--target-loss",
      "3.2",
    ]),
  ]);
  expectError(
    nan,
    4,
    new RegExp(
      `^makemore: error: training diverged: the loss at step \\d+ is (NaN|Infinity) .*; the best checkpoint stays in ${path.join(root, "nan", "model.ckpt")}$`,
    ),
    { trained: true },
  );
  expect(nan.stdout).toMatch(/diverged at step \d+; best val loss 3\.\d{4} at step 0/);
  expect(fs.existsSync(path.join(root, "nan", "model.ckpt"))).toBe(true);
  expect(early.code).toBe(0);
  expect(early.stdout).toMatch(
    /stopped early: no better val loss in 2 evaluations; best val loss \d\.\d{4} at step 0 \(40 steps/,
  );
  expect(target.code).toBe(0);
  expect(target.stdout).toMatch(
    /reached the target val loss 3\.2 at step (\d+) after \d+\.\d s; best val loss 3\.[01]\d{3} at step \1/,
  );
});
