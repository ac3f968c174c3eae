/**
 * Issue 26, in one process: writes that cannot destroy a good file (a short
 * write and a full disk injected into fs.writeSync), reads that stop at a
 * stated size, log.csv repaired before a resume appends to it, the smaller
 * refusals of the command line, and the library's refusals (concurrent
 * training of one model, bad learning rates, token ids outside the
 * vocabulary on both engines, sampling a disposed model).
 */
import * as fs from "fs";
import fsModule from "fs";
import * as path from "path";
import { readLines, DataError } from "../lib/data/lines";
import { readCheckpoint, CheckpointError } from "../lib/experiments/checkpoint";
import { expandGrid, readGridFile } from "../lib/experiments/grid";
import { runExperiment } from "../lib/experiments/experiment";
import { loadRun } from "../lib/experiments/run-model";
import { readRunLog, repairRunLog } from "../lib/experiments/runlog";
import { MLP, INIT_PRESETS } from "../lib/models/mlp";
import { initBackend } from "../lib/runtime/backend";
import { readFileBounded, writeFileAtomic, WriteError } from "../lib/runtime/files";
import { sampleFromModel, splitLoss } from "../lib/training/evaluate";
import { train } from "../lib/training/train";
import { Vocab } from "../lib/data/vocab";
import { expectError, inProcess, syntheticNames, tempDir } from "./support/cli";
import { smallSplit } from "./support/training";

const root = tempDir("mm-reliability-");
const words = syntheticNames(300);
const tiny = { nEmbd: 4, nHidden: 16, maxSteps: 40, evalEvery: 20, batchSize: 16 };

beforeAll(async () => {
  await initBackend("cpu");
});

afterEach(() => jest.restoreAllMocks());

/** Makes fs.writeSync write half of what it is given once `after` calls have passed, then fail as a full disk does. */
function fullDiskAfter(after: number): void {
  const real = fs.writeSync.bind(fs) as (fd: number, b: Uint8Array, off: number, len: number) => number;
  let calls = 0;
  // the module object itself: lib/runtime/files.ts reads fs.writeSync from it at each call
  jest.spyOn(fsModule, "writeSync").mockImplementation(((
    fd: number,
    buffer: Uint8Array,
    offset = 0,
    length?: number,
  ) => {
    const len = length ?? buffer.length - offset;
    if (++calls <= after) return real(fd, buffer, offset, len);
    if (calls === after + 1) return real(fd, buffer, offset, Math.floor(len / 2));
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  }) as unknown as typeof fs.writeSync);
}

const tmpFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("no write destroys a good file", () => {
  test("a short write then a full disk: the old file stays, the temporary file goes, one clear line", () => {
    const dir = tempDir("mm-atomic-");
    const file = path.join(dir, "model.ckpt");
    writeFileAtomic(file, "the good checkpoint");
    fullDiskAfter(0);
    expect(() => writeFileAtomic(file, Buffer.alloc(100_000, 7))).toThrow(
      new WriteError(`cannot write ${file}: no space left on the device; the previous model.ckpt is kept`),
    );
    jest.restoreAllMocks();
    expect(fs.readFileSync(file, "utf8")).toBe("the good checkpoint");
    expect(tmpFiles(dir)).toEqual([]);
  });

  test("a run whose disk fills up stops with the error and keeps its best checkpoint loadable", async () => {
    const dir = path.join(root, "full-disk");
    let evals = 0;
    const run = runExperiment({
      config: tiny,
      words,
      outDir: dir,
      samples: 0,
      // the disk fills up after the step-0 evaluation has saved its checkpoints
      onEval: () => void (++evals === 1 && fullDiskAfter(0)),
    });
    await expect(run).rejects.toThrow(/^cannot write .*(last|model)\.ckpt: no space left on the device; the previous/);
    jest.restoreAllMocks();
    const best = loadRun(dir);
    expect(best.meta.step).toBe(0);
    best.model.dispose();
    expect(tmpFiles(dir)).toEqual([]);
  });
});

