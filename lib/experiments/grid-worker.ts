/**
 * The worker process of a grid search (forked by {@link runGrid}, not
 * imported): it receives one job at a time over IPC, trains it with
 * {@link runExperiment} into the job's folder, sends the result back, and
 * waits for the next job until the parent disconnects.
 *
 * Ctrl-C (SIGINT, from the terminal or forwarded by the parent) stops the
 * current run after its step; the run saves its checkpoint and log as usual
 * and reports the status "interrupted".
 *
 * @module
 */
import { initBackend } from "../runtime/backend";
import { loadDataset, type Dataset } from "../data/datasets";
import { runExperiment } from "./experiment";
import type { WorkerJob, WorkerMessage } from "./grid";
import { withRunLock } from "./run-lock";

let interrupted = false;
const datasets = new Map<string, Dataset>();

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** Loads a dataset once per worker. */
function dataset(input: string, maxLineLength?: number): Dataset {
  const key = `${input}\u0000${maxLineLength ?? ""}`;
  let d = datasets.get(key);
  if (!d) {
    d = loadDataset(input, maxLineLength === undefined ? {} : { maxLineLength });
    datasets.set(key, d);
  }
  return d;
}

async function runJob({ job, input, maxLineLength, backend, threads }: WorkerJob): Promise<void> {
  try {
    await initBackend(backend, { quiet: true });
    const data = dataset(input, maxLineLength);
    let lastSent = 0;
    // the job's folder is locked like any run folder: one writer, whoever started it
    const result = await withRunLock(job.dir, "makemore grid worker", (lock) =>
      runExperiment({
        config: job.config,
        words: data.words,
        dataset: data.name,
        outDir: job.dir,
        tag: job.tag,
        resume: Boolean(job.resume),
        force: Boolean(job.force),
        ...(backend ? { backend } : {}),
        threads,
        lock,
        shouldStop: () => interrupted,
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastSent >= 1000 || p.finished) {
            lastSent = now;
            send({ type: "progress", tag: job.tag, step: p.step, maxSteps: p.maxSteps });
          }
        },
      }),
    );
    send({ type: "result", result });
  } catch (e) {
    send({ type: "error", tag: job.tag, message: (e as Error).message.split("\n")[0] ?? String(e) });
  }
}

if (require.main === module && process.send) {
  process.on("SIGINT", () => {
    interrupted = true;
  });
  let chain = Promise.resolve();
  process.on("message", (m: WorkerJob) => {
    chain = chain.then(() => runJob(m));
  });
  process.on("disconnect", () => {
    void chain.then(() => process.exit(0));
  });
}
