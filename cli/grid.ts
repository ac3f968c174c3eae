/**
 * `makemore grid` and `makemore lottery`: many runs in parallel worker
 * processes, summed up in DIR/results.csv and a table on stdout.
 *
 * @module
 */
import { dataBlockSize } from "../lib/experiments/run-data";
import { findModel } from "../lib/models/registry";
import * as fs from "fs";
import * as path from "path";
import { MultiBar, Presets } from "cli-progress";
import { Command, Option } from "commander";
import type { BackendName } from "../lib/runtime/backend";
import { loadDataset, type Dataset } from "../lib/data/datasets";
import {
  expandGrid,
  formatResultsTable,
  gridKeysHelp,
  lossSpread,
  planGrid,
  readGridFile,
  runGrid,
  sortResults,
  writeResults,
  defaultWorkers,
  resumeGrid,
  MAX_GRID_RUNS,
  type GridAxes,
  type GridJob,
  type GridMemory,
  type GridRow,
} from "../lib/experiments/grid";
import { dataSize } from "../lib/experiments/limits";
import { checkNotLocked, withRunLock } from "../lib/experiments/run-lock";
import { ConfigError, ParameterLimitError, type ExperimentConfig } from "../lib/experiments/hyperparams";
import { fingerprintLines } from "../lib/experiments/data-record";
import { checkQueueUrl, openQueue } from "../lib/experiments/queue";
import { planSearch } from "../lib/experiments/queue-search";
import { queuedExitCode, runQueuedGrid } from "./queue-grid";
import { Vocab } from "../lib/data/vocab";
import {
  addHyperOptions,
  backendOption,
  EXIT,
  fmtLoss,
  hyperOverrides,
  intOption,
  signalExit,
  withInterrupt,
  type StopSignalName,
  type CliContext,
  type Io,
  maxLineLengthOption,
  maxMemoryOption,
  reportDropped,
} from "./common";
import { checkDatasetArg, checkInputPath, checkOutDir } from "./paths";
import { setClosedPipePolicy } from "./pipe";

/** Name of the results table in the output folder. */
export const RESULTS_FILE = "results.csv";

interface ManyFlags extends Record<string, unknown> {
  input: string;
  out: string;
  grid?: string;
  seeds?: number;
  maxParams?: number;
  workers?: number;
  backend?: BackendName;
  force?: boolean;
  resume?: boolean;
  maxLineLength?: number;
  maxMemory?: number;
  // --- queue (cli/queue-grid.ts) ---
  queue?: string;
  cancel?: boolean;
}

function addCommonOptions(cmd: Command): Command {
  cmd
    .requiredOption(
      "-i, --input <file>",
      "dataset: a text file of lines, or one of names, words, brown, addition, sqrt",
    )
    .requiredOption("-o, --out <dir>", "output folder: results.csv, and one run folder per run (DIR/<tag>)")
    .addOption(new Option("--max-params <n>", "skip combinations with more parameters").argParser(intOption(1)))
    .addOption(new Option("--workers <k>", "worker processes (default: one per core)").argParser(intOption(1, 1024)))
    .addOption(backendOption())
    .addOption(maxLineLengthOption())
    .addOption(maxMemoryOption())
    .option("--force", "replace results.csv already in DIR")
    .option(
      "--resume",
      "continue the grid in DIR: train only the runs without a finished row (interrupted ones from their last checkpoint)",
    )
    // --- queue (cli/queue-grid.ts) ---
    .addOption(
      new Option("--queue <url>", "run on workers anywhere: enqueue on Redis (redis://[:PASSWORD@]HOST:PORT)").env(
        "MAKEMORE_QUEUE",
      ),
    )
    .option("--cancel", "with --queue: cancel the search in DIR");
  return cmd;
}

