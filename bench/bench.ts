/**
 * `npm run bench`: training speed of the lib against PyTorch on this machine.
 *
 * For (a) the lecture-2 MLP, (b) the lecture-3 deep batch-norm network and
 * (c) lecture 5's hierarchical network (76,579 parameters, block 8) it
 * steps the lib's engines (lib/engines/factory.ts) on random batches of 32,
 * plain SGD: the fused kernels (engine "fused", the default; they do not
 * depend on the tfjs backend, so they are measured once, on the first backend
 * that works) at 1 thread and at every core, and op by op on every tfjs
 * backend that works here (engine "tfjs"). It reports the median microseconds
 * per step
 * over several repeats after a warm-up, steps per second, the time to
 * evaluate the loss over the whole training split, peak RSS, and numTensors
 * after 10 steps and after the whole run. When Debian's python3-torch is
 * importable it runs bench/torch_bench.py with the same shapes, at 1 thread and
 * at every core, and prints the ratio ours / the faster PyTorch run per row.
 * Output: tables on stdout and bench/results/latest.json (plus a copy named by
 * date and commit), both with the machine (CPU, SIMD flags, cores, Node,
 * PyTorch, the kernels' build: bench/machine.ts).
 *
 * Then makemore.py's sequence models (bench/sequence-rows.ts): the
 * transformer, GRU, RNN and BoW on names, and the transformer and GRU on
 * Brown sentences of up to 255 characters (block 256), each beside PyTorch
 * training makemore.py's classes on the same batches in the same invocation
 * (bench/torch_sequence.py); their steps per repeat are set per model.
 *
 * Last the wall-time row (bench/wall-rows.ts): makemore.py's default run,
 * 3,000 steps of the transformer on names with its evaluations and samples,
 * by a PyTorch twin (bench/torch_run.py) against `makemore train`, each timed
 * from process start to exit.
 *
 * Options: --steps S (per repeat of the lecture rows, default 1000), --repeats R
 * (default 5), --warmup W (default 200), --backends wasm,cpu, --engines
 * fused,tfjs, --rows mlp,deep-bn,transformer,...,wall (default all), --no-torch,
 * --wall-steps N (default 3000), --profile (also print where the microseconds
 * of one fused step go).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { fusedVariants, TFJS, threadCounts, timeRuns, torchEnv, type OursVariant, type TimedRun } from "./threads";
import {
  buildSplitContexts,
  DeepMLP,
  GraphNet,
  Generator,
  HierarchicalMLP,
  initBackend,
  lectureMlp,
  readLines,
  splitWords,
  tf,
  Vocab,
  type BackendName,
  type Contexts,
  type OpsModel,
  type LanguageModel,
  type TrainEngine,
} from "../lib/index";
import { BACKENDS } from "../lib/runtime/backend";
import { sampleBatchInto } from "../lib/data/examples";
import {
  prepareCase,
  profileCase,
  runSequenceCases,
  SEQUENCE_CASES,
  type SequenceCase,
  type SequenceRow,
} from "./sequence-rows";
import { runnableBuilds, setKernelBuild, type KernelBuild } from "../lib/engines/kernels";
import { createEngine } from "../lib/engines/factory";
import type { Engine, EngineName } from "../lib/engines/engine";
import { makeOptimizer } from "../lib/optim/optimizers";
import { describeMachine, machine, type Machine } from "./machine";
import { setTorchRatios } from "./ratios";
import { runWall, type WallRow } from "./wall-rows";

interface Row {
  model: string;
  engine: string;
  /** the kernels' build of a fused row: plain or relaxed SIMD ("-" for the others) */
  kernels: string;
  backend: string;
  /** threads the step ran on (the fused kernels' pool; 1 on tfjs) */
  threads: number;
  us_per_step: number;
  /** the process's CPU microseconds a step (user + system): what a busy machine's other jobs hardly move */
  cpu_us_per_step?: number;
  steps_per_s: number;
  eval_train_s: number;
  eval_train_loss: number;
  peak_rss_mb: number;
  tensors_after_10: number | null;
  tensors_after_run: number | null;
  torch_ratio?: number | null;
  eval_torch_ratio?: number | null;
}

