/**
 * Grid search: a grid file names hyperparameters and the values to try,
 * every combination becomes one run, runs over a parameter ceiling are
 * skipped, and the others train in parallel worker processes (one model per
 * process at a time: TensorFlow.js state never crosses runs). The results
 * table lists every run, best val loss first.
 *
 * A grid file is a JSON object whose keys are hyperparameter names (the
 * config keys, e.g. "nEmbd", or the flags, e.g. "n-embd") and whose values
 * are a list of values to try or a single value:
 *
 * ```json
 * { "model": "mlp", "nEmbd": [4, 10], "nHidden": [50, 200], "maxSteps": 4000 }
 * ```
 *
 * @module
 */
import { fork, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { threadsPerProcess } from "../engines/kernel-pool";
import type { BackendName } from "../runtime/backend";
import type { ExperimentResult, ExperimentStatus } from "./experiment";
import {
  ConfigError,
  configIdentity,
  HYPERPARAMETERS,
  HYPER_KEYS,
  hyperSpec,
  parameterCount,
  parseHyperValue,
  resolveConfig,
  type ExperimentConfig,
  type HyperKey,
} from "./hyperparams";
import { memoryCeiling, MemoryLimitError, type DataSize } from "./limits";
import { planModel, type RunLimits } from "./run-plan";
import { describeData, type DatasetRecord } from "./data-record";
import { readSavedRun, RUN_FILES } from "./run-files";
import { isRunTag, newRunTag } from "./runlog";
import { READ_LIMITS, readFileBounded, writeFileAtomic } from "../runtime/files";

/** The values to try for each hyperparameter named in a grid file (each list checked and non-empty). */
export type GridAxes = Partial<Record<HyperKey, ExperimentConfig[HyperKey][]>>;

/**
 * Parses and checks the text of a grid file.
 * @param source - the file name, for messages.
 * @throws ConfigError for invalid JSON, a non-object, an unknown or repeated
 *   hyperparameter, an empty list, or a bad value.
 */
export function parseGrid(text: string, source = "grid"): GridAxes {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${source} is not valid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(`${source} must hold a JSON object of hyperparameters, e.g. {"nEmbd": [4, 10]}`);
  }
  const axes: GridAxes = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    const spec = hyperSpec(name);
    if (!spec) {
      throw new ConfigError(`${source}: unknown hyperparameter '${name}' (known: ${HYPER_KEYS.join(", ")})`);
    }
    if (axes[spec.key] !== undefined) throw new ConfigError(`${source}: ${spec.key} is given twice`);
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) throw new ConfigError(`${source}: ${spec.key} has an empty list of values`);
    axes[spec.key] = list.map((v) => parseHyperValue(spec.key, v, source));
  }
  return axes;
}

/**
 * Reads and checks a grid file (of at most 1 MB).
 * @throws ConfigError for a missing, unreadable or too large file, or anything {@link parseGrid} rejects.
 */
export function readGridFile(file: string): GridAxes {
  let text: string;
  try {
    text = readFileBounded(file, READ_LIMITS.json, "a grid file", (m) => new ConfigError(m)).toString("utf8");
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === "ENOENT"
        ? `cannot read grid file ${file}: no such file`
        : code === "EISDIR"
          ? `cannot read grid file ${file}: it is a directory`
          : `cannot read grid file ${file}: ${(e as Error).message}`,
    );
  }
  return parseGrid(text, file);
}

/** Most runs a grid or a lottery may have: more is refused before anything runs. */
export const MAX_GRID_RUNS = 10_000;

/**
 * Every combination of the grid's values on top of `base` (later keys vary
 * fastest), each resolved to a full configuration. Repeats are dropped,
 * including combinations that differ only in values their model does not
 * use (the bigram's nEmbd, say).
 * @throws ConfigError when a combination is not a valid configuration, or
 *   there are more than {@link MAX_GRID_RUNS} combinations.
 */
