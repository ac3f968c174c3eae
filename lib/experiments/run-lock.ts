/**
 * One writer per folder: an exclusive lock file, DIR/.makemore.lock, held
 * for the whole of a run (or of a grid, for the grid folder).
 *
 * The lock file holds who took it: pid, host, the process's start time as
 * the kernel counts it (Linux), the command, the time it was taken and a
 * random token. It comes into being whole, by hard-linking a fully written
 * temporary file to its name (link fails when the name exists, on local and
 * network file systems alike), so a reader never sees it half written.
 *
 * A lock is stale when its process is gone: same host, and the pid is not
 * alive or is alive with another start time (the pid was reused). A stale
 * lock is taken over under a second, short-lived lock (DIR/.makemore.lock.break)
 * that makes the check and the removal one step, so two processes finding
 * the same stale lock cannot both take it. A lock from another host cannot be
 * checked and counts as held; the message says which file to delete.
 *
 * Why not proper-lockfile (npm): it decides staleness by the lock's mtime,
 * which a timer must refresh every few seconds. Training runs long
 * synchronous stretches (wasm kernels, evaluations, checkpoint writes of a
 * large model) that hold up timers, so a live run could look stale and a
 * second writer could take over, which is the failure this module exists to
 * prevent. Whether a pid is alive does not depend on an event loop.
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { READ_LIMITS, readFileBounded } from "../runtime/files";
import { ConfigError } from "./hyperparams";

/** Name of the lock file inside a locked folder. */
export const LOCK_FILE = ".makemore.lock";

/** Who holds a lock: the content of the lock file. */
export interface LockHolder {
  /** process id */
  pid: number;
  /** host name (os.hostname()) */
  host: string;
  /** what runs, e.g. "makemore train" */
  command: string;
  /** when the lock was taken (ISO 8601) */
  since: string;
  /** the process's start time in clock ticks after boot (Linux /proc), to tell a reused pid apart; null elsewhere */
  procStart: number | null;
  /** random token of this lock, so only its owner removes it */
  token: string;
}

/** A held lock. */
export interface RunLock {
  /** the locked folder */
  dir: string;
  /** the lock file */
  file: string;
  /** this process's entry */
  holder: LockHolder;
  /** the stale lock this one replaced (its process had ended), or null */
  tookOver: LockHolder | null;
  /** removes the lock file (once; later calls do nothing) */
  release(): void;
}

/** The folder is locked by another live process (or one on another host). */
export class RunLockedError extends ConfigError {
  /** the locked folder */
  readonly dir: string;
  /** who holds it */
  readonly holder: LockHolder;

