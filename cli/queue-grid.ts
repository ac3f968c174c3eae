/**
 * `makemore grid --queue URL` and `makemore lottery --queue URL`: the same
 * search as a local grid, with its runs trained by `makemore worker`
 * processes anywhere. The command enqueues, follows the queue with a
 * progress display, and writes the runs' folders and results.csv from what
 * the workers send back. Ctrl-C detaches (the jobs go on; the same command
 * attaches again); --cancel cancels.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { BackendName } from "../lib/runtime/backend";
import type { Dataset } from "../lib/data/datasets";
import type { GridRow } from "../lib/experiments/grid";
import { ConfigError } from "../lib/experiments/hyperparams";
import { searchIdOf, type QueueConnection } from "../lib/experiments/queue";
import {
  cancelSearch,
  enqueueSearch,
  followSearch,
  readSearchState,
  Search,
  SEARCH_FILE,
  type SearchEvent,
  type SearchPlan,
  type SearchStatus,
} from "../lib/experiments/queue-search";
import { formatDuration } from "../lib/notebook/progress";
import { EXIT, fmtLoss, signalExit, withInterrupt, type Io, type StopSignalName } from "./common";

/** What the queued grid needs from the grid command. */
export interface QueuedGrid {
  /** the queue, connected */
  conn: QueueConnection;
  /** --cancel */
  cancel: boolean;
  /** the dataset as given (-i) and as loaded */
  input: string;
  data: Dataset;
  /** the output folder (the caller holds its lock) */
  out: string;
  /** the planned search (deterministic ids and tags) */
  plan: SearchPlan;
  /** --force */
  force: boolean;
  /** --backend */
  backend?: BackendName;
  /** --max-line-length (workers that load a registry dataset leave out the same lines) */
  maxLineLength?: number;
}

/** How a queued search ended: its rows, whether every job has one, and the signal that detached it. */
export interface QueuedResult {
  rows: GridRow[];
  complete: boolean;
  stoppedBy: StopSignalName | null;
}

/**
 * Refuses an output folder that holds the results of another search or of a
 * local grid (unless --force); the same search's folder is attached to.
 * --cancel needs the search's own folder.
 */
function checkSearchFolder(grid: QueuedGrid): void {
  const results = path.join(grid.out, "results.csv");
  const state = readSearchState(grid.out);
  const same = state?.searchId === searchIdOf(grid.out, grid.input);
  if (grid.cancel && !same) {
    throw new ConfigError(`there is no search of this grid in ${grid.out} to cancel (no ${SEARCH_FILE} of it)`);
  }
  if (fs.existsSync(results) && !same && !grid.force) {
    throw new ConfigError(`${grid.out} already holds results (results.csv); use --force to replace them`);
  }
  if (!same && grid.force) fs.rmSync(path.join(grid.out, SEARCH_FILE), { force: true });
}

/**
 * Runs a grid or lottery on the queue and returns the rows of results.csv,
 * whether the search is complete (false after Ctrl-C or --cancel) and the
 * signal that detached it.
 */
export async function runQueuedGrid(io: Io, grid: QueuedGrid): Promise<QueuedResult> {
  checkSearchFolder(grid);
  const { conn } = grid;
  const search = new Search(conn, grid.plan, grid.input);
  // a signal before the follow loop starts still detaches cleanly
  const early = new AbortController();
  let stoppedBy: StopSignalName | null = null;
  const onEarly = (signal: StopSignalName): void => {
    stoppedBy = signal;
    early.abort();
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, onEarly);
  try {
    if (grid.cancel) return { rows: await cancelled(io, search), complete: false, stoppedBy };
    const pending = await enqueueSearch(search, {
      input: grid.input,
      words: grid.data.words,
      ...(grid.backend ? { backend: grid.backend } : {}),
      ...(grid.maxLineLength === undefined ? {} : { maxLineLength: grid.maxLineLength }),
    });
    const total = grid.plan.jobs.length;
    io.err(
      `queue: search ${grid.plan.searchId} on ${conn.shown}: ${pending} of ${total} runs queued or running` +
        (pending < total ? ` (${total - pending} already collected)` : "") +
        `; start workers with: makemore worker --queue ${conn.shown}\n`,
    );
    const followed = await follow(io, search, conn, early.signal);
    return { rows: search.writeResults(), complete: followed.complete, stoppedBy: followed.stoppedBy ?? stoppedBy };
  } catch (e) {
    throw new Error(conn.scrub((e as Error).message));
  } finally {
    for (const s of signals) process.removeListener(s, onEarly);
    await search.close();
  }
}

