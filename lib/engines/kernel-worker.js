// @ts-check
/**
 * One worker thread of a kernel pool (lib/engines/kernel-pool.ts): plain
 * JavaScript, so that it starts the same under tsx, jest and tslab. It
 * instantiates the kernels' module on each shared memory it is given, then
 * waits on its slot of the pool's control block for calls: the kernel's
 * index and its arguments, written by the main thread. It answers each call
 * by storing the call's number in the slot's `done` word.
 *
 * Slot layout (the pool's SLOT_* constants): int32 words [go, done, op,
 * memory, failed, taken], then float64 arguments from byte 32. A call the
 * main thread has taken (swapped its number into `taken` first) is answered
 * without running it: the main thread ran it.
 */
"use strict";
const { workerData, receiveMessageOnPort } = require("worker_threads");

/** @typedef {(...args: number[]) => number} Kernel */

/**
 * What the pool hands each worker: the control block, its slot, its port, and how long it spins
 * for a call before it sleeps (iterations: about 5 ns each; kernel-pool.ts's WORKER_SPIN).
 * @type {{control: SharedArrayBuffer, slot: number, port: import("worker_threads").MessagePort, spin: number}}
 */
const { control, slot, port, spin } = workerData;

// the global WebAssembly API, typed by hand: the project's TypeScript setup has no DOM library
const wasm = /** @type {{Instance: new (m: object, i: object) => {exports: Record<string, unknown>}}} */ (
  /** @type {unknown} */ (/** @type {Record<string, unknown>} */ (globalThis).WebAssembly)
);

const words = new Int32Array(control);
const args = new Float64Array(control);
const GO = slot * 64;
const DONE = GO + 1;
const OP = GO + 2;
const MEMORY = GO + 3;
const FAILED = GO + 4;
const TAKEN = GO + 5;
const ARGS = slot * 32 + 4;
/** op codes below the kernels' indices */
const ATTACH = -1;
const STOP = -2;
/** a call the main thread took (and ran) itself */
const SKIP = -3;

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
 * Runs kernel `op` of the slot's memory on the slot's arguments.
 * @param {number} op
 */
function call(op) {
  const fn = /** @type {Kernel} */ (kernels[/** @type {number} */ (words[MEMORY])]?.[op]);
  const a = /** @type {number[]} */ (argv[fn.length]);
  for (let i = 0; i < a.length; i++) a[i] = /** @type {number} */ (args[ARGS + i]);
  fn.apply(null, a);
}

/**
 * Waits for the next call after `seen`: a spin first (the calls of a step come microseconds
 * apart), then a sleep.
 * @param {number} seen
 */
function next(seen) {
  for (let s = spin; s > 0 && Atomics.load(words, GO) === seen; s--);
  while (Atomics.load(words, GO) === seen) Atomics.wait(words, GO, seen);
  return Atomics.load(words, GO);
}

function serve() {
  for (let seen = 0; ;) {
    seen = next(seen);
    // taken first, then read: once the call is ours the main thread waits for it and writes no other
    const op = take(seen) ? /** @type {number} */ (words[OP]) : SKIP;
    if (op === STOP) return;
    try {
      if (op === ATTACH) attach();
      else if (op !== SKIP) call(op);
    } catch (e) {
      words[FAILED] = 1;
      port.postMessage(String(/** @type {Error} */ (e).message ?? e));
    }
    Atomics.store(words, DONE, seen);
    Atomics.notify(words, DONE);
  }
}

serve();