  constructor(dir: string, holder: LockHolder, otherHost: boolean) {
    const who = `${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
    const what = otherHost
      ? `; that host cannot be checked from here: if that process has ended, delete ${path.join(dir, LOCK_FILE)}`
      : "; wait for it to end or stop it";
    super(`${dir} is in use by ${who}${what}`);
    this.name = "RunLockedError";
    this.dir = dir;
    this.holder = holder;
  }
}

/** Tokens of the locks this process holds, with their files (released at exit). */
const held = new Map<string, string>();
let exitHookInstalled = false;

/** This process's start time in clock ticks after boot, from /proc (null off Linux). */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name (which may hold spaces and parentheses); starttime is field 22
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Whether the holder's process still runs: "alive", "dead", or "other-host" (cannot be told). */
export function holderState(h: LockHolder): "alive" | "dead" | "other-host" {
  if (h.host !== os.hostname()) return "other-host";
  if (h.pid === process.pid) return held.has(h.token) ? "alive" : "dead";
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to another user
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return "dead";
  }
  const now = processStartTicks(h.pid);
  if (now !== null && h.procStart !== null && now !== h.procStart) return "dead";
  return "alive";
}

function newHolder(command: string): LockHolder {
  return {
    pid: process.pid,
    host: os.hostname(),
    command,
    since: new Date().toISOString(),
    procStart: processStartTicks(process.pid),
    token: crypto.randomBytes(8).toString("hex"),
  };
}

function isHolder(v: unknown): v is LockHolder {
  const h = v as Partial<LockHolder> | null;
  return (
    typeof h === "object" &&
    h !== null &&
    typeof h.pid === "number" &&
    typeof h.host === "string" &&
    typeof h.token === "string" &&
    typeof h.command === "string" &&
    typeof h.since === "string"
  );
}

/**
 * Reads a lock file: its holder, null when there is no file, or "garbage"
 * when it does not hold a holder (never written by this module in full).
 */
export function readLockFile(file: string): LockHolder | null | "garbage" {
  let text: string;
  try {
    text = readFileBounded(file, READ_LIMITS.json, "a lock file").toString("utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === undefined) return "garbage"; // over the limit: never written by this module
    throw e;
  }
  try {
    const json: unknown = JSON.parse(text);
    if (!isHolder(json)) return "garbage";
    return { ...json, procStart: typeof json.procStart === "number" ? json.procStart : null };
  } catch {
    return "garbage";
  }
}

/** Blocks the thread for `ms` (lock contention waits are a few milliseconds; nothing else should run meanwhile). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Creates `file` holding `text`, atomically and only if it does not exist. Returns false when it exists. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { flag: "wx" });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
    // a file system without hard links: O_EXCL creation (readers wait out the short unwritten moment)
    try {
      fs.writeFileSync(file, text, { flag: "wx" });
      return true;
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e2;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Makes a folder and its missing parents, one level at a time. (Node's
 * recursive mkdirSync loops forever where a parent can never be made, as
 * under /proc; one level at a time fails with that level's error.)
 * @throws ConfigError naming the folder that cannot be made and why.
 */
export function makeDirs(dir: string): void {
  const full = path.resolve(dir);
  const missing: string[] = [];
  for (let at = full; !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const at of missing) {
    try {
      fs.mkdirSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") continue;
      const why: Record<string, string> = {
        ENOENT: "its file system does not allow new folders there",
        EACCES: "permission denied",
        EPERM: "permission denied",
        EROFS: "the file system is read-only",
        ENOTDIR: "a parent is a file",
        ENOSPC: "no space left on the device",
      };
      throw new ConfigError(`cannot create the folder ${at}: ${why[code ?? ""] ?? (e as Error).message}`);
    }
  }
}

/** Seconds after which an unreadable lock file or a break lock counts as abandoned. */
const ABANDONED_SECONDS = 10;

function ageSeconds(file: string): number {
  try {
    return (Date.now() - fs.statSync(file).mtimeMs) / 1000;
  } catch {
    return Infinity;
  }
}

/**
 * Removes the lock file if it still is the stale lock `stale` (same token),
 * under the break lock so that no other process removes a lock taken
 * meanwhile. Returns without removing when another process is breaking it.
 */
function breakStaleLock(file: string, stale: LockHolder | "garbage", me: LockHolder): void {
  const breaker = `${file}.break`;
  if (!createExclusive(breaker, JSON.stringify(me))) {
    const other = readLockFile(breaker);
    const abandoned = other === "garbage" || other === null || holderState(other) === "dead";
    if (abandoned || ageSeconds(breaker) > ABANDONED_SECONDS) fs.rmSync(breaker, { force: true });
    else sleepSync(20);
    return;
  }
  try {
    const now = readLockFile(file);
    const same =
      stale === "garbage" ? now === "garbage" : now !== null && now !== "garbage" && now.token === stale.token;
    if (same) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(breaker, { force: true });
  }
}

function releaseAllAtExit(): void {
  for (const [token, file] of held) {
    const now = readLockFile(file);
    if (now !== null && now !== "garbage" && now.token === token) fs.rmSync(file, { force: true });
  }
  held.clear();
}

function lockHandle(dir: string, file: string, holder: LockHolder, tookOver: LockHolder | null): RunLock {
  held.set(holder.token, file);
  if (!exitHookInstalled) {
    // a process that exits without releasing (process.exit, a second Ctrl-C) still frees its folders
    process.on("exit", releaseAllAtExit);
    exitHookInstalled = true;
  }
  return {
    dir,
    file,
    holder,
    tookOver,
    release() {
      if (!held.delete(holder.token)) return;
      const now = readLockFile(file);
      if (now !== null && now !== "garbage" && now.token === holder.token) fs.rmSync(file, { force: true });
    },
  };
}

/**
 * Takes the lock of `dir` (created when missing), or throws naming who holds it.
 * A stale lock (its process has ended) is taken over; {@link RunLock.tookOver} says whose it was.
 *
 * @param command - what this process is, for the message another writer gets (e.g. "makemore train").
 * @throws RunLockedError (a ConfigError) when a live process, or one on another host, holds it.
 */
export function acquireRunLock(dir: string, command: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const me = newHolder(command);
  let tookOver: LockHolder | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    makeDirs(dir);
    try {
      if (createExclusive(file, JSON.stringify(me) + "\n")) return lockHandle(dir, file, me, tookOver);
    } catch (e) {
      // the folder was removed between mkdir and link (a refused run cleaning up): make it again
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const holder = readLockFile(file);
    if (holder === null) continue;
    if (holder === "garbage") {
      // an O_EXCL lock being written, or the remains of a crash long ago
      if (ageSeconds(file) < ABANDONED_SECONDS) sleepSync(20);
      else breakStaleLock(file, holder, me);
      continue;
    }
    const state = holderState(holder);
    if (state !== "dead") throw new RunLockedError(dir, holder, state === "other-host");
    breakStaleLock(file, holder, me);
    tookOver = holder;
  }
  throw new ConfigError(`could not lock ${dir}: its lock file ${file} keeps changing hands`);
}

/**
 * Refuses at once when a live process (or one on another host) holds the
 * lock of `dir`, without taking it: so that a command checking the folder
 * says "in use" rather than describing a run half written by its owner.
 * @throws RunLockedError
 */
export function checkNotLocked(dir: string): void {
  const holder = readLockFile(path.join(dir, LOCK_FILE));
  if (holder === null || holder === "garbage") return;
  const state = holderState(holder);
  if (state !== "dead") throw new RunLockedError(dir, holder, state === "other-host");
}

/**
 * Runs `body` holding the lock of `dir`, and releases it however `body`
 * ends. A folder this call made and that is empty at the end (a run refused
 * before its first write) is removed again.
 */
export async function withRunLock<T>(dir: string, command: string, body: (lock: RunLock) => Promise<T>): Promise<T> {
  const made = !fs.existsSync(dir);
  const lock = acquireRunLock(dir, command);
  try {
    return await body(lock);
  } finally {
    lock.release();
    if (made) removeIfEmpty(dir);
  }
}

/** Removes a folder if it is empty; one that is not (another process may have locked it meanwhile) stays. */
export function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty, or already gone
  }
}
