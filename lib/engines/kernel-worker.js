// @ts-check
/**
 * One worker thread of a kernel pool (lib/engines/kernel-pool.ts): plain
 * JavaScript, so that it starts the same under tsx, jest and tslab. It
 * instantiates the kernels' module on each shared memory it is given, then
 * waits on its slot of the pool's control block for calls: the kernel's
 * index and its arguments, written by the main thread. It answers each call
 * by storing the call's number in the slot's `done` word.
 *
 * Slot layout (the pool's constants, handed over as `layout`): int32 words
 * [go, done, failed, taken], then from byte 64 a ring of calls, each the
 * kernel's index and the memory (int32) and float64 arguments from its byte 8.
 * Calls are numbered 1, 2, ... per worker; `go` is the last one posted. The
 * worker runs them in order. A call the main thread has taken (swapped its
 * number into `taken` first) it leaves to the main thread, and waits for its
 * `done` before the next: the next call may read the rows that one writes.
 */
"use strict";
const { workerData, receiveMessageOnPort } = require("worker_threads");

/** @typedef {(...args: number[]) => number} Kernel */

/**
 * What the pool hands each worker: the control block, its slot, its port, how long it spins
 * for a call before it sleeps (iterations: about 5 ns each; kernel-pool.ts's WORKER_SPIN), and
 * the slots' layout.
 * @type {{control: SharedArrayBuffer, slot: number, port: import("worker_threads").MessagePort, spin: number,
 *   layout: {SLOT_BYTES: number, DEPTH: number, ENTRY_BYTES: number}}}
 */
const { control, slot, port, spin, layout } = workerData;

// the global WebAssembly API, typed by hand: the project's TypeScript setup has no DOM library
const wasm = /** @type {{Instance: new (m: object, i: object) => {exports: Record<string, unknown>}}} */ (
  /** @type {unknown} */ (/** @type {Record<string, unknown>} */ (globalThis).WebAssembly)
);

const words = new Int32Array(control);
const args = new Float64Array(control);
const { SLOT_BYTES, DEPTH, ENTRY_BYTES } = layout;
const GO = (slot * SLOT_BYTES) / 4;
const DONE = GO + 1;
const FAILED = GO + 2;
const TAKEN = GO + 3;
/** op codes below the kernels' indices */
const ATTACH = -1;
const STOP = -2;

/** The kernels of each memory, by memory id, then by the pool's kernel index. */
/** @type {Kernel[][]} */
const kernels = [];
/** One argument array per arity, 0 to the pool's MAX_ARGS (28), reused. */
const argv = Array.from({ length: 29 }, (_, n) => new Array(n).fill(0));

/** Instantiates the module the pool posted on its memory. */
function attach() {
  const got = receiveMessageOnPort(port);
  if (!got) throw new Error("kernel worker: no memory was posted");
  const { id, module, memory, names } = /** @type {{id: number, module: object, memory: object, names: string[]}} */ (
    got.message
  );
  const abort = () => {
    throw new Error("fused kernel aborted");
  };
  const inst = new wasm.Instance(module, { env: { memory, abort } });
  kernels[id] = names.map((n) => /** @type {Kernel} */ (inst.exports[n]));
}

/**
 * Takes call `call` unless the main thread took it first.
 * @param {number} call
 */
function take(call) {
  for (let t = Atomics.load(words, TAKEN); t < call; t = Atomics.load(words, TAKEN)) {
    if (Atomics.compareExchange(words, TAKEN, t, call) === t) return true;
  }
  return false;
}

/**
 * Byte offset of call `call`'s entry in this worker's ring.
 * @param {number} call
 */
function entry(call) {
  return slot * SLOT_BYTES + 64 + (call % DEPTH) * ENTRY_BYTES;
}

/**
 * Runs call `call`: kernel `op` of its memory on its arguments.
 * @param {number} call
 * @param {number} op
 */
function run(call, op) {
  const at = entry(call);
  const fn = /** @type {Kernel} */ (kernels[/** @type {number} */ (words[at / 4 + 1])]?.[op]);
  const a = /** @type {number[]} */ (argv[fn.length]);
  for (let i = 0; i < a.length; i++) a[i] = /** @type {number} */ (args[at / 8 + 1 + i]);
  fn.apply(null, a);
}

/**
 * Waits until words[at] reaches `value`: a spin first (the calls of a step come microseconds
 * apart), then a sleep.
 * @param {number} at
 * @param {number} value
 */
function reach(at, value) {
  for (let s = spin; s > 0 && Atomics.load(words, at) < value; s--);
  for (let seen = Atomics.load(words, at); seen < value; seen = Atomics.load(words, at)) Atomics.wait(words, at, seen);
}

function serve() {
  for (let call = 1; ; call++) {
    reach(GO, call);
    // taken first, then read: once the call is ours the main thread waits for it
    if (!take(call)) {
      reach(DONE, call); // the main thread runs it
      continue;
    }
    const op = /** @type {number} */ (words[entry(call) / 4]);
    if (op === STOP) return;
    try {
      if (op === ATTACH) attach();
      else run(call, op);
    } catch (e) {
      words[FAILED] = 1;
      port.postMessage(String(/** @type {Error} */ (e).message ?? e));
    }
    Atomics.store(words, DONE, call);
    Atomics.notify(words, DONE);
  }
}

serve();
