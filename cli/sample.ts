/**
 * `makemore sample`: words from a run's best checkpoint.
 *
 * @module
 */
import { Command, Option } from "commander";
import { initBackend, type BackendName } from "../lib/runtime/backend";
import { sampleFromModel } from "../lib/training/evaluate";
import { SAMPLE_SEED } from "../lib/random/seeds";
import { loadRun } from "../lib/experiments/run-model";
import type { ExampleKind } from "../lib/data/examples";
import { groupSamples } from "../lib/experiments/run-data";
import { exampleKind } from "../lib/models/model";
import { loadDataset } from "../lib/data/datasets";
import { MAX_SEED } from "../lib/experiments/hyperparams";
import { backendOption, EXIT, intOption, MAX_SAMPLES, type CliContext } from "./common";
import { checkInputPath } from "./paths";

interface SampleFlags {
  out: string;
  num: number;
  seed: number;
  groups?: boolean;
  backend?: BackendName;
}

/** The `sample` command. */
export function sampleCommand(ctx: CliContext): Command {
  return new Command("sample")
    .description("print words sampled from the best checkpoint of a run (DIR/model.ckpt)")
    .requiredOption("-o, --out <dir>", "the run folder (or a checkpoint file)")
    .addOption(new Option("-n, --num <n>", "how many words").argParser(intOption(1, MAX_SAMPLES)).default(20))
    .addOption(
      new Option("--seed <n>", "seed of the sampling generator").argParser(intOption(0, MAX_SEED)).default(SAMPLE_SEED),
    )
    .option("--groups", "print the samples in three groups, as makemore.py does: in the training split, held out, new")
    .addOption(backendOption())
    .addHelpText(
      "after",
      "\nExample:\n  makemore sample -o runs/mlp -n 10 --seed 7\n  makemore sample -o runs/mlp -n 50 --groups",
    )
    .action(async (flags: SampleFlags) => {
      checkInputPath(flags.out, "-o/--out", "a run folder or a checkpoint file");
      await initBackend(flags.backend, { quiet: true });
      const run = loadRun(flags.out);
      try {
        const words = sampleFromModel(run.model, run.vocab, flags.num, flags.seed);
        const kind = exampleKind(run.model);
        ctx.io.out(flags.groups ? groupedText(words, run.meta.dataset, kind) : words.map((w) => w + "\n").join(""));
      } finally {
        run.model.dispose();
      }
      ctx.code = EXIT.ok;
    });
}

/** The samples under three headings; the run's dataset is read again to tell where each one occurs. */
function groupedText(words: readonly string[], dataset: string, kind: ExampleKind): string {
  const groups = groupSamples(words, loadDataset(dataset).words, kind);
  const section = (title: string, list: readonly string[]): string =>
    `${list.length} ${title}:\n` + list.map((w) => `  ${w}\n`).join("");
  return [
    section("in the training split", groups.train),
    section("in the val or test split", groups.heldOut),
    section("new", groups.fresh),
  ].join("");
}
