/**
 * The bench rows of makemore.py's sequence models: each case trains one
 * model kind with AdamW (makemore.py's lr 5e-4, weight decay 0.01, betas
 * (0.9, 0.99)) on a dataset's training lines, batch 32, and evaluates a test
 * split of min(1000, 10%) lines, as makemore.py sizes it.
 *
 * The batches are drawn once (their row indices) and written, with the
 * lines, to a folder that bench/torch_sequence.py reads: PyTorch trains
 * makemore.py's own classes on exactly the same batches in the same invocation.
 *
 * @module
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { fusedVariants, TFJS, threadCounts, timeRuns, torchEnv, type OursVariant, type TimedRun } from "./threads";
import { isSequences, type Examples } from "../lib/data/examples";
import { loadDataset } from "../lib/data/datasets";
import { buildSequences, longestLine, type Sequences } from "../lib/data/sequences";
import { Vocab } from "../lib/data/vocab";
import { evalLines } from "../lib/engines/chunks";
import type { EngineName } from "../lib/engines/engine";
import { createEngine } from "../lib/engines/factory";
import { GraphNet } from "../lib/engines/graph-net";
import { resolveConfig } from "../lib/experiments/hyperparams";
import { buildModel } from "../lib/experiments/run-model";
import { experimentSplit } from "../lib/experiments/run-data";
import { countParameters, isOpsModel } from "../lib/models/model";
import { Generator } from "../lib/random/generator";
import { makeOptimizer } from "../lib/optim/optimizers";
import { tf } from "../lib/runtime/tf";
import { setKernelBuild, type KernelBuild } from "../lib/engines/kernels";
import type { Engine } from "../lib/engines/engine";
import type { Model } from "../lib/models/model";
import { setTorchRatios } from "./ratios";

/** One sequence row: a model kind on a dataset, and how many steps make a repeat. */
export interface SequenceCase {
  /** the row's name in the table and in `--rows` ("transformer", "gru-brown256", ...) */
  name: string;
  kind: string;
  dataset: "names" | "brown";
  /** brown's lines are cut to this many characters (block = this + 1) */
  maxLineLength?: number;
  /** steps per timed repeat */
  steps: number;
  /**
   * steps before the timing: enough for V8 to optimize the JavaScript that drives the kernels. The
   * functions a step calls once are optimized only after about a thousand steps: the BoW's step on
   * 2 threads took 1.0–1.3 ms in its first 100 steps, 0.6–0.7 ms around step 500 and 0.52–0.55 ms
   * from step 2,000 on (measured in 100-step runs; with V8's --interrupt-budget=8000 it got there
   * by step 600). A short warm-up timed the small models' first thousand steps instead.
   */
  warmup: number;
  /** engines to run ("tfjs" is left out of the long blocks: minutes a step) */
  engines: readonly EngineName[];
}

/** The cases: issue 16's four models on names and two on long lines. */
export const SEQUENCE_CASES: readonly SequenceCase[] = [
  { name: "transformer", kind: "transformer", dataset: "names", steps: 40, warmup: 5, engines: ["fused", "tfjs"] },
  { name: "gru", kind: "gru", dataset: "names", steps: 100, warmup: 1000, engines: ["fused", "tfjs"] },
  { name: "rnn", kind: "rnn", dataset: "names", steps: 200, warmup: 2000, engines: ["fused", "tfjs"] },
  { name: "bow", kind: "bow", dataset: "names", steps: 200, warmup: 2000, engines: ["fused", "tfjs"] },
  {
    name: "transformer-brown256",
    kind: "transformer",
    dataset: "brown",
    maxLineLength: 255,
    steps: 3,
    warmup: 1,
    engines: ["fused"],
  },
  {
    name: "gru-brown256",
    kind: "gru",
    dataset: "brown",
    maxLineLength: 255,
    steps: 3,
    warmup: 1,
    engines: ["fused"],
  },
];

/** The lines and batches of one case, as both sides train on them. */
export interface SequenceWork {
  train: Sequences;
  test: Sequences;
  vocabSize: number;
  /** row indices into `train`, 32 per step: warm-up steps, then the repeats' */
  rows: Int32Array;
}

/** Lines per step. */
export const SEQUENCE_BATCH = 32;

/** The case's training and test lines and every step's batch rows. */
export function prepareCase(c: SequenceCase, repeats: number, dataDir: string): SequenceWork {
  const { words } = loadDataset(c.dataset, { dataDir, maxLineLength: c.maxLineLength });
  const vocab = Vocab.fromWords(words);
  const blockSize = longestLine(words) + 1;
  const split = experimentSplit(words, "sequence"); // makemore.py's: min(1000, 10%) held out
  const train = buildSequences(split.train, vocab, blockSize);
  const test = buildSequences(split.test, vocab, blockSize);
  const steps = c.warmup + repeats * c.steps;
  const g = new Generator(1337);
  const rows = Int32Array.from({ length: steps * SEQUENCE_BATCH }, () => g.randint(0, train.n));
  return { train, test, vocabSize: vocab.size, rows };
}

