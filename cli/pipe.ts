/**
 * Closed pipes: `makemore grid --help | head -1`, `makemore sample ... | head -1`.
 *
 * Node ignores SIGPIPE, so writing to a pipe whose reader has gone raises
 * EPIPE as an 'error' event on the stream, which, unhandled, ends the process
 * with a stack trace. Here a closed stdout (or stderr) is noted, later
 * writes to it are dropped, and then:
 *
 * - commands that only print (help, sample, errors) end at once with exit 0,
 *   as Unix tools do when their reader stops reading;
 * - commands whose product is files (train, grid, lottery) go on to their
 *   normal end, and exit with their usual code: the run folder, log.csv and
 *   results.csv are complete and consistent, only the report on stdout is
 *   lost. Progress still goes to stderr when it is open, and Ctrl-C still
 *   stops a run cleanly. Stopping a training run because a reader of its
 *   report went away would let `| head -1` decide how long a model trains.
 *
 * @module
 */

/** What a closed stdout does: end the process (exit 0), or go on without output. */
export type ClosedPipePolicy = "exit" | "continue";

/** Exit codes used here (the values of EXIT.ok and EXIT.error in ./common, which imports this module). */
const OK = 0;
const ERROR = 1;

const state = { policy: "exit" as ClosedPipePolicy, out: false, err: false, installed: false };

/** Sets what a closed stdout does from now on (train, grid and lottery choose "continue"). */
export function setClosedPipePolicy(policy: ClosedPipePolicy): void {
  state.policy = policy;
}

/** Whether stdout's reader has gone. */
export function stdoutClosed(): boolean {
  return state.out;
}

function isClosedPipe(e: NodeJS.ErrnoException): boolean {
  return e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED" || e.code === "ECONNRESET";
}

/**
 * Handles errors of the process's stdout and stderr (once per process).
 * @param exit - how to end the process (tests pass their own).
 */
export function guardStdio(exit: (code: number) => void = (code) => process.exit(code)): void {
  if (state.installed) return;
  state.installed = true;
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (!isClosedPipe(e)) {
      writeErr(`makemore: error: cannot write the output: ${e.message}\n`);
      exit(ERROR);
      return;
    }
    state.out = true;
    if (state.policy === "exit") exit(OK);
  });
  process.stderr.on("error", () => {
    // nowhere left to report to: drop stderr and go on (stdout decides how the process ends)
    state.err = true;
  });
}

/** Writes to stdout unless its reader has gone. */
export function writeOut(text: string): void {
  if (!state.out) process.stdout.write(text);
}

/** Writes to stderr unless its reader has gone. */
export function writeErr(text: string): void {
  if (!state.err) process.stderr.write(text);
}

/** Calls `done` once whatever is still buffered for open streams is written. */
export function flushStdio(done: () => void): void {
  const flushErr = (): void => {
    if (state.err) done();
    else process.stderr.write("", () => done());
  };
  if (state.out) flushErr();
  else process.stdout.write("", () => flushErr());
}
