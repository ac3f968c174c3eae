/**
 * `makemore worker`: takes grid and lottery jobs from a Redis queue and
 * trains them, on any machine with the project installed. Each
 * --concurrency slot is its own process (lib/experiments/queue-worker.ts),
 * so one model trains per process, as in a local grid.
 *
 * @module
 */
import { fork, type ChildProcess } from "child_process";
import * as os from "os";
import * as path from "path";
import { Command, Option } from "commander";
import type { BackendName } from "../lib/runtime/backend";
import { threadsPerProcess } from "../lib/engines/kernel-pool";
import { openQueue } from "../lib/experiments/queue";
import type { QueueWorkerOptions } from "../lib/experiments/queue-worker";
import { backendOption, EXIT, intOption, maxMemoryOption, type CliContext, type Io } from "./common";

/** The script each worker process runs (in the tree this code runs from, not where node_modules resolves). */
export const QUEUE_WORKER = path.join(__dirname, "..", "lib", "experiments", "queue-worker.ts");

interface WorkerFlags {
  queue: string;
  concurrency?: number;
  workDir?: string;
  backend?: BackendName;
  lockDuration?: number;
  stalledInterval?: number;
  maxMemory?: number;
}

/** The `worker` command. */
export function workerCommand(ctx: CliContext): Command {
  const cmd = new Command("worker").description(
    "take grid and lottery jobs from a Redis queue (makemore grid --queue) and train them until stopped",
  );
  cmd
    .addOption(
      new Option("--queue <url>", "the queue: redis://[:PASSWORD@]HOST:PORT, or rediss:// for TLS")
        .env("MAKEMORE_QUEUE")
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--concurrency <k>", "jobs at a time, one process each (default 1)").argParser(intOption(1, 1024)),
    )
    .option("--work-dir <dir>", "folder for runs in progress (default: the system's temporary folder)")
    .addOption(backendOption())
    .addOption(maxMemoryOption())
    .addOption(
      new Option("--lock-duration <ms>", "how long a dead worker's job waits before another takes it (default 60000)")
        .argParser(intOption(1000))
        .hideHelp(),
    )
    .addOption(
      new Option("--stalled-interval <ms>", "how often to look for stalled jobs (default 30000)")
        .argParser(intOption(500))
        .hideHelp(),
    )
    .addHelpText(
      "after",
      `
Ctrl-C (or SIGTERM) once: finish the current jobs, then stop. Twice: stop at
once, the job processes too (another worker restarts the jobs from their last
checkpoint).

A worker takes only jobs that are data: checked ids and tags, a configuration
valid as for 'makemore train' and under the memory ceiling, and a dataset that
is a registry name whose lines hash as the grid's did, or lines sent with the
search (checked against their hash). Anything else fails the job, unrecoverably,
before the worker's disk is touched.

Example:
  makemore worker --queue redis://:PASSWORD@gridhost:6379 --concurrency 4`,
    )
    .action(async (flags: WorkerFlags) => {
      ctx.code = await runWorkers(ctx.io, flags);
    });
  return cmd;
}

async function runWorkers(io: Io, flags: WorkerFlags): Promise<number> {
  // fail here, once and clearly, for a bad URL, a wrong password or an unreachable server
  const probe = await openQueue(flags.queue, { failFast: true });
  await probe.close();
  const count = flags.concurrency ?? 1;
  const workDir = path.resolve(flags.workDir ?? path.join(os.tmpdir(), "makemore-worker"));
  io.err(`worker: ${count} process${count === 1 ? "" : "es"} on ${probe.shown}, runs in progress in ${workDir}\n`);
  const children = Array.from({ length: count }, (_, i) => forkWorker(flags, workDir, i));
  let signals = 0;
  const forward = (): void => {
    signals++;
    // the second signal ends the job processes too: a child left behind would go on training and allocating
    const how = signals > 1 ? "SIGKILL" : "SIGINT";
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(how);
    if (signals > 1) process.exit(EXIT.interrupted);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  try {
    const codes = await Promise.all(children.map((c) => exited(c)));
    if (signals > 0) return EXIT.ok;
    return codes.every((c) => c === 0) ? EXIT.ok : EXIT.error;
  } finally {
    process.removeListener("SIGINT", forward);
    process.removeListener("SIGTERM", forward);
    process.removeListener("SIGHUP", forward);
  }
}

function forkWorker(flags: WorkerFlags, workDir: string, index: number): ChildProcess {
  const settings: Omit<QueueWorkerOptions, "url" | "log"> = {
    name: `${os.hostname()}:${process.pid}/${index + 1}`,
    workDir,
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.lockDuration !== undefined ? { lockDurationMs: flags.lockDuration } : {}),
    ...(flags.stalledInterval !== undefined ? { stalledIntervalMs: flags.stalledInterval } : {}),
    ...(flags.maxMemory !== undefined ? { maxMemory: flags.maxMemory } : {}),
    // the cores shared among the processes, so that they do not oversubscribe the machine
    threads: threadsPerProcess(flags.concurrency ?? 1),
  };
  // the URL travels in the environment: a command line would show its password to `ps`
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MAKEMORE_QUEUE_URL: flags.queue,
    MAKEMORE_QUEUE_WORKER: JSON.stringify(settings),
  };
  if (flags.backend) env.MAKEMORE_BACKEND = flags.backend;
  return fork(QUEUE_WORKER, [], {
    execArgv: ["--require", require.resolve("tsx/cjs")],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env,
  });
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on("exit", (code) => resolve(code ?? 1));
  });
}
