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
import { Vocab } from "../data/vocab";
import { runExperiment } from "./experiment";
import { SPLIT_SEED } from "./run-data";
import type { WorkerJob, WorkerMessage } from "./grid";
import { datasetRecord, historyEntry, type DatasetRecord } from "./data-record";
import { withRunLock } from "./run-lock";

let interrupted = false;
const datasets = new Map<string, Dataset & { record: DatasetRecord }>();

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** Loads a dataset once per worker, with its record for config.json (lib/experiments/data-record.ts). */
function dataset(input: string, maxLineLength?: number): Dataset & { record: DatasetRecord } {
  const key = `${input}\u0000${maxLineLength ?? ""}`;
  let d = datasets.get(key);
  if (!d) {
    const loaded = loadDataset(input, maxLineLength === undefined ? {} : { maxLineLength });
    const record = datasetRecord(loaded.name, loaded.words, Vocab.fromWords(loaded.words), SPLIT_SEED);
    d = { ...loaded, record };
    datasets.set(key, d);
  }
  return d;
}

async function runJob({ job, input, maxLineLength, backend }: WorkerJob): Promise<void> {
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
        runInfo: { data: data.record, dataHistory: [historyEntry(data.record, 0, job.tag, null)] },
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
