/**
 * The grid command's side of a distributed search: plan the jobs (same
 * configurations and --max-params check as a local grid, deterministic ids
 * and tags), put them on the queue, follow them, and turn each finished job
 * into the run folder and the results.csv row a local grid would have left.
 *
 * The search's state lives in OUT/search.json: its id and one row per
 * configuration already collected, keyed by job id. A row is written there
 * (and results.csv rewritten, both atomically) before its job leaves Redis,
 * so a configuration is reported exactly once however often its job ran or
 * the grid command was restarted. No queue URL is ever written there.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { Queue, type Job } from "bullmq";
import { z } from "zod";
import { DATASET_NAMES } from "../data/datasets";
import type { BackendName } from "../runtime/backend";
import { READ_LIMITS, readFileBounded, writeFileAtomic } from "../runtime/files";
import { fingerprintLines } from "./data-record";
import { FINAL_STATUSES, planGrid, resultRow, sortResults, writeResults, type GridMemory, type GridRow } from "./grid";
import { ConfigError, resolveConfig, type ExperimentConfig } from "./hyperparams";
import {
  cancelKey,
  datasetKey,
  fromWire,
  jobIdOf,
  jobPayloadSchema,
  parseWire,
  QUEUE_NAME,
  searchIdOf,
  searchTags,
  SIDE_KEY_SECONDS,
  snapshotKey,
  toWire,
  type DatasetRef,
  type JobProgress,
  type QueueConnection,
  type QueueJobData,
  type QueueJobPayload,
} from "./queue";
import { checkRunFileContents, firstIssue, RUN_FILES } from "./run-files";
import type { QueueJobReturn } from "./queue-worker";

/** Name of the search's state file in the output folder. */
export const SEARCH_FILE = "search.json";

/** One configuration of a search. */
export interface SearchJob {
  /** BullMQ job id (search id + configuration identity) */
  jobId: string;
  /** the run's tag, derived from the job id */
  tag: string;
  /** the configuration */
  config: ExperimentConfig;
  /** parameters of its model */
  params: number;
}

/** A planned search. */
export interface SearchPlan {
  /** derived from the output folder and the dataset */
  searchId: string;
  /** the output folder */
  outDir: string;
  /** the configurations to train */
  jobs: SearchJob[];
  /** the configurations over --max-params */
  skipped: GridRow[];
}

/** What OUT/search.json holds. */
export interface SearchState {
  /** the search id */
  searchId: string;
  /** the dataset as given to the grid command */
  input: string;
  /** collected rows by job id */
  rows: Record<string, GridRow>;
}

/** Plans a search: {@link planGrid}'s split at --max-params and the memory ceiling, with deterministic ids and tags. */
export function planSearch(
  configs: readonly ExperimentConfig[],
  vocabSize: number,
  outDir: string,
  input: string,
  limits: { maxParams?: number; memory?: GridMemory } = {},
): SearchPlan {
  const searchId = searchIdOf(outDir, input);
  const ids = configs.map((c) => jobIdOf(searchId, c));
  const tags = searchTags(ids);
  const byConfig = new Map(configs.map((c, i) => [c, i]));
  const { jobs, skipped } = planGrid(configs, vocabSize, outDir, limits.maxParams, limits.memory);
  const index = (c: ExperimentConfig): number => byConfig.get(c) as number;
  return {
    searchId,
    outDir,
    jobs: jobs.map((j) => ({
      jobId: ids[index(j.config)] as string,
      tag: tags[index(j.config)] as string,
      config: j.config,
      params: j.params,
    })),
    skipped: skipped.map((s) => ({ ...s, tag: tags[index(s.config)] as string })),
  };
}

/** OUT/search.json: written by the grid command, read back with the rows it collected. */
const searchStateSchema = z.object({
  searchId: z.string().regex(/^[0-9a-f]{16}$/),
  input: z.string(),
  rows: z.record(
    z.string(),
    z.custom<GridRow>((r) => typeof r === "object" && r !== null && "config" in r),
  ),
});

/**
 * Reads OUT/search.json, or null when the folder holds none.
 * @throws ConfigError when it is not a search's state (or larger than 16 MB).
 */
