/**
 * The thread counts the bench runs its rows at, and the environment of a
 * PyTorch process on one of them.
 *
 * `torch.set_num_threads` sizes PyTorch's own pool, not OpenBLAS's: Debian's
 * pthread OpenBLAS starts a thread a core for every product. On 2 cores the
 * twin of makemore.py "on 1 thread" kept both busy (137 CPU seconds in 69 s of
 * wall time) and ran 7% slower than with OpenBLAS on 1 thread too.
 *
 * @module
 */
import { defaultThreads } from "../lib/engines/kernel-pool";

/** 1 thread and every core (once on a 1-core machine). */
export function threadCounts(): number[] {
  return [...new Set([1, defaultThreads()])];
}

/** process.env with OpenBLAS's and OpenMP's thread counts set to `threads`. */
export function torchEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
}