interface Options {
  steps: number;
  repeats: number;
  warmup: number;
  backends: BackendName[];
  engines: Exclude<TrainEngine, "auto">[];
  torch: boolean;
  profile: boolean;
  /** row names to run (lecture models, sequence cases, "wall") */
  rows: string[];
  /** steps of the wall-time row's runs */
  wallSteps: number;
  /** the kernels' builds the fused rows run on */
  builds: KernelBuild[];
}

const root = path.resolve(__dirname, "..");

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    steps: 1000,
    repeats: 5,
    warmup: 200,
    backends: [...BACKENDS],
    engines: ["fused", "tfjs"],
    torch: true,
    profile: false,
    rows: ROW_NAMES,
    wallSteps: 3000,
    builds: runnableBuilds(),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (name: string): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
      return n;
    };
    if (a === "--steps") opts.steps = count("--steps");
    else if (a === "--repeats") opts.repeats = count("--repeats");
    else if (a === "--warmup") opts.warmup = count("--warmup");
    else if (a === "--wall-steps") opts.wallSteps = count("--wall-steps");
    else if (a === "--builds") opts.builds = checkBuilds(value().split(","));
    else if (a === "--backends") opts.backends = value().split(",") as BackendName[];
    else if (a === "--engines") {
      const engines = value().split(",");
      const bad = engines.find((e) => e !== "fused" && e !== "tfjs");
      if (bad !== undefined) throw new Error(`--engines takes fused and/or tfjs, got '${bad}'`);
      opts.engines = engines as Options["engines"];
    } else if (a === "--rows") opts.rows = checkRows(value().split(","));
    else if (a === "--no-torch") opts.torch = false;
    else if (a === "--profile") opts.profile = true;
    else
      throw new Error(
        `unknown option ${a} (options: --steps, --repeats, --warmup, --backends, --engines, --rows, --builds, --no-torch, --wall-steps, --profile)`,
      );
  }
  return opts;
}

const MODELS: Record<string, (vocabSize: number) => LanguageModel & OpsModel> = {
  mlp: (v) => lectureMlp(v),
  "deep-bn": (v) => new DeepMLP({ vocabSize: v }),
  hierarchical: (v) => new HierarchicalMLP({ vocabSize: v }),
};

/** Every row the bench knows: the lecture models, the sequence cases, and the wall-time row. */
const ROW_NAMES = [...Object.keys(MODELS), ...SEQUENCE_CASES.map((c) => c.name), "wall"];

/** The builds, checked against those that run here. */
function checkBuilds(builds: string[]): KernelBuild[] {
  const runs: string[] = runnableBuilds();
  const bad = builds.find((b) => !runs.includes(b));
  if (bad !== undefined) throw new Error(`--builds: '${bad}' does not run here (builds: ${runs.join(", ")})`);
  return builds as KernelBuild[];
}

/** The row names, checked against the known ones. */
function checkRows(rows: string[]): string[] {
  const bad = rows.find((r) => !ROW_NAMES.includes(r));
  if (bad !== undefined) throw new Error(`--rows: unknown row '${bad}' (rows: ${ROW_NAMES.join(", ")})`);
  return rows;
}

/** The training split's context windows for a block size (each built once). */
type ContextsOf = (blockSize: number) => Contexts;

/** CPU seconds this process has used (user + system). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** One lecture model's run on a variant: a model and an engine of its own, stepped on random batches. */
interface LectureRun extends TimedRun {
  variant: OursVariant;
  model: LanguageModel & OpsModel;
  engine: Engine;
  generator: Generator;
}

/**
 * One lecture model on one engine: the fused engine on each build at 1 thread and at every core
 * (their repeats taken in turn, so that a slower spell of a shared machine falls on all), the tfjs
 * engine once. Each run steps its own engine on random batches, as PyTorch's twin does.
 */