export function readSearchState(outDir: string): SearchState | null {
  const file = path.join(outDir, SEARCH_FILE);
  if (!fs.existsSync(file)) return null;
  const fail = (why: string): ConfigError => new ConfigError(`${file} is not a makemore search's state: ${why}`);
  let json: unknown;
  try {
    json = fromWire(readFileBounded(file, READ_LIMITS.table, "a search's state").toString("utf8"));
  } catch (e) {
    throw fail((e as Error).message.split("\n")[0] ?? "");
  }
  const parsed = searchStateSchema.safeParse(json);
  if (!parsed.success) throw fail(firstIssue(parsed.error));
  return parsed.data;
}

function saveSearchState(outDir: string, state: SearchState): void {
  writeFileAtomic(path.join(outDir, SEARCH_FILE), toWire(state) + "\n");
}

/**
 * The rows of results.csv: collected rows, cancelled rows for `missing` jobs,
 * the skipped ones, and the rows of earlier commands in the same folder (a grid
 * file that changed, a lottery after a grid): results already collected stay.
 */
function tableRows(plan: SearchPlan, state: SearchState, missing: "omit" | "cancelled"): GridRow[] {
  const rows: GridRow[] = [];
  for (const job of plan.jobs) {
    const row = state.rows[job.jobId];
    if (row) rows.push(row);
    else if (missing === "cancelled") rows.push(cancelledRow(job));
  }
  const planned = new Set(plan.jobs.map((j) => j.jobId));
  const earlier = Object.entries(state.rows).filter(([id]) => !planned.has(id));
  return sortResults([...rows, ...earlier.map(([, row]) => row), ...plan.skipped]);
}

function cancelledRow(job: SearchJob): GridRow {
  const { tag, config, params } = job;
  return { tag, config, params, bestValLoss: NaN, bestStep: -1, steps: 0, seconds: 0, status: "cancelled" };
}

/** A handle on the queue for one search. */
export class Search {
  readonly queue: Queue<QueueJobData, QueueJobReturn>;
  readonly state: SearchState;

  constructor(
    readonly conn: QueueConnection,
    readonly plan: SearchPlan,
    input: string,
  ) {
    this.queue = new Queue<QueueJobData, QueueJobReturn>(QUEUE_NAME, { connection: conn.redis });
    this.queue.on("error", () => undefined);
    const saved = readSearchState(plan.outDir);
    this.state = saved?.searchId === plan.searchId ? saved : { searchId: plan.searchId, input, rows: {} };
    fs.mkdirSync(plan.outDir, { recursive: true });
    saveSearchState(plan.outDir, this.state);
  }

  /** Jobs without a row yet (a cancelled row counts as none: enqueueing again restarts them). */
  pending(): SearchJob[] {
    return this.plan.jobs.filter((j) => {
      const row = this.state.rows[j.jobId];
      return !row || row.status === "cancelled";
    });
  }

  /** Forgets the rows of runs that did not finish (failed, interrupted, cancelled), so they are trained again. */
  forgetUnfinished(): void {
    for (const [id, row] of Object.entries(this.state.rows)) {
      if (!FINAL_STATUSES.includes(row.status)) delete this.state.rows[id];
    }
    saveSearchState(this.plan.outDir, this.state);
  }

  /** Writes results.csv from the rows collected so far. */
  writeResults(missing: "omit" | "cancelled" = "omit"): GridRow[] {
    const rows = tableRows(this.plan, this.state, missing);
    writeResults(path.join(this.plan.outDir, "results.csv"), rows);
    return rows;
  }

