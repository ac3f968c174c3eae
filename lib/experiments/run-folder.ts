/**
 * Messages about what a run folder holds, naming what is there and what is
 * missing (a folder with model.ckpt but no config.json is not "empty").
 *
 * @module
 */

/**
 * Why a folder cannot be resumed.
 * @param exists - whether the folder exists.
 * @param found - the run files it holds.
 * @param missing - the run files resuming needs that it lacks.
 */
export function resumeRefusal(
  dir: string,
  exists: boolean,
  found: readonly string[],
  missing: readonly string[],
): string {
  if (!exists) return `nothing to resume in ${dir}: no such folder`;
  if (found.length === 0) return `nothing to resume in ${dir}: it holds no run (no ${missing.join(", no ")})`;
  const verb = missing.length === 1 ? "is" : "are";
  return `cannot resume ${dir}: ${missing.join(" and ")} ${verb} missing (it holds ${found.join(", ")})`;
}
