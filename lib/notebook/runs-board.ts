/**
 * A live table of several training runs, one row each, updated in place while
 * they train one after the other (or side by side): what a notebook shows
 * instead of a progress line per run. Its callbacks plug into
 * `runExperiment`'s `onStart` and `onProgress`.
 *
 * @module
 */
import { liveDisplay, tableCells, tableHtml, tableText, type TableRecord } from "./display";
import { formatDuration } from "./progress";

/** What the board reads of a run's start (runExperiment's `ExperimentStart`). */
export interface RunStartLike {
  params: number;
  engine: string;
}

/** What the board reads of a run's progress (runExperiment's `ExperimentProgress`). */
export interface RunProgressLike {
  step: number;
  maxSteps: number;
  loss: number;
  bestValLoss: number;
  stepsPerSecond: number;
  finished: boolean;
}

/** The callbacks of one run. */
export interface RunCallbacks {
  onStart(info: RunStartLike): void;
  onProgress(p: RunProgressLike): void;
}

/** See the module comment. */
export interface RunsBoard {
  /** the callbacks that report the run `name` (one of the board's names) */
  track(name: string): RunCallbacks;
  /** the table as text, as it stands */
  text(): string;
}

/** Options of {@link runsBoard}. */
export interface RunsBoardOptions {
  /** what the held-out split is called in the header (default "val") */
  valName?: string;
  /** outside a notebook, print at most one line this often (default 5 s) */
  minIntervalMs?: number;
}

/** A number rounded for the table; a missing or non-finite one stays empty. */
const round = (v: number, digits: number): number | null => (Number.isFinite(v) ? Number(v.toFixed(digits)) : null);

/** The status column: waiting, the time left, or the time the run took. */
function status(p: RunProgressLike | undefined): string {
  if (!p) return "waiting";
  const rate = p.stepsPerSecond > 0 ? p.stepsPerSecond : NaN;
  return p.finished ? "done" : `${formatDuration((p.maxSteps - p.step) / rate)} left`;
}

/**
 * A live table of the runs `names` (see the module comment).
 * @example
 * const board = runsBoard(["gru", "transformer"], { valName: "test" });
 * for (const model of ["gru", "transformer"])
 *   await runExperiment({ config: { model }, words, outDir: `runs/${model}`, ...board.track(model) });
 */
export function runsBoard(names: readonly string[], options: RunsBoardOptions = {}): RunsBoard {
  const { valName = "val", minIntervalMs = 5000 } = options;
  const live = liveDisplay(minIntervalMs);
  const starts = new Map<string, RunStartLike>();
  const progress = new Map<string, RunProgressLike>();
  const row = (name: string): TableRecord => {
    const p = progress.get(name);
    return {
      run: name,
      parameters: starts.get(name)?.params,
      engine: starts.get(name)?.engine,
      step: p ? `${p.step}/${p.maxSteps}` : "",
      loss: round(p?.loss ?? NaN, 4),
      [`best ${valName}`]: round(p?.bestValLoss ?? NaN, 4),
      "steps/s": round(p?.stepsPerSecond ?? NaN, 1),
      status: status(p),
    };
  };
  const cells = () => tableCells(names.map(row));
  const draw = (name: string): void => {
    const line = tableText(tableCells([row(name)])).split("\n")[1] ?? name;
    live.html(tableHtml(cells()), line.trim());
  };
  const known = (name: string): string => {
    if (!names.includes(name)) throw new RangeError(`no run '${name}' on this board: ${names.join(", ")}`);
    return name;
  };
  return {
    track: (name) => ({
      onStart: (info) => void (starts.set(known(name), info), draw(name)),
      onProgress: (p) => void (progress.set(known(name), p), draw(name)),
    }),
    text: () => tableText(cells()),
  };
}
