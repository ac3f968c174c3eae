/**
 * `makemore train`: one training run into an output folder.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { Command, Option } from "commander";
import { initBackend, type BackendName } from "../lib/runtime/backend";
import { loadDataset, type Dataset } from "../lib/data/datasets";
import { runExperiment, type ExperimentResult } from "../lib/experiments/experiment";
import { RUN_FILES, type SavedRun } from "../lib/experiments/run-files";
import { ConfigError, describeModel } from "../lib/experiments/hyperparams";
import { checkNotLocked, withRunLock, type LockHolder, type RunLock } from "../lib/experiments/run-lock";
import { planRun, type PlanOptions, type RunData, type RunPlan } from "../lib/experiments/run-plan";
import {
  addHyperOptions,
  backendOption,
  EXIT,
  fmtLoss,
  hyperOverrides,
  intOption,
  maxLineLengthOption,
  maxMemoryOption,
  MAX_SAMPLES,
  reportDropped,
  runDisplay,
  signalExit,
  withInterrupt,
  type StopSignalName,
  type CliContext,
  type Io,
} from "./common";
import { checkDatasetArg, checkOutDir } from "./paths";
import { setClosedPipePolicy } from "./pipe";

/** Most threads --threads takes (more than any machine's cores only adds waiting). */
const MAX_THREADS = 256;

/** Options of `makemore train` as commander parses them. */
interface TrainFlags extends Record<string, unknown> {
  input?: string;
  out: string;
  maxParams?: number;
  backend?: BackendName;
  resume?: boolean;
  force?: boolean;
  newData?: boolean;
  maxMemory?: number;
  maxLineLength?: number;
  samples: number;
  threads?: number;
}

/** The `train` command. */
export function trainCommand(ctx: CliContext): Command {
  const cmd = new Command("train")
    .description("train one model; writes DIR/config.json, DIR/log.csv, DIR/model.ckpt (best val loss) and samples")
    .option("-i, --input <file>", "dataset: a text file of lines, or one of names, words, brown, addition, sqrt")
    .requiredOption("-o, --out <dir>", "output folder of the run");
  addHyperOptions(cmd);
  cmd
    .addOption(new Option("--max-params <n>", "refuse to train a model with more parameters").argParser(intOption(1)))
    .addOption(backendOption())
    .option("--resume", "continue the run in DIR from its last checkpoint (flags may change steps, lr, stopping)")
    .option("--force", "replace a run already in DIR (log.csv is kept and appended to)")
    .option("--new-data", "with --resume: go on training on a dataset other than the run's (recorded in config.json)")
    .addOption(maxMemoryOption())
    .addOption(
      new Option("--samples <n>", "words to sample at the end").argParser(intOption(0, MAX_SAMPLES)).default(10),
    )
    .addOption(maxLineLengthOption())
    .addOption(
      new Option(
        "--threads <n>",
        "most threads the fused kernels run on (default: every core; timed steps compare them with 1 thread and keep the faster; same losses whatever the count)",
      ).argParser(intOption(1, MAX_THREADS)),
    )
    .addHelpText(
      "after",
      `
Stops at --max-steps, after --early-stop evaluations without a better val loss,
when the val loss reaches --target-loss, or at Ctrl-C, SIGTERM or SIGHUP (after
saving; a second one quits at once). last.ckpt holds the latest evaluation.
Exit codes: 0 done, 1 error (data, checkpoint, a failed write), 2 bad usage or
DIR in use, 3 over --max-params or --max-memory, 4 NaN loss, 130 Ctrl-C,
143 SIGTERM, 129 SIGHUP.

Example:
  makemore train -i names -o runs/mlp --n-embd 10 --n-hidden 200 --max-steps 20000 --early-stop 5`,
    )
    .action(async (flags: TrainFlags) => {
      ctx.code = await train(ctx.io, flags);
    });
  return cmd;
}

async function train(io: Io, flags: TrainFlags): Promise<number> {
  // the run folder is the product: a closed stdout drops the report, not the run (see cli/pipe.ts)
  setClosedPipePolicy("continue");
  const out = checkOutDir(flags.out);
  // a folder in use is refused before anything else is read
  checkNotLocked(out);
  // everything that can refuse the run, before anything is written
  const plan = planRun(planOptions(io, flags));
  if (plan.resume?.note) io.err(`makemore: note: ${plan.resume.note}\n`);
  const backend = await initBackend(flags.backend, { quiet: true });
  const result = await withRunLock(out, "makemore train", (lock) => {
    if (lock.tookOver) io.err(`makemore: note: took over ${out} from ${who(lock.tookOver)}, which has ended\n`);
    return trainLocked(io, flags, { plan, backend, lock });
  });
  return report(io, result, out);
}

