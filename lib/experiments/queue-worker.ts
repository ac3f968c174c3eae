/**
 * A queue worker: one BullMQ worker that takes makemore jobs from Redis one
 * at a time, trains each with {@link runExperiment} (the call the local grid
 * worker makes, so a run folder is locked and written the same way) in a
 * local work folder, and returns the run folder's files as the job's result.
 *
 * While a job trains, each new best checkpoint is sent to a side key. When a
 * worker dies mid-job (kill -9, a lost machine), its lock on the job expires,
 * BullMQ's stalled-job check puts the job back, and the next worker restarts
 * it from that snapshot (or from the start when none arrived).
 *
 * `makemore worker` forks one such process per --concurrency slot (one model
 * per process: TensorFlow.js state never crosses runs); this file is also the
 * forked script.
 *
 * @module
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UnrecoverableError, Worker, type Job } from "bullmq";
import { CheckpointError } from "./checkpoint";
import { DataError } from "../data/lines";
import { loadDataset } from "../data/datasets";
import { fingerprintLines } from "./data-record";
import { initBackend, type BackendName } from "../runtime/backend";
import { writeFileAtomic } from "../runtime/files";
import { runExperiment, type ExperimentResult } from "./experiment";
import { ConfigError, ParameterLimitError } from "./hyperparams";
import {
  cancelKey,
  datasetKey,
  fromWire,
  openQueue,
  parseWire,
  QUEUE_NAME,
  readJobData,
  scrub,
  SIDE_KEY_SECONDS,
  snapshotKey,
  snapshotSchema,
  toWire,
  type DatasetRef,
  type JobProgress,
  type JobSnapshot,
  type QueueConnection,
  type QueueJobData,
  type QueueJobPayload,
} from "./queue";
import { MemoryLimitError } from "./limits";
import { checkRunFileContents, RUN_FILES } from "./run-files";
import { removeIfEmpty } from "./run-lock";

/** What a job returns to BullMQ: the payload as {@link toWire} text (it keeps NaN losses). */
export interface QueueJobReturn {
  /** a {@link QueueJobPayload} */
  wire: string;
}

/** Options of {@link startQueueWorker}. */
export interface QueueWorkerOptions {
  /** the queue URL (redis:// or rediss://, may carry a password) */
  url: string;
  /** a name for messages and BullMQ's processedBy (default host:pid) */
  name?: string;
  /** folder for the run folders of jobs in progress (default: the system's temporary folder) */
  workDir?: string;
  /** how long a job's lock lasts without renewal, ms (default 60 s): a dead worker's job waits this long */
  lockDurationMs?: number;
  /** how often stalled jobs are looked for, ms (default 30 s) */
  stalledIntervalMs?: number;
  /** how many times a job may stall before it fails (default 2) */
  maxStalledCount?: number;
  /** the backend when the job names none */
  backend?: BackendName;
  /** the memory ceiling of each job in bytes (default MAKEMORE_MAX_MEMORY, else half of this machine's memory) */
  maxMemory?: number;
  /** threads each job's kernels run on (default every core; `makemore worker` divides them among its processes) */
  threads?: number;
  /** one line per event: a job starts, reports a checkpoint, ends */
  log?: (line: string) => void;
}

/** A running queue worker. */
export interface QueueWorker {
  /** stops taking jobs, waits for the current one to finish, and closes the connection */
  close(): Promise<void>;
}

/** Errors that would happen again on any machine: the job fails at once, without retries. */
function isDeterministic(e: unknown): boolean {
  return (
    e instanceof ConfigError ||
    e instanceof DataError ||
    e instanceof CheckpointError ||
    e instanceof ParameterLimitError ||
    e instanceof MemoryLimitError ||
    e instanceof UnrecoverableError
  );
}

/** Starts a worker; it runs until {@link QueueWorker.close}. */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const conn = await openQueue(options.url);
  const name = options.name ?? `${os.hostname()}:${process.pid}`;
  const log = options.log ?? (() => undefined);
  const context: JobContext = { conn, name, log, options, datasets: new Map() };
  const worker = new Worker<unknown, QueueJobReturn>(QUEUE_NAME, (job) => processJob(job, context), {
    connection: conn.redis,
    name,
    concurrency: 1,
    autorun: true,
    lockDuration: options.lockDurationMs ?? 60000,
    stalledInterval: options.stalledIntervalMs ?? 30000,
    maxStalledCount: options.maxStalledCount ?? 2,
  });
  worker.on("error", (e) => log(`error: ${conn.scrub(e.message)}`));
  await worker.waitUntilReady();
  log(`ready on ${conn.shown} (${QUEUE_NAME})`);
  return {
    close: async () => {
      await worker.close();
      await conn.close();
    },
  };
}

interface JobContext {
  conn: QueueConnection;
  name: string;
  log: (line: string) => void;
  options: QueueWorkerOptions;
  datasets: Map<string, string[]>;
}