async function cancelled(io: Io, search: Search): Promise<GridRow[]> {
  const rows = await cancelSearch(search);
  const n = rows.filter((r) => r.status === "cancelled").length;
  io.err(`queue: search ${search.plan.searchId} cancelled: ${n} run${n === 1 ? "" : "s"} will not run\n`);
  return rows;
}

async function follow(
  io: Io,
  search: Search,
  conn: QueueConnection,
  early: AbortSignal,
): Promise<{ complete: boolean; stoppedBy: StopSignalName | null }> {
  const controller = new AbortController();
  if (early.aborted) controller.abort();
  else early.addEventListener("abort", () => controller.abort(), { once: true });
  const display = queueDisplay(io, search.plan.jobs.length);
  let complete = false;
  let stoppedBy: StopSignalName | null = null;
  try {
    complete = await withInterrupt(
      io,
      (signal) => {
        stoppedBy = signal;
        controller.abort();
      },
      () => followSearch(search, { signal: controller.signal, onEvent: (e) => display.event(e) }),
    );
  } finally {
    display.stop();
  }
  if (!complete) {
    io.err(
      `queue: detached; the workers go on. Attach again with the same command, ` +
        `or cancel with --cancel (queue ${conn.shown})\n`,
    );
  }
  return { complete, stoppedBy };
}

/** One line of counts, the best run so far and the time left. */
export function statusLine(s: SearchStatus): string {
  const best = s.best ? `${fmtLoss(s.best.bestValLoss)} (${s.best.tag})` : "-";
  const eta = s.etaSeconds === null ? "?" : formatDuration(s.etaSeconds);
  return `queued ${s.queued}, running ${s.running}, done ${s.done}, failed ${s.failed} of ${s.total} | best val ${best} | eta ${eta}`;
}

function doneLine(row: GridRow, worker: string, n: number, total: number): string {
  return (
    `[${n}/${total}] ${row.tag} ${row.status}: best val ${fmtLoss(row.bestValLoss)} ` +
    `(${row.steps} steps, ${row.seconds.toFixed(1)} s${row.status === "failed" ? "" : `, ${worker}`})` +
    (row.message ? ` ${row.message}` : "")
  );
}

interface QueueDisplay {
  event(e: SearchEvent): void;
  stop(): void;
}

/** A bar with the counts on a terminal; otherwise a line per finished run and per change of the counts. */
function queueDisplay(io: Io, total: number): QueueDisplay {
  let finished = 0;
  if (!io.errIsTTY) {
    let last = "";
    return {
      event(e) {
        if (e.type === "done") io.err(doneLine(e.row, e.worker, ++finished, total) + "\n");
        else {
          const counts = statusLine(e.status).split(" | ")[0] as string;
          if (counts !== last) io.err(`queue: ${statusLine(e.status)}\n`);
          last = counts;
        }
      },
      stop: () => undefined,
    };
  }
  const multi = new MultiBar(
    { stream: process.stderr, format: "runs [{bar}] {value}/{total} | {status}", hideCursor: true, fps: 2 },
    Presets.shades_classic,
  );
  const bar: SingleBar = multi.create(total, 0, { status: "" });
  return {
    event(e) {
      if (e.type === "done") multi.log(doneLine(e.row, e.worker, ++finished, total) + "\n");
      else bar.update(e.status.done + e.status.failed, { status: statusLine(e.status) });
    },
    stop: () => multi.stop(),
  };
}

/** The exit code of a queued search (as a local grid: failed runs are an error; detached is the signal's code). */
export function queuedExitCode(result: QueuedResult, io: Io): number {
  const { rows, complete } = result;
  if (!complete) return signalExit(result.stoppedBy);
  const failed = rows.filter((r) => r.status === "failed");
  if (failed.length > 0) {
    io.err(`makemore: error: ${failed.length} run${failed.length === 1 ? "" : "s"} failed: ${failed[0]?.message}\n`);
    return EXIT.error;
  }
  return EXIT.ok;
}
