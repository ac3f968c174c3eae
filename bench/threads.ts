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

/** A run of ours that {@link timeRuns} times: the wall and CPU time of each repeat, per step. */
export interface TimedRun {
  perStep: number[];
  cpuPerStep: number[];
}

/**
 * Times `runs` in turn (so that a slower spell of a shared machine falls on all): 10 steps each,
 * the tensor count, the rest of `warmup`, then `repeats` repeats of `steps` steps each, whose wall
 * and CPU time per step (in `step`'s unit) go to the run. Returns the tensor counts after 10
 * steps and at the end.
 */
export function timeRuns<R extends TimedRun>(
  runs: readonly R[],
  step: (run: R, n: number) => { wall: number; cpu: number },
  o: { warmup: number; steps: number; repeats: number },
  tensors: () => number,
): { tensors_after_10: number; tensors_after_run: number } {
  for (const run of runs) step(run, Math.min(10, o.warmup));
  const after10 = tensors();
  for (const run of runs) step(run, o.warmup - Math.min(10, o.warmup));
  for (let r = 0; r < o.repeats; r++) {
    for (const run of runs) {
      const t = step(run, o.steps);
      run.perStep.push(t.wall / o.steps);
      run.cpuPerStep.push(t.cpu / o.steps);
    }
  }
  return { tensors_after_10: after10, tensors_after_run: tensors() };
}

/** process.env with OpenBLAS's and OpenMP's thread counts set to `threads`. */
export function torchEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
}