async function processJob(job: Job<unknown, QueueJobReturn>, ctx: JobContext): Promise<QueueJobReturn> {
  const jobId = String(job.id);
  let cancelled: CancelWatch | null = null;
  let dir: string | null = null;
  try {
    // everything is checked before the worker's disk is touched
    const data = readJobData(job.data);
    cancelled = new CancelWatch(ctx.conn, data.searchId);
    await cancelled.refresh();
    if (cancelled.value) throw new UnrecoverableError("search cancelled");
    const snapshot = await readSnapshot(ctx, jobId);
    const resumedFrom = snapshot?.step ?? null;
    ctx.log(`start ${data.tag} (job ${jobId})${resumedFrom === null ? "" : ` from step ${resumedFrom}`}`);
    const words = await datasetWords(ctx, data.dataset, data.maxLineLength);
    dir = jobFolder(ctx, data);
    prepareFolder(dir, snapshot);
    const result = await trainJob(ctx, { job, data, words, dir, resumed: snapshot !== null, cancelled });
    if (cancelled.value) throw new UnrecoverableError("search cancelled");
    const payload = collectFiles(result, dir, ctx.name, resumedFrom);
    ctx.log(`done ${data.tag} ${result.status}: best val ${result.bestValLoss.toFixed(4)} (${result.steps} steps)`);
    removeJobFolder(dir);
    return { wire: toWire(payload) };
  } catch (e) {
    // the work folder holds runs in progress only: a failed job leaves nothing there (a retry starts from its snapshot)
    if (dir) removeJobFolder(dir);
    const message = ctx.conn.scrub((e as Error).message.split("\n")[0] ?? String(e));
    const tag = (job.data as { tag?: unknown } | null)?.tag;
    ctx.log(`failed ${typeof tag === "string" && /^[0-9a-f]{6}$/.test(tag) ? tag : `job ${jobId}`}: ${message}`);
    throw isDeterministic(e) ? new UnrecoverableError(message) : new Error(message);
  } finally {
    cancelled?.stop();
  }
}

/** What {@link trainJob} trains. */
interface JobRun {
  job: Job<unknown, QueueJobReturn>;
  data: QueueJobData;
  words: readonly string[];
  dir: string;
  resumed: boolean;
  cancelled: CancelWatch;
}

/** Trains the job in its folder with the checks of any run (the configuration, the memory ceiling). */
async function trainJob(ctx: JobContext, run: JobRun): Promise<ExperimentResult> {
  const { data, cancelled } = run;
  const backend = data.backend ?? ctx.options.backend;
  await initBackend(backend, { quiet: true });
  const reporter = new SnapshotReporter(ctx, run.job, data.tag, run.dir);
  cancelled.start();
  const result = await runExperiment({
    config: data.config,
    words: run.words,
    dataset: data.dataset.name,
    outDir: run.dir,
    tag: data.tag,
    resume: run.resumed,
    ...(backend ? { backend } : {}),
    ...(ctx.options.maxMemory !== undefined ? { maxMemory: ctx.options.maxMemory } : {}),
    ...(ctx.options.threads !== undefined ? { threads: ctx.options.threads } : {}),
    shouldStop: () => cancelled.value,
    onEval: (row, best) => reporter.onEval(row.step, row.valLoss, best),
    onProgress: (p) => reporter.onProgress(p.step, p.maxSteps, p.bestValLoss),
  });
  await reporter.flush();
  return result;
}

/**
 * The job's work folder, WORKDIR/<search id>/<tag>: the id and tag are
 * checked hex strings, and the resolved path is checked to lie inside the
 * work folder all the same.
 */
function jobFolder(ctx: JobContext, data: QueueJobData): string {
  const root = path.resolve(ctx.options.workDir ?? path.join(os.tmpdir(), "makemore-worker"));
  const dir = path.resolve(root, data.searchId, data.tag);
  const rel = path.relative(root, dir);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new UnrecoverableError(`the job's folder ${dir} is not inside the work folder ${root}`);
  }
  return dir;
}

/** Removes a job's folder, and its search's folder when that is left empty. */
function removeJobFolder(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  removeIfEmpty(path.dirname(dir));
}

/** The snapshot an earlier attempt left, checked (only run files by their bare names), or null. */
async function readSnapshot(ctx: JobContext, jobId: string): Promise<JobSnapshot | null> {
  const text = await ctx.conn.redis.get(snapshotKey(jobId));
  if (text === null) return null;
  const snapshot = parseWire(snapshotSchema, fromWire(text), `the snapshot of job ${jobId}`);
  checkRunFileContents(snapshot.files, `the snapshot of job ${jobId}`);
  return snapshot;
}

/** Empties the job's work folder and writes the snapshot's files there. */
function prepareFolder(dir: string, snapshot: JobSnapshot | null): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, b64] of Object.entries(snapshot?.files ?? {})) {
    if (b64 !== undefined) writeFileAtomic(path.join(dir, name), Buffer.from(b64, "base64"));
  }
}

/**
 * The dataset's lines, once per worker: a registry name loads here (without
 * the lines over `maxLineLength`) and must hash as the grid's did; uploaded
 * lines come from Redis by their hash (the grid command uploads only the
 * lines it kept) and are checked against it.
 * @throws DataError naming both hashes when this worker's data is not the grid's.
 */
