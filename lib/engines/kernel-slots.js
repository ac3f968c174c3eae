// @ts-check
/**
 * The control block a kernel pool (kernel-pool.ts) and its workers
 * (kernel-worker.js) share: one slot per thread, its layout and the
 * compare-and-swap that decides who runs a part. Plain JavaScript, so that a
 * worker thread loads it under tsx, jest and tslab alike.
 */
"use strict";

/** Bytes of one worker's slot: int32 words, then float64 arguments from byte 32. */
const SLOT_BYTES = 256;

/**
 * int32 words of a slot, from its first: the call's number, the last call answered, the kernel,
 * the memory, a failure flag, and the last call taken (by the worker or by the calling thread:
 * whoever swaps it in first).
 */
const WORD = Object.freeze({ GO: 0, DONE: 1, OP: 2, MEMORY: 3, FAILED: 4, TAKEN: 5 });

/** The first float64 argument of a slot (in float64s from the slot's start), and how many fit. */
const ARGS = 4;
const MAX_ARGS = 28;

/** Op codes below the kernels' indices: instantiate a posted memory's kernels, stop. */
const ATTACH = -1;
const STOP = -2;

/**
 * Takes call `call` of a slot whose last taken call is at words[at]: true for the one thread (the
 * calling thread or the slot's worker) that swaps it in first.
 * @param {Int32Array} words
 * @param {number} at
 * @param {number} call
 */
function take(words, at, call) {
  for (let t = Atomics.load(words, at); t < call; t = Atomics.load(words, at)) {
    if (Atomics.compareExchange(words, at, t, call) === t) return true;
  }
  return false;
}

module.exports = { SLOT_BYTES, WORD, ARGS, MAX_ARGS, ATTACH, STOP, take };