/** Writes a case's work for bench/torch_sequence.py: case.json and int32 files, little-endian. */
export function writeCase(dir: string, c: SequenceCase, w: SequenceWork, repeats: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const meta = {
    name: c.name,
    kind: c.kind,
    vocab_size: w.vocabSize,
    block_size: w.train.blockSize,
    train_lines: w.train.n,
    test_lines: w.test.n,
    steps: c.steps,
    warmup: c.warmup,
    repeats,
    batch: SEQUENCE_BATCH,
    // PyTorch evaluates in chunks of as many lines as ours (about 16,384 positions)
    eval_lines: evalLines(w.train, w.test),
  };
  fs.writeFileSync(path.join(dir, "case.json"), JSON.stringify(meta));
  const put = (name: string, a: Int32Array): void =>
    fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  put("train_x.i32", w.train.X);
  put("train_y.i32", w.train.Y);
  put("test_x.i32", w.test.X);
  put("test_y.i32", w.test.Y);
  put("rows.i32", w.rows);
}

/** What one side measured on one case. */
export interface SequenceTiming {
  us_per_step: number;
  /** the process's CPU microseconds a step (ours; PyTorch's rows leave it out) */
  cpu_us_per_step?: number;
  eval_test_s: number;
  eval_test_loss: number;
  last_loss: number;
  tensors_after_10: number;
  tensors_after_run: number;
  params: number;
}

/** One model and engine of a case, trained step by step on the case's batches. */
interface OursRun extends TimedRun {
  build: KernelBuild | null;
  threads: number;
  model: Model;
  engine: Engine;
  step: number;
  last: number;
}

/** A model and an engine of `engine`'s kind on the kernels of `v.build` (null: tfjs), on `v.threads` threads. */
function startRun(c: SequenceCase, w: SequenceWork, engine: EngineName, v: OursVariant): OursRun {
  if (v.build) setKernelBuild(v.build);
  const model = buildModel(resolveConfig({ model: c.kind, blockSize: w.train.blockSize }), w.vocabSize);
  const optimizer = makeOptimizer("adamw", { weightDecay: 0.01, betas: [0.9, 0.99] });
  const e = createEngine(model, {
    ...{ engine, batchSize: SEQUENCE_BATCH, targetWidth: w.train.blockSize, optimizer },
    threads: v.threads,
    chooseThreads: false, // the row's thread count, as asked
  });
  return { ...v, model, engine: e, step: 0, last: NaN, perStep: [], cpuPerStep: [] };
}

/** n steps of a run; their wall and CPU milliseconds. */
function steps(run: OursRun, w: SequenceWork, n: number): { wall: number; cpu: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let s = 0; s < n; s++, run.step++) {
    fillBatch(w.train, w.rows, run.step, run.engine.batch);
    const loss = run.engine.step(5e-4);
    run.last = typeof loss === "number" ? loss : readAndFree(loss);
  }
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}

/**
 * Trains the case's model on `engine` through the lib's engine interface, with the case's
 * batches, on each variant (a build, null for the tfjs engine, and a thread count): one model
 * and engine per variant, their repeats taken in turn, so that a slower spell of a shared
 * machine falls on all.
 */
export function timeOurs(
  c: SequenceCase,
  w: SequenceWork,
  engine: EngineName,
  repeats: number,
  variants: readonly OursVariant[],
): (SequenceTiming & { kernels: string; threads: number })[] {
  const runs = variants.map((v) => startRun(c, w, engine, v));
  const tensors = timeRuns(
    runs,
    (run, n) => steps(run, w, n),
    { ...c, repeats },
    () => tf.memory().numTensors,
  );
  return runs.map((run) => {
    // the second evaluation is timed: a run's evaluations after its first reuse what the first laid out
    run.engine.evaluate(w.test);
    const t0 = performance.now();
    const evalLoss = run.engine.evaluate(w.test);
    const evalSeconds = (performance.now() - t0) / 1000;
    const params = countParameters(run.model);
    run.engine.dispose();
    run.model.dispose();
    return {
      kernels: run.build ?? "-",
      threads: run.threads,
      us_per_step: median(run.perStep) * 1000,
      cpu_us_per_step: median(run.cpuPerStep) * 1000,
      eval_test_s: evalSeconds,
      eval_test_loss: evalLoss,
      last_loss: run.last,
      // every run's model and engine together
      ...tensors,
      params,
    };
  });
}

