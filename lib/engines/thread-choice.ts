/**
 * Whether a net trains faster on its pool of threads or on this thread alone.
 *
 * A split call costs microseconds, and the rows it leaves in the other
 * core's cache cost the next unsplit kernel more to read: a model of small
 * calls in sequence (the recurrent cells' steps over 32 lines) runs slower on
 * 2 threads than on 1, while the transformer runs 1.6x faster. The kernels
 * give the same bits either way (kernel-calls.ts), so an engine can time its
 * first real training steps both ways and keep the faster: no step is wasted
 * and no result moves.
 *
 * @module
 */

/** Steps run threaded before the timing starts (the first ones lay out caches and compile). */
const WARMUP = 2;
/** Steps in a row of one kind; the kinds alternate so that a slow spell of the machine hits both. */
const RUN = 3;
/** Runs of each kind timed. */
const ROUNDS = 5;
/** This thread alone is kept only when it is faster by this factor (the pool's gain grows with the model). */
const MARGIN = 0.95;

/** What the choice switches: a net's kernel calls on its threads or on this one (graph-net.ts). */
export interface Threaded {
  threaded: boolean;
}

/** Times the first training steps of a net threaded and not, then keeps the faster. */
export class ThreadChoice {
  private steps = 0;
  private readonly took = { on: [] as number[], off: [] as number[] };
  /** true: the pool's threads; false: this thread alone; null: still timing */
  choice: boolean | null = null;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Runs `step` on `net` threaded or not, as the timing schedule says, and records how long it took. */
  time<T>(net: Threaded, step: () => T): T {
    if (this.choice !== null) return step();
    const i = this.steps++ - WARMUP;
    const on = i < 0 || Math.floor(i / RUN) % 2 === 0;
    net.threaded = on;
    const start = this.clock();
    const out = step();
    if (i >= 0) (on ? this.took.on : this.took.off).push(this.clock() - start);
    if (i + 1 === 2 * RUN * ROUNDS) this.choose(net);
    return out;
  }

  private choose(net: Threaded): void {
    this.choice = !(median(this.took.off) < MARGIN * median(this.took.on));
    net.threaded = this.choice;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}
