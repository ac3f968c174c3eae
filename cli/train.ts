/**
 * `makemore train`: one training run into an output folder.
 *
 * @module
 */
import * as path from "path";
import { Command, Option } from "commander";
import { initBackend, type BackendName } from "../lib/runtime/backend";
import { loadDataset } from "../lib/data/datasets";
import { runExperiment, type ExperimentResult } from "../lib/experiments/experiment";
import { checkRunDir, readRunConfig, RUN_FILES } from "../lib/experiments/run-files";
import { dataBlockSize } from "../lib/experiments/run-data";
import { findModel } from "../lib/models/registry";
import {
  ConfigError,
  describeModel,
  parameterCount,
  ParameterLimitError,
  resolveConfig,
} from "../lib/experiments/hyperparams";
import { Vocab } from "../lib/data/vocab";
import {
  addHyperOptions,
  maxLineLengthOption,
  reportDropped,
  backendOption,
  EXIT,
  fmtLoss,
  hyperOverrides,
  intOption,
  runDisplay,
  withInterrupt,
  type CliContext,
  type Io,
} from "./common";

/** Options of `makemore train` as commander parses them. */
interface TrainFlags extends Record<string, unknown> {
  input?: string;
  out: string;
  maxParams?: number;
  backend?: BackendName;
  resume?: boolean;
  force?: boolean;
  samples: number;
  maxLineLength?: number;
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
    .addOption(new Option("--samples <n>", "words to sample at the end").argParser(intOption(0)).default(10))
    .addOption(maxLineLengthOption())
    .addHelpText(
      "after",
      `
Stops at --max-steps, after --early-stop evaluations without a better val loss,
when the val loss reaches --target-loss, or at Ctrl-C (after saving; exit 130).
Exit codes: 0 done, 1 error, 2 bad usage, 3 over --max-params, 4 NaN loss, 130 Ctrl-C.

Example:
  makemore train -i names -o runs/mlp --n-embd 10 --n-hidden 200 --max-steps 20000 --early-stop 5`,
    )
    .action(async (flags: TrainFlags) => {
      ctx.code = await train(ctx.io, flags);
    });
  return cmd;
}

async function train(io: Io, flags: TrainFlags): Promise<number> {
  const overrides = hyperOverrides(flags);
  checkRunDir(flags.out, { resume: Boolean(flags.resume), force: Boolean(flags.force) });
  let input = flags.input;
  if (!input) {
    if (!flags.resume)
      throw new ConfigError("missing -i/--input: a dataset name (names, words, brown, addition, sqrt) or a file");
    input = readRunConfig(flags.out).dataset;
  }
  const data = loadDataset(input, flags.maxLineLength === undefined ? {} : { maxLineLength: flags.maxLineLength });
  reportDropped(io, data, flags.maxLineLength);
  if (!flags.resume) {
    // refuse before any backend starts
    const config = resolveConfig(overrides);
    const kind = findModel(config.model)?.examples ?? "context";
    config.blockSize = dataBlockSize(data.words, kind, config.blockSize);
    const params = parameterCount(config, Vocab.fromWords(data.words).size);
    if (flags.maxParams !== undefined && params > flags.maxParams) {
      throw new ParameterLimitError(params, flags.maxParams, `the ${config.model} model`);
    }
  }
  const backend = await initBackend(flags.backend, { quiet: true });
  let stop = false;
  const display = runDisplay(io);
  let result: ExperimentResult;
  try {
    result = await withInterrupt(
      io,
      () => (stop = true),
      () =>
        runExperiment({
          config: overrides,
          words: data.words,
          dataset: data.name,
          outDir: flags.out,
          resume: Boolean(flags.resume),
          force: Boolean(flags.force),
          samples: flags.samples,
          ...(flags.maxParams !== undefined ? { maxParams: flags.maxParams } : {}),
          shouldStop: () => stop,
          onStart: (s) => {
            const from = s.startStep > 0 ? ` from step ${s.startStep}` : "";
            display.say(
              `run ${s.tag} started${from}: ${describeModel(s.config)}, ${s.params.toLocaleString("en-US")} parameters, ` +
                `${data.name} (${data.words.length.toLocaleString("en-US")} lines, vocabulary ${s.vocabSize}), ` +
                `${s.config.maxSteps} steps on ${s.engine === "fused" ? `the fused kernels (evaluation on ${backend})` : backend} -> ${flags.out}`,
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
  } finally {
    display.stop();
  }
  return report(io, result, flags.out);
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
