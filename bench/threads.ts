/**
 * The thread counts the bench runs its rows at (ours on each build of the
 * kernels), and the environment of a PyTorch process on one of them.
 *
 * `torch.set_num_threads` sizes PyTorch's own pool, not OpenBLAS's: Debian's
 * pthread OpenBLAS starts a thread a core for every product. On 2 cores the
 * twin of makemore.py "on 1 thread" kept both busy (137 CPU seconds in 69 s of
 * wall time) and ran 7% slower than with OpenBLAS on 1 thread too.
 *
 * @module
 */
import { defaultThreads } from "../lib/engines/kernel-pool";
import type { KernelBuild } from "../lib/engines/kernels";

/** 1 thread and every core (once on a 1-core machine). */
export function threadCounts(): number[] {
  return [...new Set([1, defaultThreads()])];
}

/** What a run of ours runs on: a build of the kernels (null: tfjs) and the threads the kernels split their calls over. */
export interface OursVariant {
  build: KernelBuild | null;
  threads: number;
}

/** The tfjs engine's one variant: no kernels, one thread. */
export const TFJS: readonly OursVariant[] = [{ build: null, threads: 1 }];

/** Each build at 1 thread and at every core (the kernels' pool), the builds in turn. */
export function fusedVariants(builds: readonly KernelBuild[]): OursVariant[] {
  return threadCounts().flatMap((threads) => builds.map((build) => ({ build, threads })));
}

/** process.env with OpenBLAS's and OpenMP's thread counts set to `threads`. */
export function torchEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
}
