/**
 * The run-folder lock: one holder at a time, a clear refusal naming the
 * holder, stale locks (ended or reused pids) taken over, and a stale lock
 * raced for by several processes taken by exactly one.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  acquireRunLock,
  holderState,
  LOCK_FILE,
  makeDirs,
  processStartTicks,
  readLockFile,
  RunLockedError,
  type LockHolder,
} from "../lib/experiments/run-lock";
import { ConfigError } from "../lib/experiments/hyperparams";
import { ROOT, tempDir } from "./support/cli";

jest.setTimeout(60000);

let root = "";
beforeAll(() => {
  root = tempDir("mm-lock-");
});

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  fs.mkdirSync(dir, { recursive: true });
  const full: LockHolder = {
    pid: 1,
    host: os.hostname(),
    command: "makemore train",
    since: "2024-01-01T00:00:00.000Z",
    procStart: null,
    token: "feedfacefeedface",
    ...holder,
  };
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(full));
}

test("one holder at a time: a second taker is refused with the holder named; release frees the folder", () => {
  const dir = path.join(root, "one", "deeper");
  const lock = acquireRunLock(dir, "makemore train");
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
  expect(lock.tookOver).toBeNull();
  expect(readLockFile(lock.file)).toEqual(lock.holder);
  let err: unknown = null;
  try {
    acquireRunLock(dir, "makemore grid");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RunLockedError);
  expect(err).toBeInstanceOf(ConfigError); // a usage error: exit 2
  expect((err as Error).message).toBe(
    `${dir} is in use by makemore train (pid ${process.pid} on ${os.hostname()}, since ${lock.holder.since}); ` +
      "wait for it to end or stop it",
  );
  lock.release();
  lock.release(); // twice is harmless
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  const again = acquireRunLock(dir, "makemore train");
  again.release();
  expect(fs.readdirSync(dir)).toEqual([]);
});

test("a lock whose process has ended, or whose pid now belongs to another process, is taken over", () => {
  const ended = path.join(root, "ended");
  writeLock(ended, { pid: deadPid(), token: "0123456789abcdef" });
  const lock = acquireRunLock(ended, "makemore train");
  expect(lock.tookOver).toMatchObject({ token: "0123456789abcdef", command: "makemore train" });
  expect(readLockFile(lock.file)).toEqual(lock.holder);
  lock.release();

  // the pid is alive (the test runner's parent) but started at another time: it was reused
  const reused = path.join(root, "reused");
  const parentStart = processStartTicks(process.ppid);
  if (parentStart !== null) {
    writeLock(reused, { pid: process.ppid, procStart: parentStart + 1 });
    expect(holderState(readLockFile(path.join(reused, LOCK_FILE)) as LockHolder)).toBe("dead");
    const taken = acquireRunLock(reused, "makemore train");
    expect(taken.tookOver?.pid).toBe(process.ppid);
    taken.release();
    // the same pid with its real start time is alive: refused
    writeLock(reused, { pid: process.ppid, procStart: parentStart });
    expect(() => acquireRunLock(reused, "makemore train")).toThrow(RunLockedError);
  }

  // this process's own pid with a token it does not hold: a leftover of an earlier process with this pid
  const mine = path.join(root, "mine");
  writeLock(mine, { pid: process.pid, procStart: processStartTicks(process.pid) });
  const own = acquireRunLock(mine, "makemore train");
  expect(own.tookOver?.pid).toBe(process.pid);
  own.release();
});

test("a lock from another host counts as held; a lock file of garbage older than 10 s is taken over", () => {
  const other = path.join(root, "other-host");
  writeLock(other, { host: "elsewhere", pid: 4242 });
  expect(() => acquireRunLock(other, "makemore train")).toThrow(
    `${other} is in use by makemore train (pid 4242 on elsewhere, since 2024-01-01T00:00:00.000Z); ` +
      `that host cannot be checked from here: if that process has ended, delete ${path.join(other, LOCK_FILE)}`,
  );
  const garbage = path.join(root, "garbage");
  fs.mkdirSync(garbage);
  const file = path.join(garbage, LOCK_FILE);
  fs.writeFileSync(file, "{ not json");
  const old = new Date(Date.now() - 60000);
  fs.utimesSync(file, old, old);
  const lock = acquireRunLock(garbage, "makemore train");
  expect(readLockFile(file)).toEqual(lock.holder);
  lock.release();
});

test("makeDirs makes parents one level at a time and names a folder that cannot be made", () => {
  const deep = path.join(root, "a", "b", "c");
  makeDirs(deep);
  expect(fs.statSync(deep).isDirectory()).toBe(true);
  const file = path.join(root, "plain-file");
  fs.writeFileSync(file, "x");
  expect(() => makeDirs(path.join(file, "sub"))).toThrow(
    `cannot create the folder ${path.join(file, "sub")}: a parent is a file`,
  );
});

test("processes racing for one stale lock: exactly one takes it", async () => {
  const dir = path.join(root, "raced");
  writeLock(dir, { pid: deadPid() });
  const script = `
    const { acquireRunLock } = require(${JSON.stringify(path.join(ROOT, "lib", "experiments", "run-lock.ts"))});
    try {
      const lock = acquireRunLock(process.argv[1], "racer");
      console.log("won " + (lock.tookOver ? "took-over" : "fresh"));
      setTimeout(() => lock.release(), 1500);
    } catch (e) {
      console.log("lost " + e.message);
    }`;
  const racers = Array.from({ length: 4 }, () =>
    spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", script, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    }),
  );
  const outputs = await Promise.all(
    racers.map(
      (c) =>
        new Promise<string>((resolve) => {
          let out = "";
          c.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
          c.on("close", () => resolve(out.trim()));
        }),
    ),
  );
  const winners = outputs.filter((o) => o.startsWith("won"));
  expect(winners).toHaveLength(1);
  for (const o of outputs.filter((x) => !x.startsWith("won"))) {
    expect(o).toMatch(new RegExp(`^lost ${dir} is in use by racer \\(pid \\d+ on `));
  }
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  expect(fs.readdirSync(dir)).toEqual([]);
});
