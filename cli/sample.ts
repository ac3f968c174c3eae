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
import { backendOption, EXIT, intOption, type CliContext } from "./common";
import { checkInputPath } from "./paths";

interface SampleFlags {
  out: string;
  num: number;
  seed: number;
  backend?: BackendName;
}

/** The `sample` command. */
export function sampleCommand(ctx: CliContext): Command {
  return new Command("sample")
    .description("print words sampled from the best checkpoint of a run (DIR/model.ckpt)")
    .requiredOption("-o, --out <dir>", "the run folder (or a checkpoint file)")
    .addOption(new Option("-n, --num <n>", "how many words").argParser(intOption(1)).default(20))
    .addOption(new Option("--seed <n>", "seed of the sampling generator").argParser(intOption(0)).default(SAMPLE_SEED))
    .addOption(backendOption())
    .addHelpText("after", "\nExample:\n  makemore sample -o runs/mlp -n 10 --seed 7")
    .action(async (flags: SampleFlags) => {
      checkInputPath(flags.out, "-o/--out", "a run folder or a checkpoint file");
      await initBackend(flags.backend, { quiet: true });
      const run = loadRun(flags.out);
      try {
        const words = sampleFromModel(run.model, run.vocab, flags.num, flags.seed);
        ctx.io.out(words.map((w) => w + "\n").join(""));
      } finally {
        run.model.dispose();
      }
      ctx.code = EXIT.ok;
    });
}
