/**
 * The environment of a PyTorch process on a given number of threads.
 *
 * `torch.set_num_threads` sizes PyTorch's own pool, not OpenBLAS's: Debian's
 * pthread OpenBLAS starts a thread a core for every product. On 2 cores the
 * twin of makemore.py "on 1 thread" kept both busy (137 CPU seconds in 69 s of
 * wall time) and ran 7% slower than with OpenBLAS on 1 thread too.
 *
 * @module
 */

/** process.env with OpenBLAS's and OpenMP's thread counts set to `threads`. */
export function torchEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
}
