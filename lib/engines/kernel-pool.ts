/**
 * The kernels on several cores: a pool of worker threads (kernel-worker.js),
 * each instantiating the kernels' module on the same shared memories as this
 * thread. A kernel call is split into parts (kernel-calls.ts decides how,
 * from the problem's shape alone): this thread queues parts 1.. for the
 * workers in a shared control block (a ring of calls per worker, run in
 * order), runs part 0 itself, and waits for the others with Atomics (a short
 * spin first: most calls take microseconds), after each call or, for a chain
 * of row-local calls, once after the chain. A part that its worker has not
 * taken yet when this thread waits for it (the worker is asleep, or its core
 * busy with another process) this thread takes and runs itself: whoever runs
 * it, a part is the same part.
 *
 * The kernels keep no state but their constants, and each part writes its
 * own rows of the output, so a split changes no bits where the kernel sums
 * every output element in one order (see wasm/README.md).
 *
 * @module
 */
import * as os from "os";
import * as path from "path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "worker_threads";
import type { KernelExports, KernelModule } from "./kernels";

/**
 * A worker's slot of the control block: four int32 words, then a ring of {@link DEPTH} calls
 * from byte 64. The words: the last call posted, the last call done (by whoever ran it), a
 * failure flag, and the last call taken (by the worker or by this thread: whoever swaps it first).
 */
const [GO, DONE, FAILED, TAKEN] = [0, 1, 2, 3];
/**
 * Calls a worker may have queued: the calls that go on with the rows their part wrote
 * (kernel-calls.ts chains them) are posted without waiting for the last one to end.
 */
const DEPTH = 16;
/** Bytes of a call in the ring: the kernel and the memory (int32), then float64 arguments from byte 8. */
const ENTRY_BYTES = 256;
/** Bytes of a slot: its words, then the ring. */
const SLOT_BYTES = 64 + DEPTH * ENTRY_BYTES;
/** float64 arguments a call may have (kernel-worker.js keeps an argument array per count up to it; 8 + 28 · 8 ≤ ENTRY_BYTES). */
const MAX_ARGS = 28;
/** Op codes besides the kernels' indices (kernel-worker.js). */
const [ATTACH, STOP] = [-1, -2];
/**
 * Bounds of the join's spin before it sleeps, in iterations (about 5 ns each: 0.5 to 100 µs).
 * The join adapts within them: twice as long after a spin that caught its event, half after one
 * that did not (on a machine busy with other processes the worker is often not running, and a
 * long spin only keeps this thread from running the part itself). Timing moves only the speed:
 * the parts are fixed by the call.
 */
const SPIN = { min: 100, max: 20000 };
/**
 * Iterations a worker spins for its next call before it sleeps: about 100 µs, every time. The
 * calls a step runs whole here (a batch norm, a tanh) keep the worker waiting tens of
 * microseconds, and a worker that went to sleep then is woken by the next split call late: with
 * the worker's spin adapted like the join's, the hierarchical net's step on 2 threads took 925 µs
 * against 630 µs with this fixed spin (1 thread: 730 µs). A spinning worker only takes its own core.
 */
const WORKER_SPIN = 20000;

/** Workers of every pool that have started and not exited yet. */
let liveWorkers = 0;

/** Worker threads of every pool that are still running (a disposed pool's end soon after). */
export function kernelWorkers(): number {
  return liveWorkers;
}

/** The threads a run uses when none are asked for: every core. */
export function defaultThreads(): number {
  return os.availableParallelism();
}

/** Threads each of `processes` processes takes so that together they do not oversubscribe `cores`: at least 1. */
export function threadsPerProcess(processes: number, cores = defaultThreads()): number {
  return Math.max(1, Math.floor(cores / processes));
}

/** `threads` checked: a whole number from 1 (one line saying what is wrong otherwise). */
export function checkThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`threads must be a whole number of at least 1, got ${String(threads)}`);
  }
  return threads;
}

