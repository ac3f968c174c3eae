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
import { loadDataset } from "../lib/data/datasets";
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
  type GridAxes,
  type GridRow,
} from "../lib/experiments/grid";
import { ConfigError, ParameterLimitError, type ExperimentConfig } from "../lib/experiments/hyperparams";
import { Vocab } from "../lib/data/vocab";
import { checkQueueUrl } from "../lib/experiments/queue";
import { planSearch } from "../lib/experiments/queue-search";
import { queuedExitCode, runQueuedGrid } from "./queue-grid";
import {
  addHyperOptions,
  backendOption,
  EXIT,
  fmtLoss,
  hyperOverrides,
  intOption,
  withInterrupt,
  type CliContext,
  type Io,
} from "./common";

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
  // --- queue (cli/queue-grid.ts) ---
  queue?: string;
  cancel?: boolean;
}

function addCommonOptions(cmd: Command): Command {
  cmd
    .requiredOption("-i, --input <file>", "dataset: a text file of lines, or one of names, words, addition, sqrt")
    .requiredOption("-o, --out <dir>", "output folder: results.csv, and one run folder per run (DIR/<tag>)")
    .addOption(new Option("--max-params <n>", "skip combinations with more parameters").argParser(intOption(1)))
    .addOption(new Option("--workers <k>", "worker processes (default: one per core)").argParser(intOption(1)))
    .addOption(backendOption())
    .option("--force", "replace results.csv already in DIR")
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
      const axes = readGridFile(flags.grid as string);
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
    new Option("--seeds <n>", "how many seeds (the seeds are --seed, --seed + 1, ...)").argParser(intOption(1)),
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

async function many(io: Io, flags: ManyFlags, axes: GridAxes, kind: "grid" | "lottery"): Promise<number> {
  if (flags.cancel && flags.queue === undefined) throw new ConfigError("--cancel needs --queue <url>");
  const resultsFile = path.join(flags.out, RESULTS_FILE);
  if (fs.existsSync(resultsFile) && !flags.force && flags.queue === undefined) {
    throw new ConfigError(`${flags.out} already holds results (${RESULTS_FILE}); use --force to replace them`);
  }
  const base: Partial<ExperimentConfig> = hyperOverrides(flags);
  const data = loadDataset(flags.input);
  // sequence models read whole lines: their block size comes from the data
  const configs = expandGrid(axes, base).map((c) => ({
    ...c,
    blockSize: dataBlockSize(data.words, findModel(c.model)?.examples ?? "context", c.blockSize),
  }));
  const vocabSize = Vocab.fromWords(data.words).size;
  // --- queue (cli/queue-grid.ts): the same plan, with deterministic ids and tags ---
  const plan =
    flags.queue === undefined ? null : planSearch(configs, vocabSize, flags.out, flags.input, flags.maxParams);
  const local = plan ? { jobs: [], skipped: [] } : planGrid(configs, vocabSize, flags.out, flags.maxParams);
  const { jobs, skipped } = plan ?? local;
  for (const s of skipped) io.out(`skipped ${s.tag}: ${s.message}\n`);
  if (jobs.length === 0) {
    const first = skipped[0];
    if (first && flags.maxParams !== undefined) {
      const least = Math.min(...skipped.map((s) => s.params));
      throw new ParameterLimitError(least, flags.maxParams, `every combination is over the ceiling: the smallest`);
    }
    throw new ConfigError("the grid has no combination to run");
  }
  fs.mkdirSync(flags.out, { recursive: true });
  io.out(
    `${kind}: ${jobs.length} run${jobs.length === 1 ? "" : "s"}` +
      (skipped.length > 0 ? `, ${skipped.length} skipped (over --max-params ${flags.maxParams})` : "") +
      ` on ${data.name} -> ${flags.out}\n`,
  );
  if (plan && flags.queue !== undefined) {
    const grid = { url: checkQueueUrl(flags.queue), cancel: Boolean(flags.cancel), input: flags.input, data };
    const queued = await runQueuedGrid(io, { ...grid, out: flags.out, plan, force: Boolean(flags.force) });
    summarize(io, queued.rows, resultsFile, kind);
    return flags.cancel ? EXIT.ok : queuedExitCode(queued.rows, queued.complete, io);
  }
  const controller = new AbortController();
  const display = gridDisplay(io, jobs.length);
  let rows: GridRow[];
  try {
    rows = await withInterrupt(
      io,
      () => controller.abort(),
      () =>
        runGrid({
          input: flags.input,
          jobs: local.jobs,
          signal: controller.signal,
          ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
          ...(flags.backend ? { backend: flags.backend } : {}),
          onEvent: (e) => {
            if (e.type === "done") {
              const r = e.row;
              display.done(
                `[${e.done}/${e.total}] ${r.tag} ${r.status}: best val ${fmtLoss(r.bestValLoss)} ` +
                  `(${r.steps} steps, ${r.seconds.toFixed(1)} s)${r.message ? ` ${r.message}` : ""}`,
              );
            }
          },
        }),
    );
  } finally {
    display.stop();
  }
  const table = sortResults([...rows, ...skipped]);
  writeResults(resultsFile, table);
  summarize(io, table, resultsFile, kind);
  if (controller.signal.aborted) return EXIT.interrupted;
  const failed = rows.filter((r) => r.status === "failed");
  if (failed.length > 0) {
    io.err(`makemore: error: ${failed.length} run${failed.length === 1 ? "" : "s"} failed: ${failed[0]?.message}\n`);
    return EXIT.error;
  }
  return EXIT.ok;
}

/** Prints the results table (and a lottery's spread); results.csv is already written. */
function summarize(io: Io, table: readonly GridRow[], resultsFile: string, kind: "grid" | "lottery"): void {
  io.out(`\n${formatResultsTable(table)}`);
  io.out(`results: ${resultsFile}\n`);
  if (kind === "lottery") {
    const s = lossSpread(table);
    io.out(
      `seed lottery over ${s.n} seed${s.n === 1 ? "" : "s"}: best val loss min ${fmtLoss(s.min)}, ` +
        `median ${fmtLoss(s.median)}, max ${fmtLoss(s.max)} (spread ${fmtLoss(s.max - s.min)})\n`,
    );
  }
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