/** Copies step `step`'s lines into the engine's batch arrays. */
function fillBatch(data: Examples, rows: Int32Array, step: number, batch: { X: Int32Array; Y: Int32Array }): void {
  if (!isSequences(data)) throw new Error("sequence rows train on lines");
  const T = data.blockSize;
  for (let b = 0; b < SEQUENCE_BATCH; b++) {
    const r = rows[step * SEQUENCE_BATCH + b] as number;
    batch.X.set(data.X.subarray(r * T, (r + 1) * T), b * T);
    batch.Y.set(data.Y.subarray(r * T, (r + 1) * T), b * T);
  }
}

function readAndFree(t: { dataSync(): ArrayLike<number>; dispose(): void }): number {
  const v = t.dataSync()[0] as number;
  t.dispose();
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** One row of the sequence table: ours on one engine (and build), or PyTorch's. */
export interface SequenceRow extends SequenceTiming {
  model: string;
  engine: string;
  /** the kernels' build of a fused row ("-" for the others) */
  kernels: string;
  /** threads the step ran on (ours: the fused kernels' pool, 1 on tfjs) */
  threads: number;
  peak_rss_mb: number;
  torch_ratio?: number | null;
  eval_torch_ratio?: number | null;
}

/** PyTorch's timing of a case folder on `threads` threads, or why there is none. */
function timeTorch(dir: string, python: string, threads: number): (SequenceTiming & { peak_rss_mb: number }) | string {
  const script = path.join(__dirname, "torch_sequence.py");
  const r = spawnSync(python, [script, dir, String(threads)], { encoding: "utf8", env: torchEnv(threads) });
  if (r.status !== 0) return `torch_sequence.py failed: ${(r.stderr || "").trim().split("\n").pop() ?? ""}`;
  const t = JSON.parse(r.stdout) as SequenceTiming & { peak_rss_mb: number };
  return { ...t, tensors_after_10: NaN, tensors_after_run: NaN };
}

/**
 * Every case on each of its engines (of those asked for), then PyTorch on the
 * same batches at 1 thread and at every core when `python` is given; returns
 * the rows with their ratios to the faster PyTorch run.
 */
export function runSequenceCases(
  cases: readonly SequenceCase[],
  engines: readonly EngineName[],
  builds: readonly KernelBuild[],
  repeats: number,
  dataDir: string,
  python: string | null,
  log: (line: string) => void,
): SequenceRow[] {
  const rows: SequenceRow[] = [];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-bench-"));
  try {
    for (const c of cases) {
      const w = prepareCase(c, repeats, dataDir);
      const ours = c.engines.filter((e) => engines.includes(e));
      for (const engine of ours) {
        log(`bench: ${c.name} (block ${w.train.blockSize}), engine ${engine} ...`);
        try {
          const timings = timeOurs(c, w, engine, repeats, engine === "fused" ? fusedVariants(builds) : TFJS);
          const rss = process.resourceUsage().maxRSS / 1024;
          rows.push(...timings.map((t) => ({ ...t, model: c.name, engine, peak_rss_mb: rss })));
        } catch (e) {
          log(`bench: skipping ${c.name} on ${engine}: ${(e as Error).message}`);
        }
      }
      if (!python) continue;
      const dir = path.join(scratch, String(rows.length));
      writeCase(dir, c, w, repeats);
      rows.push(...torchRows(c, dir, python, log));
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  setTorchRatios(rows, (r) => r.eval_test_s);
  return rows;
}

/** PyTorch's rows of a case: at 1 thread and at every core. */
function torchRows(c: SequenceCase, dir: string, python: string, log: (line: string) => void): SequenceRow[] {
  const rows: SequenceRow[] = [];
  for (const threads of threadCounts()) {
    log(`bench: ${c.name}, PyTorch (${threads} thread${threads > 1 ? "s" : ""}) ...`);
    const t = timeTorch(dir, python, threads);
    if (typeof t === "string") log(`bench: ${t}`);
    else rows.push({ ...t, model: c.name, engine: "pytorch", kernels: "-", threads });
  }
  return rows;
}

/**
 * Where the time of one fused step of the case's model goes, op by op
 * (forward and backward of each kind of op, the loss, the update), in
 * microseconds per step over `steps` steps on the case's first batch, CPU time.
 */
export function profileCase(c: SequenceCase, w: SequenceWork, steps: number): { stage: string; us: number }[] {
  const model = buildModel(resolveConfig({ model: c.kind, blockSize: w.train.blockSize }), w.vocabSize);
  try {
    if (!isOpsModel(model)) return [];
    const net = new GraphNet(model, SEQUENCE_BATCH);
    net.load();
    fillBatch(w.train, w.rows, 0, net.batchViews());
    const cpu = (): number => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    net.profile(Math.max(1, Math.floor(steps / 10)), cpu);
    return net.profile(steps, cpu);
  } finally {
    model.dispose();
  }
}