export function expandGrid(axes: GridAxes, base: Readonly<Partial<ExperimentConfig>> = {}): ExperimentConfig[] {
  const count = Object.values(axes).reduce((n, values) => n * (values?.length ?? 1), 1);
  if (count > MAX_GRID_RUNS) {
    throw new ConfigError(
      `the grid has ${count.toLocaleString("en-US")} combinations, more than the limit of ${MAX_GRID_RUNS.toLocaleString("en-US")} runs`,
    );
  }
  let combos: Partial<ExperimentConfig>[] = [{ ...base }];
  for (const key of Object.keys(axes) as HyperKey[]) {
    const values = axes[key] ?? [];
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  const seen = new Set<string>();
  const out: ExperimentConfig[] = [];
  for (const c of combos) {
    const config = resolveConfig(c);
    const id = configIdentity(config);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(config);
    }
  }
  return out;
}

/** Status of one row of a grid: how its run ended, or why it did not run. */
export type GridStatus = ExperimentStatus | "skipped" | "failed" | "cancelled";

/** One row of a results table. */
export interface GridRow {
  /** the run's tag (its folder is DIR/<tag>) */
  tag: string;
  /** every hyperparameter */
  config: ExperimentConfig;
  /** parameters of the model */
  params: number;
  /** best val loss (NaN when the run did not train) */
  bestValLoss: number;
  /** step of the best val loss (-1 when none) */
  bestStep: number;
  /** steps done */
  steps: number;
  /** wall-clock seconds */
  seconds: number;
  /** how the run ended */
  status: GridStatus;
  /** why a run failed or was skipped */
  message?: string;
}

/** One run to do. */
export interface GridJob {
  /** the run's tag */
  tag: string;
  /** its configuration */
  config: ExperimentConfig;
  /** parameters of its model */
  params: number;
  /** its run folder */
  dir: string;
  /** continue the run in its folder (an interrupted run of a grid continued with --resume) */
  resume?: boolean;
  /** replace what a run that never trained left in its folder */
  force?: boolean;
}

/** What the memory check of a grid needs: the data's size, and how many runs share the ceiling. */
export interface GridMemory extends Omit<RunLimits, "maxParams"> {
  /** the dataset's size */
  size: DataSize;
  /** runs at the same time (each gets an equal share of the ceiling) */
  workers: number;
}

/**
 * Splits configurations into jobs (each with a new tag and the folder
 * `outDir/<tag>`) and skipped rows: more parameters than `maxParams`, or
 * with `memory`, a memory estimate over the run's share of the ceiling (the
 * checks of every run, lib/experiments/run-plan.ts).
 */
export function planGrid(
  configs: readonly ExperimentConfig[],
  vocabSize: number,
  outDir: string,
  maxParams?: number,
  memory?: GridMemory,
): { jobs: GridJob[]; skipped: GridRow[] } {
  const jobs: GridJob[] = [];
  const skipped: GridRow[] = [];
  const tags = new Set<string>();
  for (const config of configs) {
    let tag = newRunTag();
    while (tags.has(tag)) tag = newRunTag();
    tags.add(tag);
    const params = parameterCount(config, vocabSize);
    if (maxParams !== undefined && params > maxParams) {
      skipped.push({
        ...emptyRow(tag, config, params, "skipped"),
        message: `${params} parameters > --max-params ${maxParams}`,
      });
    } else {
      jobs.push({ tag, config, params, dir: path.join(outDir, tag) });
    }
  }
  return { jobs: memory ? fitMemory(jobs, skipped, vocabSize, memory) : jobs, skipped };
}

/**
 * The jobs whose memory estimate fits their share of the ceiling; the others become skipped rows.
 * @throws MemoryLimitError (the first) when no job fits.
 */
