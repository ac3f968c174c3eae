/**
 * The `makemore` command line: train, sample, grid, lottery and worker.
 *
 * `bin/makemore.js` runs {@link run}; {@link main} runs the same program with
 * any arguments and output streams and returns the exit code (for tests and
 * for scripts that drive the CLI from TypeScript).
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { EXIT, errorLine, exitCodeOf, processIo, type CliContext, type Io } from "./common";
import { gridCommand, lotteryCommand } from "./grid";
import { flushStdio, guardStdio, writeErr } from "./pipe";
import { sampleCommand } from "./sample";
import { trainCommand } from "./train";
import { workerCommand } from "./worker";

/** The commander program, writing to `ctx.io` and leaving its exit code in `ctx.code`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("makemore")
    .description("character-level language models from the makemore lectures, on TensorFlow.js")
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => ctx.io.out(s),
      writeErr: (s) => ctx.io.err(s),
      // commander's errors become one line: "makemore: error: ..."
      outputError: (s, write) => write(`makemore: ${s.trim().replace(/\s*\n\s*/g, " ")}\n`),
    });
  program.addCommand(trainCommand(ctx));
  program.addCommand(sampleCommand(ctx));
  program.addCommand(gridCommand(ctx));
  program.addCommand(lotteryCommand(ctx));
  program.addCommand(workerCommand(ctx));
  for (const cmd of program.commands) {
    cmd.copyInheritedSettings(program);
    cmd.allowExcessArguments(false);
  }
  program.addHelpText(
    "after",
    `
Examples:
  makemore train -i names -o runs/mlp --max-steps 20000 --early-stop 5
  makemore sample -o runs/mlp -n 10
  makemore grid -i names -o runs/grid --grid grid.json --max-params 12000
  makemore lottery -i names -o runs/seeds --seeds 8
  makemore grid -i names -o runs/grid --grid grid.json --queue redis://HOST:6379   (then, anywhere:)
  makemore worker --queue redis://HOST:6379

Run 'makemore <command> --help' for a command's flags.`,
  );
  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name).
 * @returns the exit code (see {@link EXIT}).
 */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const ctx: CliContext = { io, code: EXIT.ok };
  const program = buildProgram(ctx);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: "user" });
    return ctx.code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    io.err(errorLine(e) + "\n");
    return exitCodeOf(e);
  }
}

/** Runs the CLI on the process's arguments and exits with its code. */
export function run(): void {
  guardStdio();
  main(process.argv.slice(2)).then(
    (code) => {
      // let pending output drain, then end even if a backend keeps handles open
      flushStdio(() => process.exit(code));
    },
    (e: unknown) => {
      writeErr(errorLine(e) + "\n");
      process.exit(EXIT.error);
    },
  );
}