async function datasetWords(ctx: JobContext, ref: DatasetRef, maxLineLength?: number): Promise<string[]> {
  const id = `${ref.kind}:${ref.sha256}`;
  const cached = ctx.datasets.get(id);
  if (cached) return cached;
  let words: string[];
  if (ref.kind === "name") words = loadDataset(ref.name, maxLineLength === undefined ? {} : { maxLineLength }).words;
  else {
    const text = await ctx.conn.redis.get(datasetKey(ref.sha256));
    if (text === null) throw new DataError(`the dataset of this search is no longer on the queue (${ref.name})`);
    words = text.split("\n").filter((w) => w.length > 0);
  }
  const mine = fingerprintLines(words).sha256;
  if (mine !== ref.sha256) {
    const what = ref.kind === "name" ? `this worker's ${ref.name}` : `the lines on the queue for ${ref.name}`;
    throw new DataError(
      `${what} (sha256 ${mine.slice(0, 8)}) is not the grid's (sha256 ${ref.sha256.slice(0, 8)}): ` +
        `give every machine the same data (npm run setup), or run the grid with -i FILE to send the lines`,
    );
  }
  ctx.datasets.set(id, words);
  return words;
}

/** The run folder's files as the job's result. */
function collectFiles(
  result: ExperimentResult,
  dir: string,
  worker: string,
  resumedFrom: number | null,
): QueueJobPayload {
  const files: Record<string, string> = {};
  for (const name of [RUN_FILES.config, RUN_FILES.log, RUN_FILES.best, RUN_FILES.last, RUN_FILES.samples]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) files[name] = fs.readFileSync(file).toString("base64");
  }
  return { result, files, worker, resumedFrom };
}

/** Keeps the search's cancel flag fresh (shouldStop is synchronous: it reads the cached value). */
class CancelWatch {
  value = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly conn: QueueConnection,
    private readonly searchId: string,
  ) {}

  async refresh(): Promise<void> {
    this.value = (await this.conn.redis.exists(cancelKey(this.searchId))) === 1;
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * Sends progress (job.updateProgress, at most once a second) and a snapshot
 * of each new best checkpoint (the side key), one upload at a time: a best
 * that comes while one is in flight waits for the next.
 */
class SnapshotReporter {
  private pending: Promise<void> = Promise.resolve();
  private busy = false;
  private lastProgress = 0;

  constructor(
    private readonly ctx: JobContext,
    private readonly job: Job<unknown, QueueJobReturn>,
    private readonly tag: string,
    private readonly dir: string,
  ) {}

  onEval(step: number, valLoss: number, best: boolean): void {
    if (!best || this.busy) return;
    const files: Record<string, string> = {};
    for (const name of [RUN_FILES.config, RUN_FILES.best, RUN_FILES.log]) {
      files[name] = fs.readFileSync(path.join(this.dir, name)).toString("base64");
    }
    const snap: JobSnapshot = { step, files };
    this.busy = true;
    this.pending = this.ctx.conn.redis
      .set(snapshotKey(this.job.id as string), toWire(snap), "EX", SIDE_KEY_SECONDS)
      .then(() => this.ctx.log(`checkpoint ${this.tag} step ${step} val ${valLoss.toFixed(4)}`))
      .catch((e: Error) => this.ctx.log(`cannot send a snapshot: ${this.ctx.conn.scrub(e.message)}`))
      .finally(() => {
        this.busy = false;
      });
  }

  onProgress(step: number, maxSteps: number, bestValLoss: number): void {
    const now = Date.now();
    if (now - this.lastProgress < 1000) return;
    this.lastProgress = now;
    const p: JobProgress = { step, maxSteps, bestValLoss: Number.isFinite(bestValLoss) ? bestValLoss : null };
    void this.job.updateProgress({ ...p }).catch(() => undefined);
  }

  flush(): Promise<void> {
    return this.pending;
  }
}

/** Entry of a forked worker process: settings come from the environment (never a URL on a command line). */
async function mainProcess(): Promise<void> {
  const url = process.env.MAKEMORE_QUEUE_URL ?? "";
  const settings = JSON.parse(process.env.MAKEMORE_QUEUE_WORKER ?? "{}") as Omit<QueueWorkerOptions, "url" | "log">;
  const name = settings.name ?? `${os.hostname()}:${process.pid}`;
  const log = (line: string): void => void process.stdout.write(`${new Date().toISOString()} ${name} ${line}\n`);
  const worker = await startQueueWorker({ ...settings, url, name, log });
  let stops = 0;
  // the first signal lets the current job finish; the second ends at once (the job's lock expires, another worker takes it)
  const stop = (): void => {
    if (++stops > 1) process.exit(130);
    log("stopping after the current job (again to stop at once)");
    void worker.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGHUP", stop);
  // the parent is gone (killed, or its machine lost): stop at once, as it did; the job's lock expires
  process.on("disconnect", () => process.exit(1));
}

if (require.main === module) {
  mainProcess().catch((e: unknown) => {
    const url = process.env.MAKEMORE_QUEUE_URL ?? "";
    process.stderr.write(`makemore: error: ${scrub((e as Error).message ?? String(e), url)}\n`);
    process.exit(1);
  });
}
