/**
 * What the makemore commands share: exit codes, where output goes, the
 * hyperparameter flags, error reporting, Ctrl-C handling and progress display.
 *
 * @module
 */
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import { InvalidArgumentError, Option, type Command } from "commander";
import { CheckpointError } from "../lib/experiments/checkpoint";
import { DataError } from "../lib/data/lines";
import type { ExperimentProgress } from "../lib/experiments/experiment";
import {
  ConfigError,
  HYPERPARAMETERS,
  ParameterLimitError,
  type ExperimentConfig,
  type HyperKey,
} from "../lib/experiments/hyperparams";
import { formatDuration } from "../lib/notebook/progress";
import { MAX_MEMORY_ENV, MemoryLimitError, parseByteSize } from "../lib/experiments/limits";
import { writeErr, writeOut } from "./pipe";

/** Exit codes of the makemore command. */
export const EXIT = Object.freeze({
  /** everything went as asked */
  ok: 0,
  /** bad data, a bad checkpoint, a write that failed (a full disk), or any other failure */
  error: 1,
  /** bad command line: unknown flag, bad value or path, bad grid file, occupied or locked output folder, other data on --resume */
  usage: 2,
  /** the model has more parameters than --max-params, or the run needs more memory than --max-memory */
  tooManyParams: 3,
  /** the loss became NaN or infinite (the best checkpoint is kept) */
  diverged: 4,
  /** stopped by Ctrl-C, SIGINT (after saving) */
  interrupted: 130,
  /** stopped by SIGTERM (after saving) */
  terminated: 143,
  /** stopped by SIGHUP, a closed terminal (after saving) */
  hangup: 129,
});

/** The signals that stop a command cleanly: the first saves and stops, the second quits at once. */
export type StopSignalName = "SIGINT" | "SIGTERM" | "SIGHUP";

const STOP_SIGNALS: Readonly<Record<StopSignalName, { exit: number; word: string }>> = {
  SIGINT: { exit: EXIT.interrupted, word: "interrupted" },
  SIGTERM: { exit: EXIT.terminated, word: "terminated (SIGTERM)" },
  SIGHUP: { exit: EXIT.hangup, word: "hangup (SIGHUP)" },
};

/** The exit code of a command stopped by `signal` (128 + its number, as a shell reports it). */
export function signalExit(signal: StopSignalName | null): number {
  return STOP_SIGNALS[signal ?? "SIGINT"].exit;
}

/** Where a command writes, and whether those places are terminals. */
export interface Io {
  /** results: tags, evaluations, tables, samples */
  out(text: string): void;
  /** progress and errors */
  err(text: string): void;
  /** stdout is a terminal */
  outIsTTY: boolean;
  /** stderr is a terminal (then progress is a bar) */
  errIsTTY: boolean;
}

/** What every command gets: where to write, and where to leave its exit code. */
export interface CliContext {
  /** output streams */
  io: Io;
  /** the exit code the command ends with (0 until a command sets it) */
  code: number;
}

/** The process's own stdout and stderr. */
export function processIo(): Io {
  return {
    // through cli/pipe.ts: a reader that has gone ends the output quietly
    out: writeOut,
    err: writeErr,
    outIsTTY: Boolean(process.stdout.isTTY),
    errIsTTY: Boolean(process.stderr.isTTY),
  };
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof ParameterLimitError || e instanceof MemoryLimitError) return EXIT.tooManyParams;
  if (e instanceof ConfigError) return EXIT.usage;
  return EXIT.error;
}

/** The one line shown for an error. */
export function errorLine(e: unknown): string {
  const known = e instanceof ConfigError || e instanceof DataError || e instanceof CheckpointError;
  const msg = e instanceof Error ? e.message : String(e);
  const first = msg.split("\n")[0] ?? msg;
  const limit = e instanceof ParameterLimitError || e instanceof MemoryLimitError;
  return `makemore: error: ${known || limit ? first : first || "unexpected failure"}`;
}

/** A commander parser for an integer flag from `min` to `max`. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const v = Number(value);
    if (Number.isInteger(v) && v > max)
      throw new InvalidArgumentError(`it must be at most ${max.toLocaleString("en-US")}.`);
    if (value.trim() === "" || !Number.isSafeInteger(v) || v < min) {
      throw new InvalidArgumentError(`it must be an integer of at least ${min}.`);
    }
    return v;
  };
}

/** Most words `sample -n` and `train --samples` draw (a million would run for hours without a word). */
export const MAX_SAMPLES = 100_000;

/** Adds one flag per hyperparameter (no defaults: unset flags stay undefined, so defaults can come from elsewhere). */
export function addHyperOptions(cmd: Command, skip: readonly HyperKey[] = []): Command {
  for (const h of HYPERPARAMETERS) {
    if (skip.includes(h.key)) continue;
    cmd.addOption(
      // an alias goes first: commander names the value after the last long flag (the config key)
      new Option(`${h.alias ? h.alias + ", " : ""}${h.flag} <${h.placeholder}>`, h.help).argParser((value: string) => {
        try {
          return h.parse(value);
        } catch (e) {
          throw new InvalidArgumentError(`it ${(e as Error).message}.`);
        }
      }),
    );
  }
  return cmd;
}