/** The `grid` command. */
export function gridCommand(ctx: CliContext): Command {
  const cmd = new Command("grid").description(
    "train every combination of a grid file's hyperparameters in parallel worker processes; writes DIR/results.csv",
  );
  addCommonOptions(cmd).requiredOption("--grid <file>", "grid file: JSON object of hyperparameter -> list of values");
  addHyperOptions(cmd);
  cmd
    .addHelpText(
      "after",
      `
Flags set the values shared by every run; the grid file's values vary.
Grid file keys (config name or flag name):
${gridKeysHelp()}

Example grid.json:
  { "model": "mlp", "nEmbd": [4, 10], "nHidden": [50, 200], "maxSteps": 4000 }
  makemore grid -i names -o runs/grid --grid grid.json --max-params 12000`,
    )
    .action(async (flags: ManyFlags) => {
      const axes = readGridFile(checkInputPath(flags.grid as string, "--grid"));
      ctx.code = await many(ctx.io, flags, axes, "grid");
    });
  return cmd;
}

/** The `lottery` command. */
export function lotteryCommand(ctx: CliContext): Command {
  const cmd = new Command("lottery").description(
    "train one configuration with several seeds and report the spread of the best val loss",
  );
  addCommonOptions(cmd).addOption(
    new Option("--seeds <n>", "how many seeds (the seeds are --seed, --seed + 1, ...)").argParser(
      intOption(1, MAX_GRID_RUNS),
    ),
  );
  addHyperOptions(cmd);
  cmd
    .addHelpText(
      "after",
      `
The first seed is --seed (default here: 1).

Example:
  makemore lottery -i names -o runs/lottery --seeds 8 --n-hidden 100 --max-steps 5000`,
    )
    .action(async (flags: ManyFlags) => {
      if (flags.seeds === undefined) throw new ConfigError("missing --seeds <n>: how many seeds to try");
      const first = (flags.seed as number | undefined) ?? 1;
      const axes: GridAxes = { seed: Array.from({ length: flags.seeds }, (_, i) => first + i) };
      ctx.code = await many(ctx.io, flags, axes, "lottery");
    });
  return cmd;
}

/** A local grid's folder holding results is continued with --resume or replaced with --force, never silently. */
function checkResultsFree(out: string, flags: ManyFlags): void {
  if (flags.resume && flags.force) throw new ConfigError("--resume and --force cannot be used together");
  if (fs.existsSync(path.join(out, RESULTS_FILE)) && !flags.force && !flags.resume) {
    throw new ConfigError(
      `${out} already holds results (${RESULTS_FILE}); use --resume to train only its unfinished runs or --force to replace them`,
    );
  }
}

/** The dataset and the configurations of a grid or lottery, each sized against the ceilings. */
interface ManyPlan {
  data: Dataset;
  kind: "grid" | "lottery";
  configs: ExperimentConfig[];
  vocabSize: number;
  memory: GridMemory;
}

async function many(io: Io, flags: ManyFlags, axes: GridAxes, kind: "grid" | "lottery"): Promise<number> {
  // results.csv and the run folders are the product: a closed stdout drops the table, not the runs
  setClosedPipePolicy("continue");
  if (flags.cancel && flags.queue === undefined) throw new ConfigError("--cancel needs --queue <url>");
  checkOutDir(flags.out);
  checkNotLocked(flags.out);
  // a queued search attaches to the results already in its folder
  if (flags.queue === undefined) checkResultsFree(flags.out, flags);
  const base: Partial<ExperimentConfig> = hyperOverrides(flags);
  const data = loadDataset(
    checkDatasetArg(flags.input),
    flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength },
  );
  reportDropped(io, data, flags.maxLineLength);
  // sequence models read whole lines: their block size comes from the data
  const configs = expandGrid(axes, base).map((c) => ({
    ...c,
    blockSize: dataBlockSize(data.words, findModel(c.model)?.examples ?? "context", c.blockSize),
  }));
  const memory: GridMemory = {
    size: dataSize(data.words),
    workers: flags.workers ?? defaultWorkers(),
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.maxMemory !== undefined ? { maxMemory: flags.maxMemory } : {}),
  };
  const plan: ManyPlan = { data, kind, configs, vocabSize: Vocab.fromWords(data.words).size, memory };
  if (flags.queue !== undefined) return queued(io, { ...flags, queue: flags.queue }, plan);
  const { jobs, skipped } = planGrid(configs, plan.vocabSize, flags.out, flags.maxParams, memory);
  for (const s of skipped) io.out(`skipped ${s.tag}: ${s.message}\n`);
  if (jobs.length === 0) refuseEmpty(skipped, flags.maxParams);
  // one writer per grid folder, from the first write to the last (each worker locks its run folder)
  return withRunLock(flags.out, `makemore ${kind}`, async () => {
    checkResultsFree(flags.out, flags);
    const record = { source: data.name, ...fingerprintLines(data.words) };
    const resumed = flags.resume ? resumeGrid(flags.out, { jobs, skipped }, record) : { jobs, kept: [] };
    return runMany(io, flags, { ...resumed, skipped, data, kind });
  });
}