function fitMemory(jobs: readonly GridJob[], skipped: GridRow[], vocabSize: number, memory: GridMemory): GridJob[] {
  const ceiling = memoryCeiling(memory.maxMemory);
  const parallel = Math.max(1, Math.min(memory.workers, jobs.length));
  const share = { bytes: Math.floor(ceiling.bytes / parallel), source: `${ceiling.source}, over ${parallel} workers` };
  // each job runs on its share of the cores (grid workers and makemore worker divide them)
  const limits = { ...memory, ceiling: parallel > 1 ? share : ceiling, threads: threadsPerProcess(parallel) };
  let first: MemoryLimitError | null = null;
  const fits = jobs.filter((job) => {
    try {
      planModel(job.config, vocabSize, memory.size, limits, `run ${job.tag}`);
      return true;
    } catch (e) {
      if (!(e instanceof MemoryLimitError)) throw e;
      first ??= e;
      skipped.push({ ...emptyRow(job.tag, job.config, job.params, "skipped"), message: e.message });
      return false;
    }
  });
  if (fits.length === 0 && first) throw first;
  return fits;
}

function emptyRow(tag: string, config: ExperimentConfig, params: number, status: GridStatus): GridRow {
  return { tag, config, params, bestValLoss: NaN, bestStep: -1, steps: 0, seconds: 0, status };
}

/** The row of a finished run. */
export function resultRow(result: ExperimentResult): GridRow {
  const row: GridRow = {
    tag: result.tag,
    config: result.config,
    params: result.params,
    bestValLoss: result.bestValLoss,
    bestStep: result.bestStep,
    steps: result.steps,
    seconds: result.seconds,
    status: result.status,
  };
  if (result.message !== undefined) row.message = result.message;
  return row;
}

/** Rows with a val loss first, lowest first; the others after them in their order. */
export function sortResults(rows: readonly GridRow[]): GridRow[] {
  const scored = rows.filter((r) => Number.isFinite(r.bestValLoss)).sort((a, b) => a.bestValLoss - b.bestValLoss);
  return [...scored, ...rows.filter((r) => !Number.isFinite(r.bestValLoss))];
}

/** Column names of results.csv: tag, every hyperparameter, then the outcome (and why a run failed or was skipped). */
export const RESULT_COLUMNS: readonly string[] = [
  "tag",
  ...HYPER_KEYS,
  "params",
  "bestValLoss",
  "bestStep",
  "steps",
  "seconds",
  "status",
  "message",
];

function cells(row: GridRow): string[] {
  return [
    row.tag,
    ...HYPER_KEYS.map((k) => (row.config[k] === null ? "" : String(row.config[k]))),
    String(row.params),
    Number.isFinite(row.bestValLoss) ? row.bestValLoss.toFixed(4) : "",
    row.bestStep >= 0 ? String(row.bestStep) : "",
    String(row.steps),
    row.seconds.toFixed(1),
    row.status,
    row.message ?? "",
  ];
}

/** The CSV text of a results table (header and rows, in the order given). */
export function resultsCsv(rows: readonly GridRow[]): string {
  return stringify([[...RESULT_COLUMNS], ...rows.map(cells)]);
}

/** Writes results.csv atomically. */
export function writeResults(file: string, rows: readonly GridRow[]): void {
  writeFileAtomic(file, resultsCsv(rows));
}

/** Statuses of runs that are done: a rerun of the grid with --resume keeps their rows. */
export const FINAL_STATUSES: readonly GridStatus[] = ["finished", "early-stopped", "target-reached", "diverged"];

/** A results.csv record as a row (the hyperparameters checked as a config file's are). */
function rowOf(record: Record<string, string>, source: string): GridRow {
  const given = HYPER_KEYS.map((k) => [k, record[k] === "" ? (k === "targetLoss" ? null : undefined) : record[k]]);
  const num = (v: string | undefined, empty: number): number => (v === undefined || v === "" ? empty : Number(v));
  return {
    tag: record.tag ?? "",
    config: resolveConfig(Object.fromEntries(given) as Record<string, unknown>, source),
    params: num(record.params, 0),
    bestValLoss: num(record.bestValLoss, NaN),
    bestStep: num(record.bestStep, -1),
    steps: num(record.steps, 0),
    seconds: num(record.seconds, 0),
    status: (record.status ?? "failed") as GridStatus,
    ...(record.message ? { message: record.message } : {}),
  };
}