/** Worker threads that run parts of kernel calls on shared kernel memories. */
export class KernelPool {
  /** threads a call may be split over: this one and the workers */
  readonly threads: number;
  private readonly workers: Worker[];
  private readonly ports: MessagePort[];
  private readonly words: Int32Array;
  private readonly args: Float64Array;
  private readonly memories = new Map<object, number>();
  /** the kernels' names, indexed as the workers index them (set by the first memory attached) */
  private names: string[] = [];
  /** per worker: the last call posted to it, and the last one known done */
  private readonly posted: Int32Array;
  private readonly joined: Int32Array;
  /** iterations of the next join's spin (see {@link SPIN}) */
  private spin = SPIN.min;
  private disposed = false;
  /** the message of a worker's call that failed when this thread ran it */
  private failedHere: string | null = null;
  /** joins that found calls to wait for (a chain of row-local calls waits once) */
  joins = 0;
  /** parts of the workers' that this thread ran because no worker had taken them yet */
  takenHere = 0;

  /** Starts `threads - 1` workers (none for 1). */
  constructor(threads: number) {
    this.threads = checkThreads(threads);
    const control = new SharedArrayBuffer(SLOT_BYTES * threads);
    this.words = new Int32Array(control);
    this.args = new Float64Array(control);
    this.posted = new Int32Array(threads);
    this.joined = new Int32Array(threads);
    this.ports = [];
    this.workers = [];
    for (let slot = 1; slot < threads; slot++) {
      const { port1, port2 } = new MessageChannel();
      const data = { control, slot, port: port2, spin: WORKER_SPIN, layout: { SLOT_BYTES, DEPTH, ENTRY_BYTES } };
      const worker = new Worker(path.join(__dirname, "kernel-worker.js"), { workerData: data, transferList: [port2] });
      worker.unref(); // a pool nobody disposed does not keep the process alive
      liveWorkers++;
      worker.once("exit", () => liveWorkers--);
      port1.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /**
   * The kernels of `mem` as parts of calls see them: the workers instantiate
   * its module on its memory (once per memory); `k` is this thread's instance.
   */
  attach(mem: KernelModule, k: KernelExports): KernelThreads {
    let id = this.memories.get(mem.memory);
    if (id === undefined) {
      id = this.memories.size;
      this.memories.set(mem.memory, id);
      if (this.names.length === 0) this.names = kernelNames(k);
      const message = { id, module: mem.module, memory: mem.memory, names: this.names };
      for (const port of this.ports) port.postMessage(message);
      for (let part = 1; part < this.threads; part++) this.start(part, id, ATTACH, [], null);
      this.join(null);
    }
    return new KernelThreads(this, id, this.names, k);
  }

  /**
   * Queues op `op` on memory `memory` with `args` for worker `part` (1 ≤ part < threads), behind
   * the calls it has not finished yet; when its ring is full, first waits for the oldest (running
   * it here, with `local`, if the worker has not taken it).
   */
  start(part: number, memory: number, op: number, args: ArrayLike<number>, local: readonly Kernel[] | null): void {
    if (this.disposed) throw new Error("the kernel pool is disposed");
    if (args.length > MAX_ARGS) throw new RangeError(`a kernel call of ${args.length} arguments`);
    const call = (this.posted[part] as number) + 1;
    if (call - DEPTH > (this.joined[part] as number)) this.joinPart(part, call - DEPTH, local);
    const at = entry(part, call);
    this.words[at / 4] = op;
    this.words[at / 4 + 1] = memory;
    this.args.set(args, at / 8 + 1);
    this.posted[part] = call;
    const go = part * (SLOT_BYTES / 4) + GO;
    Atomics.store(this.words, go, call);
    Atomics.notify(this.words, go);
  }

  /** Whether a call started on a worker may not have ended yet. */
  get busy(): boolean {
    for (let part = 1; part < this.threads; part++) if (this.posted[part] !== this.joined[part]) return true;
    return false;
  }

  /**
   * Waits until every call started is done, running here, in each worker's order, those of
   * kernel calls (`local`: this thread's kernels, by the workers' index) no worker has taken yet.
   * @throws Error with a worker's message when a part failed.
   */
  join(local: readonly Kernel[] | null): void {
    let failure: string | null = null;
    if (this.busy) this.joins++;
    for (let part = 1; part < this.threads; part++) {
      if (this.posted[part] === this.joined[part]) continue;
      this.joinPart(part, this.posted[part] as number, local);
      failure ??= this.failure(part);
    }
    failure ??= this.failedHere;
    this.failedHere = null;
    if (failure !== null) throw new Error(`kernel thread: ${failure}`);
  }

  /**
   * Waits until worker `part` has done its calls up to `last`, taking each one it has not taken
   * yet (the call before it is done then: a worker's calls run in order, whoever runs them).
   */
  private joinPart(part: number, last: number, local: readonly Kernel[] | null): void {
    const base = part * (SLOT_BYTES / 4);
    for (let call = (this.joined[part] as number) + 1; call <= last; call++) {
      if (Atomics.load(this.words, base + DONE) >= call) continue;
      const op = this.words[entry(part, call) / 4] as number;
      if (local && op >= 0 && take(this.words, base + TAKEN, call)) {
        this.runHere(local[op] as Kernel, part, call);
        Atomics.store(this.words, base + DONE, call);
        Atomics.notify(this.words, base + DONE); // the worker waits for it before its next call
        this.takenHere++;
        continue;
      }
      this.waitDone(base + DONE, call);
    }
    this.joined[part] = last;
  }

  /** Waits until words[done] reaches `call`: a spin first, adapted within {@link SPIN}, then a sleep. */
  private waitDone(done: number, call: number): void {
    let s = this.spin;
    for (; s > 0 && Atomics.load(this.words, done) < call; s--);
    this.spin = s > 0 ? Math.min(SPIN.max, 2 * this.spin) : Math.max(SPIN.min, this.spin >> 1);
    for (let seen = Atomics.load(this.words, done); seen < call; seen = Atomics.load(this.words, done)) {
      Atomics.wait(this.words, done, seen);
    }
  }

  /** Stops the workers (the memories stay with their owners). */
  dispose(): void {
    for (let part = 1; part < this.threads; part++) this.start(part, 0, STOP, [], null);
    this.disposed = true;
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
    this.workers.length = 0;
  }

  /** Runs call `call` of worker `part` on this thread; a failure's message waits for the join. */
  private runHere(kernel: Kernel, part: number, call: number): void {
    const at = entry(part, call) / 8 + 1;
    try {
      kernel(...this.args.subarray(at, at + kernel.length));
    } catch (e) {
      this.failedHere ??= (e as Error).message;
    }
  }

  /** A worker's failure message, or null. */
  private failure(part: number): string | null {
    const flag = part * (SLOT_BYTES / 4) + FAILED;
    if (this.words[flag] === 0) return null;
    this.words[flag] = 0;
    const got = receiveMessageOnPort(this.ports[part - 1] as MessagePort);
    return got ? String(got.message) : "a worker failed";
  }
}

/** Byte offset of call `call`'s entry in worker `part`'s ring. */
function entry(part: number, call: number): number {
  return part * SLOT_BYTES + 64 + (call % DEPTH) * ENTRY_BYTES;
}

/** A kernel of an instance, called with numbers. */
type Kernel = (...args: number[]) => unknown;

/**
 * Takes call `call` of a slot whose last taken call is at words[at]: true for the one thread
 * (this one or the slot's worker, kernel-worker.js does the same) that swaps it in first.
 */
function take(words: Int32Array, at: number, call: number): boolean {
  for (let t = Atomics.load(words, at); t < call; t = Atomics.load(words, at)) {
    if (Atomics.compareExchange(words, at, t, call) === t) return true;
  }
  return false;
}

/** One memory's kernels on a pool: what kernel-calls.ts splits its calls with. */
export class KernelThreads {
  /** this thread's kernels, by the workers' index */
  private readonly local: Kernel[];

  constructor(
    private readonly pool: KernelPool,
    private readonly memory: number,
    private readonly names: readonly string[],
    k: KernelExports,
  ) {
    this.local = names.map((n) => (k as unknown as Record<string, Kernel>)[n] as Kernel);
  }

  /** threads a call may be split over */
  get threads(): number {
    return this.pool.threads;
  }

  /** The index the workers know kernel `name` by. */
  op(name: keyof KernelExports): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`no kernel ${name}`);
    return i;
  }

  /** Queues kernel `op` with `args` for worker `part` (1 ≤ part < threads). */
  start(part: number, op: number, args: ArrayLike<number>): void {
    this.pool.start(part, this.memory, op, args, this.local);
  }

  /** Waits for every part started (running here those no worker has taken yet). */
  join(): void {
    this.pool.join(this.local);
  }
}

/** The exported functions of an instance, in a fixed order. */
function kernelNames(k: KernelExports): string[] {
  const exports = k as unknown as Record<string, unknown>;
  return Object.keys(exports)
    .filter((n) => typeof exports[n] === "function")
    .sort();
}