/** The hyperparameters given on the command line (already checked by their parsers). */
export function hyperOverrides(opts: Record<string, unknown>): Partial<ExperimentConfig> {
  const out: Record<string, unknown> = {};
  for (const h of HYPERPARAMETERS) if (opts[h.key] !== undefined) out[h.key] = opts[h.key];
  return out as Partial<ExperimentConfig>;
}

/** The --backend flag. */
export function backendOption(): Option {
  return new Option("--backend <name>", "TensorFlow.js backend (default: MAKEMORE_BACKEND, else the fastest)").choices([
    "node",
    "wasm",
    "cpu",
  ]);
}

/**
 * Handles Ctrl-C, SIGTERM and SIGHUP while `body` runs: the first calls
 * `onFirst` with the signal (stop after the current step and save), a second
 * ends the process at once with that signal's exit code.
 */
export async function withInterrupt<T>(
  io: Io,
  onFirst: (signal: StopSignalName) => void,
  body: () => Promise<T>,
): Promise<T> {
  let count = 0;
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignalName[]).map((signal) => {
    const handler = (): void => {
      if (++count > 1) process.exit(signalExit(signal));
      const again = signal === "SIGINT" ? "Ctrl-C again" : `another ${signal} or Ctrl-C`;
      io.err(
        `\nmakemore: ${STOP_SIGNALS[signal].word}: finishing the current step and saving (${again} to quit at once)\n`,
      );
      onFirst(signal);
    };
    process.on(signal, handler);
    return { signal, handler };
  });
  try {
    return await body();
  } finally {
    for (const { signal, handler } of handlers) process.removeListener(signal, handler);
  }
}

/** Formats a loss for messages. */
export function fmtLoss(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : String(v);
}

/** Shows a run's progress: a bar on a terminal, plain lines (at most every 5 s) otherwise. */
export interface RunDisplay {
  /** new progress */
  update(p: ExperimentProgress): void;
  /** prints a result line (above the bar, if there is one) */
  say(line: string): void;
  /** removes the bar */
  stop(): void;
}

/** Seconds between two plain progress lines. */
export const PLAIN_PROGRESS_SECONDS = 5;

/** A {@link RunDisplay} for `io`. */
export function runDisplay(io: Io): RunDisplay {
  if (!io.errIsTTY) {
    let last = 0;
    return {
      update(p) {
        const now = Date.now();
        if (p.finished || !Number.isFinite(p.loss) || now - last < PLAIN_PROGRESS_SECONDS * 1000) return;
        last = now;
        io.err(`${plainProgress(p)}\n`);
      },
      say: (line) => io.out(line + "\n"),
      stop: () => undefined,
    };
  }
  const multi = new MultiBar(
    {
      stream: process.stderr,
      format:
        "{tag} [{bar}] {percentage}% | step {value}/{total} | loss {loss} | best val {best} | {speed} steps/s | eta {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
      fps: 5,
    },
    Presets.shades_classic,
  );
  let bar: SingleBar | null = null;
  return {
    update(p) {
      const payload = {
        tag: p.tag,
        loss: fmtLoss(p.loss),
        best: fmtLoss(p.bestValLoss),
        speed: p.stepsPerSecond.toFixed(0),
      };
      if (!bar) bar = multi.create(p.maxSteps, p.step, payload);
      else bar.update(p.step, payload);
    },
    say(line) {
      if (io.outIsTTY) multi.log(line + "\n");
      else io.out(line + "\n");
    },
    stop: () => multi.stop(),
  };
}

/** One plain progress line, e.g. "3fa2c1 step 1200/10000 (12%)  loss 2.4012  best val 2.4500  850 steps/s  eta 10s". */
export function plainProgress(p: ExperimentProgress): string {
  const pct = p.maxSteps > 0 ? Math.floor((100 * p.step) / p.maxSteps) : 100;
  const eta = p.stepsPerSecond > 0 ? formatDuration((p.maxSteps - p.step) / p.stepsPerSecond) : "?";
  return (
    `${p.tag} step ${p.step}/${p.maxSteps} (${pct}%)  loss ${fmtLoss(p.loss)}  best val ${fmtLoss(p.bestValLoss)}  ` +
    `${p.stepsPerSecond.toFixed(0)} steps/s  eta ${eta}`
  );
}

/** The --max-memory flag (train, grid, lottery). */
export function maxMemoryOption(): Option {
  return new Option(
    "--max-memory <size>",
    `refuse runs whose memory estimate is larger, e.g. 4g (default: ${MAX_MEMORY_ENV}, else half of this machine's memory)`,
  ).argParser((value: string) => {
    try {
      return parseByteSize(value, "it");
    } catch (e) {
      throw new InvalidArgumentError(`${(e as Error).message}.`);
    }
  });
}

/** `--max-line-length N`: leave out longer lines (the fork's quotes reach 505 characters). */
export function maxLineLengthOption(): Option {
  return new Option("--max-line-length <n>", "leave out lines longer than n characters").argParser(intOption(1));
}

/** Says how many lines `--max-line-length` left out. */
export function reportDropped(io: Io, data: { name: string; dropped: number }, max: number | undefined): void {
  if (max === undefined) return;
  const n = data.dropped.toLocaleString("en-US");
  io.out(`${data.name}: dropped ${n} line${data.dropped === 1 ? "" : "s"} longer than ${max} characters\n`);
}