function benchModel(
  name: string,
  engine: Exclude<TrainEngine, "auto">,
  backend: BackendName,
  contexts: ContextsOf,
  vocabSize: number,
  o: Options,
): Row[] {
  const runs = (engine === "fused" ? fusedVariants(o.builds) : TFJS).map((v) => startRun(name, engine, v, vocabSize));
  const data = contexts((runs[0] as LectureRun).model.blockSize);
  // 10 steps before the warm-up, whose tensor count the end's is compared with
  const warmup = { ...o, warmup: o.warmup + 10 };
  const tensors = timeRuns(
    runs,
    (run, n) => stepRun(run, data, n),
    warmup,
    () => tf.memory().numTensors,
  );
  return runs.map((run): Row => {
    const evalTimes: number[] = [];
    let evalLoss = NaN;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      evalLoss = run.engine.evaluate(data);
      evalTimes.push((performance.now() - t0) / 1000);
    }
    run.engine.dispose();
    run.model.dispose();
    const step = median(run.perStep);
    return {
      ...{ model: name, engine, kernels: run.variant.build ?? "-", backend, threads: run.variant.threads },
      ...{ us_per_step: step * 1e6, cpu_us_per_step: median(run.cpuPerStep) * 1e6, steps_per_s: 1 / step },
      ...{ eval_train_s: median(evalTimes), eval_train_loss: evalLoss },
      ...{ peak_rss_mb: process.resourceUsage().maxRSS / 1024, ...tensors },
    };
  });
}

/** A lecture model and an engine of `engine`'s kind on variant `v`: plain SGD, as PyTorch's twin (lr 0.1, batch 32). */
function startRun(name: string, engine: EngineName, v: OursVariant, vocabSize: number): LectureRun {
  if (v.build) setKernelBuild(v.build);
  const model = (MODELS[name] as (v: number) => LanguageModel & OpsModel)(vocabSize);
  const e = createEngine(model, {
    ...{ engine, batchSize: 32, targetWidth: 1, optimizer: makeOptimizer("sgd") },
    ...{ threads: v.threads, chooseThreads: false }, // the row's thread count, as asked
  });
  return { variant: v, model, engine: e, generator: new Generator(3), perStep: [], cpuPerStep: [] };
}