describe("bounded reads", () => {
  beforeAll(() => fs.writeFileSync(path.join(root, "names.txt"), words.join("\n") + "\n"));

  test("endless and huge inputs stop at their limit with one line", () => {
    expect(() => readLines("/dev/zero")).toThrow(
      new DataError("cannot read /dev/zero: it holds more than 256 MB, the limit for a dataset"),
    );
    expect(() => readGridFile("/dev/urandom")).toThrow(/^cannot read \/dev\/urandom: it holds more than 1 MB/);
    expect(() => readCheckpoint("/dev/zero")).toThrow(
      new CheckpointError("/dev/zero is not a regular file, so not a checkpoint"),
    );
    // a sparse file: 300 MB by its size, refused before a byte is read
    const big = path.join(root, "big.txt");
    fs.closeSync(fs.openSync(big, "w"));
    fs.truncateSync(big, 300 * 2 ** 20);
    const t0 = Date.now();
    expect(() => readLines(big)).toThrow(/it holds more than 256 MB, the limit for a dataset$/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(readFileBounded(path.join(root, "names.txt"), 2 ** 20, "x").toString()).toBe(words.join("\n") + "\n");
  });

  test("a grid of a hundred million points is refused before it is expanded", () => {
    const axis = Array.from({ length: 10_000 }, (_, i) => i + 1);
    expect(() => expandGrid({ nEmbd: axis, nHidden: axis })).toThrow(
      "the grid has 100,000,000 combinations, more than the limit of 10,000 runs",
    );
  });
});

describe("log.csv before a resume", () => {
  const header = "tag,step,train_loss,val_loss,seconds\n";
  const row = (tag: string, step: number): string => `${tag},${step},2.000000,2.100000,1.000\n`;

  test("a torn last row is dropped, with a note, and the next row is not glued to it", () => {
    const file = path.join(root, "torn.csv");
    fs.writeFileSync(file, header + row("aaaaaa", 0) + row("aaaaaa", 100) + "aaaaaa,200,2.0");
    expect(repairRunLog(file, null)).toEqual([`${file}: dropped a torn last row ('aaaaaa,200,2.0')`]);
    fs.appendFileSync(file, row("bbbbbb", 200));
    expect(readRunLog(file).map((r) => `${r.tag}@${r.step}`)).toEqual(["aaaaaa@0", "aaaaaa@100", "bbbbbb@200"]);
  });

  test("rows after the resumed step are dropped; an earlier run's rows in the file stay", () => {
    const file = path.join(root, "lost.csv");
    // an old run to step 500, then this run: its checkpoint is at 100, its rows at 200 and 300 were lost
    const text = header + row("old000", 0) + row("old000", 500) + row("run111", 0) + row("run111", 100);
    fs.writeFileSync(file, text + row("run111", 200) + row("run111", 300));
    expect(repairRunLog(file, 100)).toEqual([
      `${file}: dropped 2 rows after step 100, of a part of the run no checkpoint holds`,
    ]);
    expect(fs.readFileSync(file, "utf8")).toBe(text);
    expect(repairRunLog(file, 100)).toEqual([]);
  });
});

describe("the command line's smaller cases: one line, the right code", () => {
  test("values, folders and files", async () => {
    const input = path.join(root, "names.txt");
    const five = path.join(root, "five.txt");
    fs.writeFileSync(five, words.slice(0, 5).join("\n") + "\n");
    const foreign = path.join(root, "foreign");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "config.json"), '{"name":"my-app"}');
    const foreignLog = path.join(root, "foreign-log");
    fs.mkdirSync(foreignLog);
    fs.writeFileSync(path.join(foreignLog, "log.csv"), "date,temp\n2024,3\n");
    const nullRun = path.join(root, "null-run");
    fs.mkdirSync(nullRun);
    fs.writeFileSync(path.join(nullRun, "config.json"), "null");
    fs.writeFileSync(path.join(nullRun, "model.ckpt"), "");
    const out = path.join(root, "never");
    const longest = Math.max(...words.map((w) => w.length));
    const cases: [string[], number, string][] = [
      [
        ["train", "-i", input, "-o", out, "--seed", "4294967296"],
        2,
        "option '--seed <n>' argument '4294967296' is invalid. it must be at most 4,294,967,295, got \"4294967296\".",
      ],
      [
        ["train", "-i", input, "-o", out, "--max-steps", "1e20"],
        2,
        "option '--max-steps <n>' argument '1e20' is invalid. it must be at most 9,007,199,254,740,991, got \"1e20\".",
      ],
      [
        ["train", "-i", input, "-o", out, "--optimizer", "adamw", "--weight-decay", "1e300"],
        2,
        "weightDecay 1e+300 times lr 0.0005 must be below 1: each step scales the weights by 1 - lr·weightDecay",
      ],
      [
        ["train", "-i", input, "-o", out, "--model", "gru", "--block-size", "3"],
        2,
        `the gru model reads whole lines: its block size is the longest line + 1, ${longest + 1} here, so blockSize 3 is not possible`,
      ],
      [
        ["train", "-i", input, "-o", "/"],
        2,
        "-o/--out / is the root folder: give a folder of its own for the run files, e.g. runs/mlp",
      ],
      [
        ["train", "-i", input, "-o", foreign, "--force"],
        2,
        `${foreign}/config.json is not a makemore run's config.json (dataset: expected string, received undefined); --force replaces only a makemore run: move it away or use another folder`,
      ],
      [
        ["train", "-i", input, "-o", foreignLog, "--force"],
        2,
        `${foreignLog}/log.csv is not a run log (its header is 'date,temp'); --force replaces only a makemore run: move it away or use another folder`,
      ],
      [
        ["train", "-i", input, "-o", nullRun, "--resume"],
        1,
        `${nullRun}/config.json is not a makemore run's config.json (expected object, received null)`,
      ],
      [["train", "-i", five, "-o", out], 1, `${five} has 5 lines, too few to split: its val split would be empty`],
      [
        ["sample", "-o", out, "-n", "1000000000"],
        2,
        "option '-n, --num <n>' argument '1000000000' is invalid. it must be at most 100,000.",
      ],
      [
        ["lottery", "-i", input, "-o", out, "--seeds", "1000000000"],
        2,
        "option '--seeds <n>' argument '1000000000' is invalid. it must be at most 10,000.",
      ],
      [
        ["worker", "--queue", "redis://:pw@127.0.0.1:1/abc"],
        2,
        "--queue redis://:***@127.0.0.1:1/abc: after HOST:PORT only a database number may follow, such as /0",
      ],
    ];
    for (const [args, code, message] of cases) expectError(await inProcess(args), code, `makemore: error: ${message}`);
    expect(fs.existsSync(out)).toBe(false);
    // a queue that cannot be reached leaves no folder behind
    const grid = path.join(root, "grid.json");
    fs.writeFileSync(grid, '{ "nEmbd": [2, 3] }');
    const queued = await inProcess(["grid", "-i", input, "-o", out, "--grid", grid, "--queue", "redis://127.0.0.1:1"]);
    expect(queued.stdout).toBe("");
    expectError(
      queued,
      1,
      "makemore: error: cannot reach the queue at redis://127.0.0.1:1: nothing answers at that host and port (connection refused)",
    );
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(path.join(foreign, "config.json"), "utf8")).toBe('{"name":"my-app"}');
    expect(fs.readFileSync(path.join(foreignLog, "log.csv"), "utf8")).toBe("date,temp\n2024,3\n");
  });
});