/** Every combination was skipped: over --max-params (exit 3), or none at all. */
function refuseEmpty(skipped: readonly GridRow[], maxParams?: number): never {
  if (skipped.length > 0 && maxParams !== undefined) {
    const least = Math.min(...skipped.map((s) => s.params));
    throw new ParameterLimitError(least, maxParams, `every combination is over the ceiling: the smallest`);
  }
  throw new ConfigError("the grid has no combination to run");
}

/** "grid: 4 runs, 2 skipped (over --max-params 1000), 3 kept from before on names -> runs/grid" */
function announce(flags: ManyFlags, plan: { jobs: readonly unknown[]; skipped: GridRow[]; kept?: GridRow[] }): string {
  const { jobs, skipped, kept = [] } = plan;
  const overParams = skipped.filter((s) => s.message?.includes("--max-params")).length;
  const why = skipReasons(overParams, skipped.length - overParams, flags.maxParams);
  return (
    `${jobs.length} run${jobs.length === 1 ? "" : "s"}` +
    (skipped.length > 0 ? `, ${skipped.length} skipped (${why})` : "") +
    (kept.length > 0 ? `, ${kept.length} kept from before` : "")
  );
}

async function runMany(
  io: Io,
  flags: ManyFlags,
  plan: { jobs: GridJob[]; kept: GridRow[]; skipped: GridRow[]; data: Dataset; kind: "grid" | "lottery" },
): Promise<number> {
  const { jobs, kept, skipped, data, kind } = plan;
  const resultsFile = path.join(flags.out, RESULTS_FILE);
  io.out(`${kind}: ${announce(flags, plan)} on ${data.name} -> ${flags.out}\n`);
  const controller = new AbortController();
  let stoppedBy: StopSignalName | null = null;
  const display = gridDisplay(io, jobs.length);
  const done: GridRow[] = [];
  let rows: GridRow[];
  try {
    rows = await withInterrupt(
      io,
      (signal) => {
        stoppedBy = signal;
        controller.abort();
      },
      () =>
        runGrid({
          input: flags.input,
          ...(flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength }),
          jobs,
          signal: controller.signal,
          ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
          ...(flags.backend ? { backend: flags.backend } : {}),
          onEvent: (e) => {
            if (e.type !== "done") return;
            // results.csv follows every finished run, so a grid killed at any point keeps what it did
            done.push(e.row);
            writeResults(resultsFile, sortResults([...kept, ...done, ...skipped]));
            display.done(doneLine(e.row, e.done, e.total));
          },
        }),
    );
  } finally {
    display.stop();
  }
  const table = sortResults([...kept, ...rows, ...skipped]);
  writeResults(resultsFile, table);
  summarize(io, table, resultsFile, kind);
  if (controller.signal.aborted) return signalExit(stoppedBy);
  return failedExit(io, rows);
}

/** "[2/4] 3fa2c1 finished: best val 2.1234 (40 steps, 1.2 s)" */
function doneLine(r: GridRow, n: number, total: number): string {
  return (
    `[${n}/${total}] ${r.tag} ${r.status}: best val ${fmtLoss(r.bestValLoss)} ` +
    `(${r.steps} steps, ${r.seconds.toFixed(1)} s)${r.message ? ` ${r.message}` : ""}`
  );
}