/** n steps of a run, each on a batch drawn at random; their wall and CPU seconds. */
function stepRun(run: LectureRun, data: Contexts, n: number): { wall: number; cpu: number } {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  for (let s = 0; s < n; s++) {
    sampleBatchInto(data, run.generator, run.engine.batch);
    const loss = run.engine.step(0.1);
    if (typeof loss !== "number") loss.dispose();
  }
  return { wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
}

/** Debian's python3 (PyTorch comes from its python3-torch package). */
function torchPython(): string {
  return fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

/** PyTorch's rows of the lecture models at `threads` threads. */
function runTorch(o: Options, threads: number): { version: string; rows: Row[] } {
  const script = path.join(__dirname, "torch_bench.py");
  const args = ["--steps", String(o.steps), "--repeats", String(o.repeats), "--warmup", String(o.warmup)];
  const out = execFileSync(torchPython(), [script, ...args, "--threads", String(threads)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
    env: torchEnv(threads),
  });
  const parsed = JSON.parse(out) as { torch: string; rows: Omit<Row, "threads" | "kernels">[] };
  return { version: parsed.torch, rows: parsed.rows.map((r) => ({ ...r, kernels: "-", threads })) };
}

/** PyTorch's version (from a quick import) and the python that runs it; or why there is none. */
function torchRuntime(o: Options): { note: string; python: string | null } {
  if (!o.torch) return { note: "PyTorch skipped (--no-torch)", python: null };
  const python = torchPython();
  // the BLAS decides PyTorch's products: Debian's reference libblas.so.3 is about 15x slower than OpenBLAS
  const probe =
    "import torch; import re; m = open('/proc/self/maps').read(); print(torch.__version__);" +
    " print('OpenBLAS' if re.search('openblas', m, re.I) else 'the reference BLAS (apt-get install libopenblas0-pthread)')";
  const r = spawnSync(python, ["-c", probe], { encoding: "utf8" });
  if (r.status !== 0) return { note: "PyTorch is not installed (apt-get install python3-torch)", python: null };
  const [version, blas] = r.stdout.trim().split("\n");
  return { note: `PyTorch ${version} on ${blas}`, python };
}

function fmt(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);
}

function table(rows: Row[]): string {
  const head = [
    "model",
    "engine",
    "kernels",
    "backend",
    "threads",
    "us/step",
    "cpu us/step",
    "steps/s",
    "eval train (s)",
    "peak RSS MB",
    "tensors @10",
    "tensors @end",
    "x torch step",
    "x torch eval",
  ];
  const body = rows.map((r) => [
    r.model,
    r.engine,
    r.kernels,
    r.backend,
    String(r.threads),
    fmt(r.us_per_step),
    fmt(r.cpu_us_per_step),
    fmt(r.steps_per_s),
    fmt(r.eval_train_s, 3),
    fmt(r.peak_rss_mb),
    fmt(r.tensors_after_10),
    fmt(r.tensors_after_run),
    fmt(r.torch_ratio, 2),
    fmt(r.eval_torch_ratio, 2),
  ]);
  return markdownTable(head, body);
}

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const words = readLines(path.join(root, "data", "names.txt"));
  const vocab = Vocab.fromWords(words);
  const split = splitWords(words, 42);
  const built = new Map<number, Contexts>();
  const data: ContextsOf = (blockSize) => {
    const known = built.get(blockSize) ?? buildSplitContexts(split, vocab, blockSize).train;
    built.set(blockSize, known);
    return known;
  };
  const rows: Row[] = [];
  let fusedDone = !o.engines.includes("fused");
  const lectureRows = Object.keys(MODELS).some((m) => o.rows.includes(m));
  for (const backend of lectureRows ? o.backends : []) {
    try {
      await initBackend(backend);
    } catch (e) {
      console.log(`bench: skipping backend ${backend}: ${(e as Error).message}`);
      continue;
    }
    // the fused kernels do not depend on the tfjs backend (only the evaluation does): once is enough
    const engines = o.engines.filter((e) => e === "tfjs" || !fusedDone);
    for (const engine of engines) {
      for (const name of Object.keys(MODELS).filter((m) => o.rows.includes(m))) {
        console.log(`bench: ${name}, engine ${engine}, tfjs backend ${backend} ...`);
        rows.push(...benchModel(name, engine, backend, data, vocab.size, o));
      }
    }
    fusedDone = true;
  }
  if (o.profile) printProfiles(data, vocab.size);
  const { note: torch, python } = torchRuntime(o);
  if (python && rows.length > 0) rows.push(...lectureTorchRows(o));
  setTorchRatios(rows, (r) => r.eval_train_s);
  const sequenceRows = await benchSequences(o, python);
  const wallRows = o.rows.includes("wall") ? runWall(o.wallSteps, python, (l) => console.log(l)) : [];
  report(o, machine(torch, o.builds), rows, sequenceRows, wallRows);
}

/** PyTorch's rows of the lecture models, at 1 thread and at every core. */
function lectureTorchRows(o: Options): Row[] {
  const rows: Row[] = [];
  for (const threads of threadCounts()) {
    console.log(`bench: lecture models, PyTorch (${threads} thread${threads > 1 ? "s" : ""}) ...`);
    const t = runTorch(o, threads);
    rows.push(...t.rows.map((r) => ({ ...r, engine: "pytorch", tensors_after_10: null, tensors_after_run: null })));
  }
  return rows;
}

/** Prints the tables and writes bench/results/latest.json and a copy named by date and commit. */
function report(o: Options, m: Machine, rows: Row[], sequenceRows: SequenceRow[], wallRows: WallRow[]): void {
  const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).stdout.trim();
  console.log(`\nmakemore-ts bench on ${describeMachine(m)}`);
  if (/^PyTorch \d/.test(m.torch)) console.log(`(x torch: ours / the faster of PyTorch at 1 thread and at ${m.cores})`);
  if (rows.length > 0) {
    console.log(`\nlecture models (${o.steps} steps x ${o.repeats} repeats after ${o.warmup} warm-up, batch 32):`);
    console.log(table(rows));
  }
  if (sequenceRows.length > 0)
    console.log(
      `\nmakemore.py's models (AdamW, batch 32, eval of a test split of min(1000, 10%) lines):\n${sequenceTable(sequenceRows)}`,
    );
  if (wallRows.length > 0) console.log(`\nmakemore.py's default run, process start to exit:\n${wallTable(wallRows)}`);
  const date = new Date().toISOString();
  const result = { date, commit, machine: m, options: o, rows, sequenceRows, wallRows };
  const dir = path.join(root, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(result, null, 2) + "\n";
  fs.writeFileSync(path.join(dir, "latest.json"), json);
  fs.writeFileSync(path.join(dir, `${date.slice(0, 10)}-${commit || "nocommit"}.json`), json);
  console.log(`\nbench: wrote bench/results/latest.json`);
}

