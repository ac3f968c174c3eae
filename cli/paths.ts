/**
 * Checks of the path arguments (-o, -i, --grid, sample's -o) before any
 * work: an empty value (an unset shell variable), a value of spaces, a NUL
 * byte, a file where a folder is needed, a parent that is a file, a name too
 * long or a folder that cannot be written are usage errors with one line,
 * instead of training into the current folder or failing halfway.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { DATASET_DESCRIPTIONS } from "../lib/data/datasets";
import { ConfigError } from "../lib/experiments/hyperparams";

/** Longest name of one path component on common file systems (ext4, xfs, apfs, ntfs), in bytes. */
const NAME_MAX = 255;

/** Refuses values that name no path at all: empty, only whitespace, a NUL byte, a component too long. */
function checkText(value: string, flag: string, what: string): void {
  if (value === "") throw new ConfigError(`${flag} is empty: give ${what}`);
  if (value.trim() === "") throw new ConfigError(`${flag} is only whitespace (${JSON.stringify(value)}): give ${what}`);
  if (value.includes("\0")) throw new ConfigError(`${flag} ${JSON.stringify(value)} holds a NUL byte`);
  const long = value.split(/[\\/]/).find((part) => Buffer.byteLength(part, "utf8") > NAME_MAX);
  if (long !== undefined) {
    throw new ConfigError(`${flag}: the name '${long.slice(0, 24)}...' in it is longer than ${NAME_MAX} bytes`);
  }
}

function statOf(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/** The nearest existing ancestor of a path that does not exist, and its stat. */
function nearestExisting(p: string): { at: string; stat: fs.Stats } {
  let at = path.dirname(p);
  for (;;) {
    const stat = statOf(at);
    if (stat) return { at, stat };
    const up = path.dirname(at);
    if (up === at) throw new ConfigError(`${p}: none of its folders exists`);
    at = up;
  }
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a folder a command writes into (train's and grid's -o): it is a
 * folder or can be made one, and it can be written.
 * @returns the value as given.
 * @throws ConfigError (a usage error) saying what is in the way.
 */
export function checkOutDir(value: string, flag = "-o/--out"): string {
  checkText(value, flag, "a folder path");
  const full = path.resolve(value);
  if (path.parse(full).root === full) {
    throw new ConfigError(
      `${flag} ${value} is the root folder: give a folder of its own for the run files, e.g. runs/mlp`,
    );
  }
  const stat = statOf(full);
  if (stat) {
    if (!stat.isDirectory()) throw new ConfigError(`${flag} ${value} is a file, not a folder`);
    if (!writable(full)) throw new ConfigError(`${flag} ${value} is a folder this user cannot write to`);
    return value;
  }
  const { at, stat: parent } = nearestExisting(full);
  if (!parent.isDirectory()) throw new ConfigError(`${flag} ${value}: ${at} is a file, so no folder can be made in it`);
  if (!writable(at)) throw new ConfigError(`${flag} ${value}: cannot create it, ${at} is not writable by this user`);
  return value;
}

/**
 * Checks a file a command reads (-i, --grid, sample's -o). A missing file is
 * left to the reader, whose message says so; a parent that is a file is a
 * usage error here.
 * @param what - what the value should be, for the message of an empty one.
 * @param names - values that are not paths (registry dataset names).
 */
export function checkInputPath(
  value: string,
  flag: string,
  what = "a file path",
  names: readonly string[] = [],
): string {
  checkText(value, flag, what);
  if (names.includes(value) || statOf(value)) return value;
  const { at, stat } = nearestExisting(path.resolve(value));
  if (!stat.isDirectory()) throw new ConfigError(`${flag} ${value}: ${at} is a file, not a folder`);
  return value;
}

/** Checks -i: a dataset name or a file path. */
export function checkDatasetArg(value: string): string {
  const names = Object.keys(DATASET_DESCRIPTIONS);
  return checkInputPath(value, "-i/--input", `a dataset name (${names.join(", ")}) or a file path`, names);
}