/** Exit 1 with a line when runs failed, else 0. */
function failedExit(io: Io, rows: readonly GridRow[]): number {
  const failed = rows.filter((r) => r.status === "failed");
  if (failed.length === 0) return EXIT.ok;
  io.err(`makemore: error: ${failed.length} run${failed.length === 1 ? "" : "s"} failed: ${failed[0]?.message}\n`);
  return EXIT.error;
}

/**
 * --- queue (cli/queue-grid.ts): the same plan with deterministic ids and tags,
 * enqueued on Redis and followed until every configuration has a row. The
 * queue is reached before the folder is touched, and the folder is locked
 * as a local grid's is.
 */
async function queued(io: Io, flags: ManyFlags & { queue: string }, many: ManyPlan): Promise<number> {
  const { configs, vocabSize, data, kind, memory } = many;
  const plan = planSearch(configs, vocabSize, flags.out, flags.input, { maxParams: flags.maxParams, memory });
  for (const s of plan.skipped) io.out(`skipped ${s.tag}: ${s.message}\n`);
  if (plan.jobs.length === 0) refuseEmpty(plan.skipped, flags.maxParams);
  const conn = await openQueue(checkQueueUrl(flags.queue), { failFast: true });
  try {
    return await withRunLock(flags.out, `makemore ${kind} --queue`, async () => {
      if (!flags.cancel) io.out(`${kind}: ${announce(flags, plan)} on ${data.name} -> ${flags.out}\n`);
      const grid = {
        conn,
        cancel: Boolean(flags.cancel),
        input: flags.input,
        data,
        ...(flags.backend ? { backend: flags.backend } : {}),
        ...(flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength }),
      };
      const result = await runQueuedGrid(io, { ...grid, out: flags.out, plan, force: Boolean(flags.force) });
      summarize(io, result.rows, path.join(flags.out, RESULTS_FILE), kind);
      return flags.cancel ? EXIT.ok : queuedExitCode(result, io);
    });
  } finally {
    await conn.close();
  }
}

/** Prints the results table (and a lottery's spread); results.csv is already written. */
function summarize(io: Io, table: readonly GridRow[], resultsFile: string, kind: "grid" | "lottery"): void {
  io.out(`\n${formatResultsTable(table)}`);
  io.out(`results: ${resultsFile}\n`);
  if (kind === "lottery") {
    const s = lossSpread(table);
    if (s.n === 0) return void io.out("seed lottery: no run has a val loss yet\n");
    io.out(
      `seed lottery over ${s.n} seed${s.n === 1 ? "" : "s"}: best val loss min ${fmtLoss(s.min)}, ` +
        `median ${fmtLoss(s.median)}, max ${fmtLoss(s.max)} (spread ${fmtLoss(s.max - s.min)})\n`,
    );
  }
}

/** Why combinations were skipped: "over --max-params 1000", "over the memory ceiling", or both. */
function skipReasons(overParams: number, overMemory: number, maxParams?: number): string {
  const reasons = [];
  if (overParams > 0) reasons.push(`over --max-params ${maxParams}`);
  if (overMemory > 0) reasons.push(`${overMemory} over the memory ceiling`);
  return reasons.join(", ");
}

interface GridDisplay {
  done(line: string): void;
  stop(): void;
}

function gridDisplay(io: Io, total: number): GridDisplay {
  if (!io.errIsTTY) return { done: (line) => io.err(line + "\n"), stop: () => undefined };
  const multi = new MultiBar(
    { stream: process.stderr, format: "runs [{bar}] {value}/{total} | eta {eta_formatted}", hideCursor: true, fps: 2 },
    Presets.shades_classic,
  );
  const bar = multi.create(total, 0);
  return {
    done(line) {
      multi.log(line + "\n");
      bar.increment();
    },
    stop: () => multi.stop(),
  };
}