function wallTable(rows: WallRow[]): string {
  const head = ["run", "threads", "steps", "wall (s)", "exit", "x torch"];
  const body = rows.map((r) => [
    r.run,
    String(r.threads),
    String(r.steps),
    fmt(r.wall_s, 1),
    String(r.exit_code),
    fmt(r.torch_ratio, 2),
  ]);
  return markdownTable(head, body);
}

/** The sequence rows on the first backend that works (the fused ones do not depend on it). */
async function benchSequences(o: Options, python: string | null): Promise<SequenceRow[]> {
  const cases = SEQUENCE_CASES.filter((c) => o.rows.includes(c.name));
  if (cases.length === 0) return [];
  for (const backend of o.backends) {
    const works = await initBackend(backend).then(
      () => true,
      () => false,
    );
    if (works) break;
  }
  const rows = runSequenceCases(cases, o.engines, o.builds, o.repeats, path.join(root, "data"), python, (l) =>
    console.log(l),
  );
  if (o.profile) for (const c of cases.filter((x) => x.dataset === "names")) printGraphProfile(c, o.repeats);
  return rows;
}

/** Where the microseconds of one fused step of a sequence model go, op by op. */
function printGraphProfile(c: SequenceCase, repeats: number): void {
  const w = prepareCase(c, repeats, path.join(root, "data"));
  const stages = profileCase(c, w, c.steps);
  const total = stages.reduce((a, r) => a + r.us, 0);
  console.log(`\nprofile of one fused step of ${c.name} (batch 32, block ${w.train.blockSize}), CPU microseconds:`);
  for (const r of stages) console.log(`  ${r.stage.padEnd(24)} ${r.us.toFixed(0).padStart(8)}`);
  console.log(`  ${"total".padEnd(24)} ${total.toFixed(0).padStart(8)}`);
}

function sequenceTable(rows: SequenceRow[]): string {
  const head = [
    "model",
    "engine",
    "kernels",
    "threads",
    "params",
    "ms/step",
    "cpu ms/step",
    "eval test (s)",
    "process peak RSS MB",
    "tensors @10",
    "tensors @end",
    "x torch step",
    "x torch eval",
  ];
  const body = rows.map((r) => [
    r.model,
    r.engine,
    r.kernels,
    String(r.threads),
    fmt(r.params),
    fmt(r.us_per_step / 1000, 2),
    fmt(r.cpu_us_per_step === undefined ? undefined : r.cpu_us_per_step / 1000, 2),
    fmt(r.eval_test_s, 3),
    fmt(r.peak_rss_mb),
    fmt(r.tensors_after_10),
    fmt(r.tensors_after_run),
    fmt(r.torch_ratio, 2),
    fmt(r.eval_torch_ratio, 2),
  ]);
  return markdownTable(head, body);
}

/** Where the microseconds of one fused step go, stage by stage, for each model. */
function printProfiles(data: ContextsOf, vocabSize: number): void {
  for (const [name, make] of Object.entries(MODELS)) {
    const model = make(vocabSize);
    const net = new GraphNet(model, 32);
    net.load();
    sampleBatchInto(data(model.blockSize), new Generator(1), net.batchViews());
    net.profile(200);
    const rows = net.profile(2000);
    const total = rows.reduce((a, r) => a + r.us, 0);
    console.log(`\nprofile of one fused step of ${name} (batch 32), microseconds:`);
    for (const r of rows) console.log(`  ${r.stage.padEnd(24)} ${r.us.toFixed(1).padStart(7)}`);
    console.log(`  ${"total".padEnd(24)} ${total.toFixed(1).padStart(7)}`);
    model.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