  /** Closes the queue handle (not the connection). */
  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * Puts every pending job on the queue (jobs already there are left as they
 * are: BullMQ ignores an id it holds) and clears a cancel flag left by an
 * earlier --cancel. Returns how many jobs were pending.
 */
export async function enqueueSearch(
  search: Search,
  data: { input: string; words: readonly string[]; backend?: BackendName; maxLineLength?: number },
): Promise<number> {
  const { conn, plan } = search;
  await conn.redis.del(cancelKey(plan.searchId));
  const dataset = await uploadDataset(conn, data.input, data.words);
  // attaching again trains what did not finish: failed and cancelled runs too
  search.forgetUnfinished();
  const pending = search.pending();
  await dropFailedJobs(search, pending);
  const jobs = pending.map((j) => ({
    name: j.tag,
    data: {
      searchId: plan.searchId,
      tag: j.tag,
      config: j.config,
      params: j.params,
      dataset,
      ...(data.backend ? { backend: data.backend } : {}),
      ...(data.maxLineLength === undefined ? {} : { maxLineLength: data.maxLineLength }),
    },
    opts: {
      jobId: j.jobId,
      // a second try for errors that may not repeat; deterministic ones are UnrecoverableError and fail at once
      attempts: 2,
      removeOnComplete: false,
      removeOnFail: { age: SIDE_KEY_SECONDS },
    },
  }));
  for (let i = 0; i < jobs.length; i += 500) await search.queue.addBulk(jobs.slice(i, i + 500));
  return pending.length;
}

/**
 * Registry datasets are on every machine: the job names one with the hash of
 * its lines here, which a worker checks its own copy against. A file's lines
 * go to Redis once, keyed by that hash.
 */
async function uploadDataset(conn: QueueConnection, input: string, words: readonly string[]): Promise<DatasetRef> {
  const sha = fingerprintLines(words).sha256;
  const registry = DATASET_NAMES.find((n) => n === input);
  if (registry) return { kind: "name", name: registry, sha256: sha };
  await conn.redis.set(datasetKey(sha), words.join("\n") + "\n", "EX", SIDE_KEY_SECONDS);
  return { kind: "text", name: input, sha256: sha };
}

/** Failed jobs still on the queue (a --cancel stopped them, say) would block their ids: remove them. */
async function dropFailedJobs(search: Search, pending: readonly SearchJob[]): Promise<void> {
  for (const j of pending) {
    const job = await search.queue.getJob(j.jobId);
    if (job && (await job.isFailed())) await job.remove();
  }
}

/** Counts and estimates for a progress display. */
export interface SearchStatus {
  /** jobs waiting for a worker */
  queued: number;
  /** jobs a worker holds */
  running: number;
  /** rows collected (any status but failed) */
  done: number;
  /** failed rows collected */
  failed: number;
  /** jobs of the search */
  total: number;
  /** the collected row with the lowest val loss */
  best: GridRow | null;
  /** seconds left at the rate of the steps done since following started, or null before any */
  etaSeconds: number | null;
}

/** What {@link followSearch} sees. */
export type SearchEvent = { type: "status"; status: SearchStatus } | { type: "done"; row: GridRow; worker: string };

/**
 * Follows the search until every job has a row, or until `signal` aborts
 * (Ctrl-C: the grid command detaches; the jobs go on). Each finished job is
 * collected: its run folder written, its row saved, then it leaves Redis.
 * @returns whether every job has a row
 */
export async function followSearch(
  search: Search,
  options: { signal?: AbortSignal; pollMs?: number; onEvent?: (e: SearchEvent) => void } = {},
): Promise<boolean> {
  const { signal, pollMs = 1000, onEvent } = options;
  const rate = new StepRate(search);
  while (!signal?.aborted) {
    const ids = new Set(search.pending().map((j) => j.jobId));
    if (ids.size === 0) return true;
    const finished = await search.queue.getRanges(["completed", "failed"], 0, -1);
    for (const id of finished) if (ids.has(id) && !signal?.aborted) await collectJob(search, id, onEvent);
    const active = (await search.queue.getRanges(["active"], 0, -1)).filter((id) => ids.has(id));
    const progress = await activeProgress(search, active);
    onEvent?.({ type: "status", status: searchStatus(search, active.length, rate.eta(progress)) });
    await sleep(pollMs, signal);
  }
  return search.pending().length === 0;
}

async function activeProgress(search: Search, active: readonly string[]): Promise<Map<string, JobProgress>> {
  const out = new Map<string, JobProgress>();
  for (const id of active) {
    const p = (await search.queue.getJob(id))?.progress;
    if (p !== null && typeof p === "object" && "step" in p) out.set(id, p as JobProgress);
  }
  return out;
}

/** Writes a finished job's run folder and row, then removes the job and its snapshot from Redis. */
async function collectJob(search: Search, jobId: string, onEvent?: (e: SearchEvent) => void): Promise<void> {
  const job = (await search.queue.getJob(jobId)) as Job<QueueJobData, QueueJobReturn> | undefined;
  const planned = search.plan.jobs.find((j) => j.jobId === jobId);
  if (!job || !planned) return;
  let row: GridRow;
  let worker = job.processedBy ?? "?";
  if (await job.isCompleted()) {
    const payload = readPayload(job.returnvalue?.wire, planned);
    if (typeof payload === "string") row = { ...cancelledRow(planned), status: "failed", message: payload };
    else {
      writeRunFolder(path.join(search.plan.outDir, planned.tag), payload.files);
      row = resultRow(payload.result);
      worker = payload.worker;
    }
  } else {
    const message = search.conn.scrub(job.failedReason || "failed");
    row = { ...cancelledRow(planned), status: message === "search cancelled" ? "cancelled" : "failed", message };
  }
  search.state.rows[jobId] = row;
  saveSearchState(search.plan.outDir, search.state);
  search.writeResults();
  onEvent?.({ type: "done", row, worker });
  await job.remove().catch(() => undefined);
  await search.conn.redis.del(snapshotKey(jobId));
}

/** A worker's result checked (files by run-file name only, a valid configuration), or why it is not valid. */
function readPayload(wire: unknown, planned: SearchJob): QueueJobPayload | string {
  try {
    const payload = parseWire(jobPayloadSchema, fromWire(String(wire)), `the result of run ${planned.tag}`);
    checkRunFileContents(payload.files, `the result of run ${planned.tag}`);
    const config = resolveConfig(payload.result.config, `the result of run ${planned.tag}`);
    return { ...payload, result: { ...payload.result, tag: planned.tag, config } };
  } catch (e) {
    return (e as Error).message.split("\n")[0] ?? "invalid result";
  }
}

/** Writes the files a job sent back into the run folder (each atomically; a second collection writes the same). */
export function writeRunFolder(dir: string, files: Readonly<Partial<Record<string, string>>>): void {
  const names: readonly string[] = Object.values(RUN_FILES);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, b64] of Object.entries(files)) {
    // only the run files by their bare names: a job cannot write elsewhere
    if (b64 === undefined || !names.includes(name)) continue;
    writeFileAtomic(path.join(dir, name), Buffer.from(b64, "base64"));
  }
}