describe("the library's refusals", () => {
  const split = smallSplit(300, 3);
  const mlp = (): MLP => new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed: 1, init: INIT_PRESETS.kaiming });

  test("train() twice at once on one model is refused; one after the other is fine", async () => {
    const model = mlp();
    const first = train(model, split.train, { steps: 50, progress: false });
    await expect(train(model, split.train, { steps: 5, progress: false })).rejects.toThrow(
      "this model is already being trained by another train() call: await that one first",
    );
    await first;
    expect((await train(model, split.train, { steps: 5, progress: false })).steps).toBe(5);
    model.dispose();
  });

  test.each(["fused", "tfjs"] as const)(
    "bad learning rates and token ids are refused on the %s engine",
    async (engine) => {
      const model = mlp();
      const go = (lr: unknown, data = split.train): Promise<unknown> =>
        train(model, data, { steps: 5, lr: lr as number, engine, progress: false });
      await expect(go(-0.1)).rejects.toThrow("the learning rate must be a finite number of at least 0, got -0.1");
      await expect(go(NaN)).rejects.toThrow("the learning rate must be a finite number of at least 0, got NaN");
      await expect(go("0.1")).rejects.toThrow(
        'lr must be a number, a { lr, decayAt, decayedLr } schedule or a function, got "0.1"',
      );
      await expect(go({ lr: 0.1, decayAt: 10, decayedLr: -1 })).rejects.toThrow("got -1");
      await expect(go(() => Infinity)).rejects.toThrow("got Infinity");
      // the same examples encoded with a larger vocabulary: id 30 does not exist in the model's 27
      const wide = { ...split.train, X: split.train.X.slice(), Y: split.train.Y.slice() };
      wide.Y[7] = 30;
      const outside = "the data holds token id 30, outside the model's vocabulary of 27 (ids 0 to 26)";
      await expect(go(0.1, wide)).rejects.toThrow(outside);
      expect(() => splitLoss(model, wide, { engine })).toThrow(outside);
      model.dispose();
    },
  );

  test("sampling a disposed model is one clear error", () => {
    const model = mlp();
    model.dispose();
    expect(() => sampleFromModel(model, Vocab.fromWords(words), 3)).toThrow(
      "cannot sample: the model has been disposed",
    );
  });
});