/** The run's plan options from the flags; the data is loaded once, after the folder is checked. */
function planOptions(io: Io, flags: TrainFlags): PlanOptions {
  let data: RunData | null = null;
  return {
    config: hyperOverrides(flags),
    data: (saved) => (data ??= loadTrainData(io, flags, saved)),
    outDir: flags.out,
    resume: Boolean(flags.resume),
    force: Boolean(flags.force),
    newData: Boolean(flags.newData),
    ...(flags.maxParams !== undefined ? { maxParams: flags.maxParams } : {}),
    ...(flags.maxMemory !== undefined ? { maxMemory: flags.maxMemory } : {}),
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
  };
}

/**
 * The dataset to train on: -i, or for --resume without -i the one the run
 * recorded (its absolute file path when it still exists there).
 */
function loadTrainData(io: Io, flags: TrainFlags, saved: SavedRun | null): Dataset {
  const lines = flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength };
  let data: Dataset;
  if (flags.input !== undefined) data = loadDataset(checkDatasetArg(flags.input), lines);
  else if (!saved) {
    throw new ConfigError("missing -i/--input: a dataset name (names, words, brown, addition, sqrt) or a file");
  } else {
    const file = saved.data?.file && fs.existsSync(saved.data.file) ? saved.data.file : null;
    data = loadDataset(file ?? saved.file.dataset, lines);
    if (file) data = { ...data, name: saved.data?.source ?? data.name };
  }
  reportDropped(io, data, flags.maxLineLength);
  return data;
}

/** "makemore train (pid 41 on vm, since ...)" */
function who(h: LockHolder): string {
  return `${h.command} (pid ${h.pid} on ${h.host}, since ${h.since})`;
}

/** The run itself, under the folder's lock. */
async function trainLocked(
  io: Io,
  flags: TrainFlags,
  held: { plan: RunPlan; backend: BackendName; lock: RunLock },
): Promise<ExperimentResult & { exit: number }> {
  const { plan, backend, lock } = held;
  const { data } = plan;
  let stop: StopSignalName | null = null;
  const display = runDisplay(io);
  try {
    const result = await withInterrupt(
      io,
      (signal) => (stop = signal),
      () =>
        runExperiment({
          plan,
          lock,
          samples: flags.samples,
          ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
          shouldStop: () => stop !== null,
          onStart: (s) => {
            for (const note of s.notes) io.err(`makemore: note: ${note}\n`);
            const from = s.startStep > 0 ? ` from step ${s.startStep}` : "";
            const newData = s.newData ? ` on new data` : "";
            display.say(
              `run ${s.tag} started${from}${newData}: ${describeModel(s.config)}, ${s.params.toLocaleString("en-US")} parameters, ` +
                `${data.name} (${data.words.length.toLocaleString("en-US")} lines, vocabulary ${s.vocabSize}), ` +
                `${s.config.maxSteps} steps on ${s.engine === "fused" ? `the fused kernels (tfjs backend ${backend})` : backend} -> ${flags.out}`,
            );
          },
          onEval: (row, best) => {
            display.say(
              `step ${String(row.step).padStart(6)}  train ${fmtLoss(row.trainLoss)}  val ${fmtLoss(row.valLoss)}` +
                `  ${row.seconds.toFixed(1)} s${best ? "  (best, saved)" : ""}`,
            );
          },
          onProgress: (p) => display.update(p),
        }),
    );
    return { ...result, exit: result.status === "interrupted" ? signalExit(stop) : EXIT.ok };
  } finally {
    display.stop();
  }
}

function report(io: Io, r: ExperimentResult & { exit: number }, out: string): number {
  const best = `best val loss ${fmtLoss(r.bestValLoss)} at step ${r.bestStep}`;
  const took = `${r.steps} steps, ${r.seconds.toFixed(1)} s`;
  const ckpt = path.join(out, RUN_FILES.best);
  switch (r.status) {
    case "finished":
      io.out(`run ${r.tag} finished: ${best} (${took})\n`);
      if (r.config.targetLoss !== null) io.out(`target val loss ${r.config.targetLoss} not reached\n`);
      break;
    case "early-stopped":
      io.out(
        `run ${r.tag} stopped early: no better val loss in ${r.config.earlyStop} evaluations; ${best} (${took})\n`,
      );
      break;
    case "target-reached":
      io.out(
        `run ${r.tag} reached the target val loss ${r.config.targetLoss} at step ${r.target?.step} ` +
          `after ${r.target?.seconds.toFixed(1)} s; ${best}\n`,
      );
      break;
    case "interrupted":
      io.out(`run ${r.tag} interrupted at step ${r.steps}; saved; ${best} (${took})\n`);
      break;
    case "diverged":
      io.out(`run ${r.tag} diverged at step ${r.steps}; ${best}\n`);
      io.err(
        `makemore: error: ${(r.message ?? "the loss is not finite").replace(/\.\s*$/, "")}; ` +
          `the best checkpoint stays in ${ckpt}\n`,
      );
      return EXIT.diverged;
  }
  if (r.samples.length > 0) io.out(`samples from ${ckpt}:\n${r.samples.map((s) => `  ${s}\n`).join("")}`);
  return r.exit;
}