function searchStatus(search: Search, running: number, etaSeconds: number | null): SearchStatus {
  const rows = Object.values(search.state.rows).filter((r) => r.status !== "cancelled");
  const failed = rows.filter((r) => r.status === "failed").length;
  const total = search.plan.jobs.length;
  const best = sortResults(rows).find((r) => Number.isFinite(r.bestValLoss)) ?? null;
  const queued = Math.max(0, total - rows.length - running);
  return { queued, running, done: rows.length - failed, failed, total, best, etaSeconds };
}

/** The rate of training steps over the whole search since following began, and the time left at that rate. */
class StepRate {
  private readonly t0 = Date.now();
  private start: number | null = null;

  constructor(private readonly search: Search) {}

  eta(active: ReadonlyMap<string, JobProgress>): number | null {
    let done = 0;
    let left = 0;
    for (const job of this.search.plan.jobs) {
      const row = this.search.state.rows[job.jobId];
      const step = row ? job.config.maxSteps : (active.get(job.jobId)?.step ?? 0);
      done += step;
      left += job.config.maxSteps - step;
    }
    if (this.start === null) this.start = done;
    const rate = (done - this.start) / ((Date.now() - this.t0) / 1000);
    return rate > 0 ? left / rate : null;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/**
 * Cancels a search: marks it cancelled (workers stop its running jobs after
 * their step and skip the rest), removes its waiting jobs, collects what had
 * finished, and gives the others a "cancelled" row.
 * @returns the rows of results.csv
 */
export async function cancelSearch(search: Search): Promise<GridRow[]> {
  const { conn, plan } = search;
  await conn.redis.set(cancelKey(plan.searchId), "1", "EX", SIDE_KEY_SECONDS);
  for (const j of search.pending()) {
    const job = await search.queue.getJob(j.jobId);
    if (!job) continue;
    if ((await job.isCompleted()) || (await job.isFailed())) await collectJob(search, j.jobId);
    else if (!(await job.isActive())) await job.remove().catch(() => undefined);
  }
  for (const j of search.pending()) search.state.rows[j.jobId] = cancelledRow(j);
  saveSearchState(plan.outDir, search.state);
  return search.writeResults();
}
