/**
 * Whether a net trains faster on its pool of threads or on this thread alone.
 *
 * A split call costs microseconds, and the rows it leaves in the other
 * core's cache cost the next unsplit kernel more to read: a model of small
 * calls in sequence (the recurrent cells' steps over 32 lines) runs slower on
 * 2 threads than on 1, while the transformer runs 1.7x faster. The kernels
 * give the same bits either way (kernel-calls.ts), so an engine can time real
 * training steps both ways and keep the faster: no step is wasted and no
 * result moves.
 *
 * @module
 */

/**
 * Steps of an engine at which a timing of its forward and backward passes starts: after a little
 * warm-up, and again once it has run a while (a first timing can fall in a slow spell of the
 * machine or while code still compiles).
 */
const STARTS = [2, 1000] as const;
/** Steps in a row of one kind; the kinds alternate so that a slow spell of the machine hits both. */
const RUN = 3;
/** Runs of each kind in a timing. */
const ROUNDS = 5;
/** Steps of a timing. */
const TIMED = 2 * RUN * ROUNDS;
/** This thread alone is kept only when it is faster by this factor (the pool's gain grows with the model). */
const MARGIN = 0.95;

/** What the choice switches: a net's kernel calls on its threads or on this one (graph-net.ts). */
export interface Threaded {
  threaded: boolean;
}

/** Times training steps of a net threaded and not, at {@link STARTS}, and keeps the faster way between. */
export class ThreadChoice {
  private steps = 0;
  private took = { on: [] as number[], off: [] as number[] };
  private chosen: boolean | null = null;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** true: the pool's threads; false: this thread alone; null: before the first timing ends (threaded) */
  get choice(): boolean | null {
    return this.chosen;
  }

  /** Runs `step` on `net` threaded or not, as the choice or a timing says, and times it during a timing. */
  time<T>(net: Threaded, step: () => T): T {
    const s = this.steps++;
    const i = s - (s >= STARTS[1] ? STARTS[1] : STARTS[0]); // step of the current timing
    if (i < 0 || i >= TIMED) {
      net.threaded = this.chosen ?? true;
      return step();
    }
    const on = Math.floor(i / RUN) % 2 === 0;
    net.threaded = on;
    const start = this.clock();
    const out = step();
    (on ? this.took.on : this.took.off).push(this.clock() - start);
    if (i + 1 === TIMED) this.choose(net);
    return out;
  }

  private choose(net: Threaded): void {
    this.chosen = !(median(this.took.off) < MARGIN * median(this.took.on));
    this.took = { on: [], off: [] };
    net.threaded = this.chosen;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}