/** A run folder of a grid: its tag, whether it has a checkpoint, and the data it trained on. */
interface GridFolder {
  tag: string;
  trained: boolean;
  data: DatasetRecord | null;
}

/** The run folders of a grid folder by configuration identity. */
function runFoldersOf(outDir: string): Map<string, GridFolder> {
  const out = new Map<string, GridFolder>();
  for (const tag of fs.existsSync(outDir) ? fs.readdirSync(outDir) : []) {
    const dir = path.join(outDir, tag);
    if (!isRunTag(tag) || !fs.existsSync(path.join(dir, RUN_FILES.config))) continue;
    try {
      const saved = readSavedRun(dir);
      const trained = fs.existsSync(path.join(dir, RUN_FILES.best));
      out.set(configIdentity(saved.file.config), { tag, trained, data: saved.data });
    } catch {
      // not a run this grid can continue: its configuration is trained afresh
    }
  }
  return out;
}

/** Refuses to continue a grid whose runs trained on other data. */
function checkGridData(outDir: string, folders: Iterable<GridFolder>, current: DataFingerprint): void {
  for (const { data } of folders) {
    if (data && data.sha256 !== current.sha256) {
      throw new ConfigError(
        `cannot resume ${outDir} on other data: its runs were trained on ${describeData(data)}, ` +
          `not on ${describeData(current)}; train the grid into another folder`,
      );
    }
  }
}

/** A dataset as {@link resumeGrid} compares it. */
type DataFingerprint = Pick<DatasetRecord, "source" | "lines" | "bytes" | "sha256">;

/**
 * What a grid continued with --resume does: rows with a final status (see
 * {@link FINAL_STATUSES}) are kept, a run interrupted in its folder goes on
 * from its last checkpoint, a run that never trained starts again in its
 * folder, the others are new. Rows of configurations the plan no longer
 * has are kept as they are.
 * @throws ConfigError when results.csv cannot be read back, or the runs trained on other data.
 */
export function resumeGrid(
  outDir: string,
  plan: { jobs: readonly GridJob[]; skipped: readonly GridRow[] },
  data: DataFingerprint,
): { jobs: GridJob[]; kept: GridRow[] } {
  const file = path.join(outDir, "results.csv");
  const records = fs.existsSync(file) ? readResults(file) : [];
  const rows = records.map((r, i) => rowOf(r, `${file} row ${i + 1}`));
  const id = (c: ExperimentConfig): string => configIdentity(c);
  const done = new Map(rows.filter((r) => FINAL_STATUSES.includes(r.status)).map((r) => [id(r.config), r]));
  const folders = runFoldersOf(outDir);
  checkGridData(outDir, folders.values(), data);
  const planned = new Set([...plan.jobs, ...plan.skipped].map((j) => id(j.config)));
  const kept = rows.filter((r) => done.get(id(r.config)) === r || !planned.has(id(r.config)));
  const jobs = plan.jobs
    .filter((j) => !done.has(id(j.config)))
    .map((j) => {
      const folder = folders.get(id(j.config));
      if (!folder) return j;
      const dir = path.join(outDir, folder.tag);
      return { ...j, tag: folder.tag, dir, ...(folder.trained ? { resume: true } : { force: true }) };
    });
  return { jobs, kept };
}

/** Reads a results.csv back as records of strings keyed by column (for notebooks and tests). */
export function readResults(file: string): Record<string, string>[] {
  const text = readFileBounded(file, READ_LIMITS.table, "a results table").toString("utf8");
  return parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
}

/**
 * A results table as aligned text. Hyperparameters that have one value in
 * every row are not given columns: they are listed once above the table.
 */
