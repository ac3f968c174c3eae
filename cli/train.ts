/**
 * `makemore train`: one training run into an output folder.
 *
 * @module
 */
import * as path from "path";
import { Command, Option } from "commander";
import { initBackend, type BackendName } from "../lib/runtime/backend";
import type { Dataset } from "../lib/data/datasets";
import { runExperiment, type ExperimentResult } from "../lib/experiments/experiment";
import { RUN_FILES } from "../lib/experiments/run-files";
import { describeModel } from "../lib/experiments/hyperparams";
import { newRunTag } from "../lib/experiments/runlog";
import type { RunLock } from "../lib/experiments/run-lock";
import {
  addHyperOptions,
  backendOption,
  EXIT,
  fmtLoss,
  hyperOverrides,
  intOption,
  maxLineLengthOption,
  reportDropped,
  runDisplay,
  withInterrupt,
  type CliContext,
  type Io,
} from "./common";
import { checkOutDir } from "./paths";
import { setClosedPipePolicy } from "./pipe";
import {
  checkGuardFlags,
  checkTrainMemory,
  dataFields,
  inspectRun,
  loadTrainData,
  maxMemoryOption,
  plannedBackend,
  withRunFolder,
  type RunPlan,
} from "./run-guard";

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
    .addOption(new Option("--samples <n>", "words to sample at the end").argParser(intOption(0)).default(10))
    .addOption(maxLineLengthOption())
    .addHelpText(
      "after",
      `
Stops at --max-steps, after --early-stop evaluations without a better val loss,
when the val loss reaches --target-loss, or at Ctrl-C (after saving; exit 130).
Exit codes: 0 done, 1 error, 2 bad usage or DIR in use, 3 over --max-params or --max-memory,
4 NaN loss, 130 Ctrl-C.

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
  checkGuardFlags(flags);
  const overrides = hyperOverrides(flags);
  // everything that can refuse the run, before anything is written
  const data = loadTrainData(out, flags);
  reportDropped(io, data, flags.maxLineLength);
  const early = inspectRun(out, flags, data, overrides);
  checkTrainMemory(early, data, flags.maxMemory, plannedBackend(flags.backend));
  const backend = await initBackend(flags.backend, { quiet: true });
  const result = await withRunFolder(out, io, "makemore train", (guard, lock) => {
    const plan = inspectRun(out, flags, data, overrides);
    if (plan.resume?.note) io.err(`makemore: note: ${plan.resume.note}\n`);
    return trainLocked(io, flags, { plan, data, backend, lock }, (step) => guard.reached(step));
  });
  return report(io, result, out);
}

/** The run itself, under the folder's lock. */
async function trainLocked(
  io: Io,
  flags: TrainFlags,
  held: { plan: RunPlan; data: Dataset; backend: BackendName; lock: RunLock },
  reached: (step: number) => void,
): Promise<ExperimentResult> {
  const { plan, data, backend, lock } = held;
  const tag = newRunTag();
  const { runInfo, resetBest } = dataFields(flags.out, plan, tag);
  let stop = false;
  const display = runDisplay(io);
  try {
    return await withInterrupt(
      io,
      () => (stop = true),
      () =>
        runExperiment({
          config: hyperOverrides(flags),
          words: data.words,
          dataset: data.name,
          outDir: flags.out,
          tag,
          resume: Boolean(flags.resume),
          force: Boolean(flags.force),
          samples: flags.samples,
          runInfo: { ...runInfo },
          lock,
          resetBest,
          ...(flags.maxParams !== undefined ? { maxParams: flags.maxParams } : {}),
          shouldStop: () => stop,
          onStart: (s) => {
            const from = s.startStep > 0 ? ` from step ${s.startStep}` : "";
            const newData = resetBest ? ` on new data` : "";
            display.say(
              `run ${s.tag} started${from}${newData}: ${describeModel(s.config)}, ${s.params.toLocaleString("en-US")} parameters, ` +
                `${data.name} (${data.words.length.toLocaleString("en-US")} lines, vocabulary ${s.vocabSize}), ` +
                `${s.config.maxSteps} steps on ${s.engine === "fused" ? `the fused kernels (tfjs backend ${backend})` : backend} -> ${flags.out}`,
            );
          },
          onEval: (row, best) => {
            reached(row.step);
            display.say(
              `step ${String(row.step).padStart(6)}  train ${fmtLoss(row.trainLoss)}  val ${fmtLoss(row.valLoss)}` +
                `  ${row.seconds.toFixed(1)} s${best ? "  (best, saved)" : ""}`,
            );
          },
          onProgress: (p) => display.update(p),
        }),
    );
  } finally {
    display.stop();
  }
}

function report(io: Io, r: ExperimentResult, out: string): number {
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
  return r.status === "interrupted" ? EXIT.interrupted : EXIT.ok;
}
