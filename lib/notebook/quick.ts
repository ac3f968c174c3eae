/**
 * Quick mode: the notebook tests set MAKEMORE_QUICK=1 and every notebook
 * shrinks its step counts through {@link steps}, so the whole series runs in
 * minutes while the same cells, in full mode, reproduce the lectures.
 *
 * @module
 */

/** Whether quick mode is on (environment variable MAKEMORE_QUICK=1 or "true"). */
export function isQuick(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.MAKEMORE_QUICK ?? "").toLowerCase();
  return v === "1" || v === "true" || v === "yes";
}

/**
 * Picks a count for the current mode: `full` for people, `quick` in the tests.
 * @example `const maxSteps = steps(200_000, 2_000);`
 */
export function steps(full: number, quick: number, env: NodeJS.ProcessEnv = process.env): number {
  return isQuick(env) ? quick : full;
}