export function formatResultsTable(rows: readonly GridRow[]): string {
  const varying = HYPER_KEYS.filter((k) => new Set(rows.map((r) => String(r.config[k]))).size > 1);
  const fixed = HYPER_KEYS.filter((k) => !varying.includes(k) && rows.length > 0);
  const header = ["tag", ...varying, "params", "val loss", "best step", "steps", "seconds", "status"];
  const body = rows.map((r) => [
    r.tag,
    ...varying.map((k) => (r.config[k] === null ? "-" : String(r.config[k]))),
    r.params.toLocaleString("en-US"),
    Number.isFinite(r.bestValLoss) ? r.bestValLoss.toFixed(4) : "-",
    r.bestStep >= 0 ? String(r.bestStep) : "-",
    String(r.steps),
    r.seconds.toFixed(1),
    r.status + (r.status === "skipped" || r.status === "failed" ? ` (${r.message ?? ""})` : ""),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const numeric = new Set(["params", "val loss", "best step", "steps", "seconds", ...varying]);
  const line = (cols: string[]): string =>
    cols
      .map((c, i) => {
        const w = widths[i] as number;
        return numeric.has(header[i] as string) && i < cols.length - 1 ? c.padStart(w) : c.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  const first = rows[0];
  const lines: string[] = [];
  if (first && fixed.length > 0) {
    lines.push(
      "fixed: " + fixed.map((k) => `${k}=${first.config[k] === null ? "-" : String(first.config[k])}`).join(" "),
    );
  }
  lines.push(line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line));
  return lines.join("\n") + "\n";
}

/** Minimum, median and maximum of the best val losses of the rows that have one. */
export interface LossSpread {
  /** rows with a val loss */
  n: number;
  /** lowest best val loss */
  min: number;
  /** median best val loss (mean of the middle two for an even count) */
  median: number;
  /** highest best val loss */
  max: number;
}

/** The spread of best val losses over runs (the seed lottery's answer). */
export function lossSpread(rows: readonly GridRow[]): LossSpread {
  const v = rows
    .map((r) => r.bestValLoss)
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { n, min: NaN, median: NaN, max: NaN };
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { n, min: v[0] as number, median, max: v[n - 1] as number };
}

/** Messages a grid worker process sends. */
export type WorkerMessage =
  | { type: "progress"; tag: string; step: number; maxSteps: number }
  | { type: "result"; result: ExperimentResult }
  | { type: "error"; tag: string; message: string };

/** A job as sent to a worker process. */
export interface WorkerJob {
  /** the job */
  job: GridJob;
  /** the dataset name or path */
  input: string;
  /** lines longer than this are left out of the dataset */
  maxLineLength?: number;
  /** the backend to run on */
  backend?: BackendName;
  /** threads the job's kernels run on: the cores shared among the grid's workers */
  threads: number;
}

/** What happens during {@link runGrid}, for progress displays. */
export type GridEvent =
  | { type: "start"; job: GridJob }
  | { type: "progress"; tag: string; step: number; maxSteps: number }
  | { type: "done"; row: GridRow; done: number; total: number };

/** Options of {@link runGrid}. */
export interface GridOptions {
  /** the dataset: a registry name or a file path (each worker loads it) */
  input: string;
  /** lines longer than this are left out of the dataset */
  maxLineLength?: number;
  /** the jobs, from {@link planGrid} */
  jobs: readonly GridJob[];
  /** worker processes (default: one per core, at most one per job) */
  workers?: number;
  /** the backend each worker runs on (default: MAKEMORE_BACKEND, else the fastest) */
  backend?: BackendName;
  /** aborting it interrupts the running jobs (they stop after their current step and save) and cancels the rest */
  signal?: AbortSignal;
  /** sees starts, progress and finished rows */
  onEvent?: (event: GridEvent) => void;
}

/** Path of the worker script that {@link runGrid} forks (beside this file: the tree this code runs from). */
export const GRID_WORKER = path.join(__dirname, "grid-worker.ts");

/** One worker process per core by default. */
export function defaultWorkers(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

/**
 * Runs the jobs in worker processes and returns one row per job, in job
 * order (a job whose worker failed is a "failed" row, one never started
 * after an abort a "cancelled" row). Each worker is a separate Node process
 * running lib/experiments/grid-worker.ts, which trains one job at a time with
 * {@link runExperiment} and frees the model after each.
 */
export async function runGrid(options: GridOptions): Promise<GridRow[]> {
  const { jobs, signal, onEvent } = options;
  const rows = new Map<string, GridRow>();
  if (jobs.length === 0) return [];
  const count = Math.max(1, Math.min(options.workers ?? defaultWorkers(), jobs.length));
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.backend) env.MAKEMORE_BACKEND = options.backend;
  const pool: WorkerPool = {
    options,
    queue: [...jobs],
    children: [],
    env,
    threads: threadsPerProcess(count),
    finish: (row) => {
      rows.set(row.tag, row);
      onEvent?.({ type: "done", row, done: rows.size, total: jobs.length });
    },
  };
  const onAbort = (): void => {
    for (const c of pool.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGINT");
  };
  signal?.addEventListener("abort", onAbort);
  try {
    await Promise.all(Array.from({ length: count }, () => runWorker(pool)));
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return jobs.map((j) => {
    const row = rows.get(j.tag);
    if (row) return row;
    if (signal?.aborted) return emptyRow(j.tag, j.config, j.params, "cancelled");
    return { ...emptyRow(j.tag, j.config, j.params, "failed"), message: "not run: every worker process stopped" };
  });
}

/** What the worker processes of one grid share: the jobs left, the processes, and where rows go. */
interface WorkerPool {
  options: GridOptions;
  queue: GridJob[];
  children: ChildProcess[];
  env: NodeJS.ProcessEnv;
  /** each worker's threads: the cores divided among the workers, so that a grid does not oversubscribe them */
  threads: number;
  finish: (row: GridRow) => void;
}

/**
 * One worker process: it takes jobs from the pool until none is left (or the
 * grid is stopped), and a job it was running when it died gets a failed row
 * with its last line of stderr.
 */
function runWorker(pool: WorkerPool): Promise<void> {
  const { options, queue, finish } = pool;
  const { input, signal, onEvent } = options;
  return new Promise<void>((resolve) => {
    const child = fork(GRID_WORKER, [], {
      execArgv: ["--require", require.resolve("tsx/cjs")],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: pool.env,
    });
    pool.children.push(child);
    let stderr = "";
    child.stdout?.resume();
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-4000);
    });
    let current: GridJob | null = null;
    const next = (): void => {
      current = signal?.aborted ? null : (queue.shift() ?? null);
      if (!current) {
        if (child.connected) child.disconnect();
        return;
      }
      onEvent?.({ type: "start", job: current });
      const message: WorkerJob = {
        job: current,
        input,
        ...(options.maxLineLength === undefined ? {} : { maxLineLength: options.maxLineLength }),
        ...(options.backend ? { backend: options.backend } : {}),
        threads: pool.threads,
      };
      child.send(message);
    };
    child.on("message", (m: WorkerMessage) => {
      if (m.type === "progress") return onEvent?.(m);
      const job = current;
      if (!job) return;
      if (m.type === "result") finish(resultRow(m.result));
      else finish({ ...emptyRow(job.tag, job.config, job.params, "failed"), message: m.message });
      current = null;
      next();
    });
    child.on("exit", (code, sig) => {
      const job = current as GridJob | null;
      if (job) {
        const why = stderr.trim().split("\n").pop() || `the worker exited with ${sig ?? `code ${code}`}`;
        finish({ ...emptyRow(job.tag, job.config, job.params, "failed"), message: why });
        current = null;
      }
      resolve();
    });
    next();
  });
}

/** Hyperparameter help lines for grid files: each name, its flag, and what it sets. */
export function gridKeysHelp(): string {
  return HYPERPARAMETERS.map((h) => `  ${h.key.padEnd(12)} ${h.flag.padEnd(16)} ${h.help}`).join("\n");
}
