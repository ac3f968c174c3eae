/**
 * The queue's other paths, on a throwaway password-protected Redis: a grid
 * with a poisoned configuration (a learning rate that diverges), a lottery
 * and attaching to it again, jobs that fail on their own (their dataset gone
 * from the queue: failed once, not retried, the error in results.csv),
 * Ctrl-C that detaches and --cancel, and a wrong password that is not shown.
 */
import * as fs from "fs";
import * as path from "path";
import { readResults } from "../lib/experiments/grid";
import { tempDir, writeNames } from "./support/cli";
import { redisAvailable, redisCli, startMakemore, startRedis, type Proc, type TestRedis } from "./support/redis";

jest.setTimeout(150000);

const run = redisAvailable() ? test : test.skip;
let redis: TestRedis | null = null;
const procs: Proc[] = [];
let root = "";
let input = "";

beforeAll(() => {
  root = tempDir("mm-queue-faults-");
  input = writeNames(root, 500);
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.killGroup();
  await redis?.stop();
});

function makemore(args: readonly string[]): Proc {
  const p = startMakemore(args);
  procs.push(p);
  return p;
}

function worker(): Proc {
  return makemore(["worker", "--queue", redis!.url, "--work-dir", path.join(root, "work")]);
}

async function stop(p: Proc): Promise<void> {
  p.child.kill("SIGINT");
  expect(await p.exited).toBe(0);
}

function writeGrid(name: string, text: string): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, text);
  return file;
}

/** How many times the worker started each tag. */
function starts(w: Proc): Map<string, number> {
  const count = new Map<string, number>();
  for (const m of w.output().matchAll(/ start ([0-9a-f]{6}) /g)) count.set(m[1]!, (count.get(m[1]!) ?? 0) + 1);
  return count;
}

// lr 1e38 diverges on both kernel builds (at 1e30 the relaxed build's fused multiply-adds keep the loss finite)
run("a diverging configuration, a lottery, attaching again, jobs that fail once", async () => {
  redis = await startRedis();
  const w = worker();
  const grid = writeGrid("poison.json", '{ "lr": [0.1, 1e38], "maxSteps": 1000, "evalEvery": 250 }');
  const out = path.join(root, "poison");
  const g = makemore([
    "grid",
    "-i",
    input,
    "-o",
    out,
    "--grid",
    grid,
    "--queue",
    redis.url,
    "--n-embd",
    "2",
    "--n-hidden",
    "8",
  ]);
  expect(await g.exited).toBe(0);
  const rows = readResults(path.join(out, "results.csv"));
  expect(rows.map((r) => [Number(r.lr), r.status])).toEqual([
    [0.1, "finished"],
    [1e38, "diverged"],
  ]);
  expect(rows[1]!.message).toMatch(/^training diverged: the loss at step \d+ is (NaN|Infinity)/);
  expect([...starts(w).values()]).toEqual([1, 1]);

  // a lottery; the same command again attaches and finds every seed collected
  const lottery = ["lottery", "-i", input, "-o", path.join(root, "seeds"), "--seeds", "3", "--queue", redis.url];
  const tiny = ["--n-embd", "2", "--n-hidden", "8", "--max-steps", "500", "--eval-every", "250"];
  const l1 = makemore([...lottery, ...tiny]);
  expect(await l1.exited).toBe(0);
  expect(l1.output()).toMatch(/seed lottery over 3 seeds: best val loss min \d\.\d{4}, median/);
  const first = fs.readFileSync(path.join(root, "seeds", "results.csv"), "utf8");
  expect(first.trim().split("\n")).toHaveLength(4);
  const l2 = makemore([...lottery, ...tiny]);
  expect(await l2.exited).toBe(0);
  expect(l2.output()).toContain("0 of 3 runs queued or running (3 already collected)");
  expect(fs.readFileSync(path.join(root, "seeds", "results.csv"), "utf8")).toBe(first);
  await stop(w);

  // jobs that fail on their own: their dataset is gone from the queue before a worker takes them
  const badOut = path.join(root, "bad");
  const bad = makemore(["grid", "-i", input, "-o", badOut, "--grid", grid, "--queue", redis.url, "--max-steps", "200"]);
  await bad.waitFor(/queue: search /);
  for (const key of redisCli(redis, ["--scan", "--pattern", "makemore:dataset:*"]).split("\n")) {
    if (key) redisCli(redis, ["del", key]);
  }
  const w2 = worker();
  expect(await bad.exited).toBe(1);
  const badRows = readResults(path.join(badOut, "results.csv"));
  expect(badRows.map((r) => [r.status, r.message])).toEqual([
    ["failed", `the dataset of this search is no longer on the queue (${input})`],
    ["failed", `the dataset of this search is no longer on the queue (${input})`],
  ]);
  expect(bad.output()).toMatch(/makemore: error: 2 runs failed: the dataset of this search/);
  expect([...starts(w2).values()]).toEqual([1, 1]);
  await stop(w2);
  for (const p of procs) expect(p.output().includes(redis.password)).toBe(false);
});

run("Ctrl-C detaches, --cancel cancels, a wrong password is refused without being shown", async () => {
  redis ??= await startRedis();
  const grid = writeGrid("cancel.json", '{ "nEmbd": [2, 3, 4], "maxSteps": 300 }');
  const out = path.join(root, "cancel");
  const args = ["grid", "-i", input, "-o", out, "--grid", grid, "--queue", redis.url];
  const g = makemore(args);
  await g.waitFor(/queue: search /);
  g.child.kill("SIGINT");
  expect(await g.exited).toBe(130);
  expect(g.output()).toContain("queue: detached; the workers go on");
  expect(redisCli(redis, ["llen", "bull:makemore:wait"])).toBe("3");

  const c = makemore([...args, "--cancel"]);
  expect(await c.exited).toBe(0);
  expect(c.output()).toMatch(/cancelled: 3 runs will not run/);
  expect(readResults(path.join(out, "results.csv")).map((r) => r.status)).toEqual([
    "cancelled",
    "cancelled",
    "cancelled",
  ]);
  expect(redisCli(redis, ["llen", "bull:makemore:wait"])).toBe("0");

  // a lottery cancelled in the same folder (the same search id) keeps the grid's rows beside its own
  const lottery = makemore(["lottery", "-i", input, "-o", out, "--seeds", "2", "--queue", redis.url, "--cancel"]);
  expect(await lottery.exited).toBe(0);
  const rows = readResults(path.join(out, "results.csv"));
  expect(rows.map((r) => r.nEmbd).sort()).toEqual(["10", "10", "2", "3", "4"]);
  expect(rows.every((r) => r.status === "cancelled")).toBe(true);

  const secret = "hunter2-not-this-one";
  const wrong = redis.url.replace(redis.password, secret);
  const refused = makemore(["worker", "--queue", wrong]);
  expect(await refused.exited).toBe(1);
  expect(refused.output()).toMatch(/^makemore: error: cannot reach the queue at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: /m);
  for (const p of procs) expect(p.output().includes(secret) || p.output().includes(redis.password)).toBe(false);

  // a database Redis does not have (16 by default) is refused, not replaced by database 0
  const noDb = makemore(["worker", "--queue", `${redis.url}/99`]);
  expect(await noDb.exited).toBe(2);
  expect(noDb.output()).toMatch(
    /^makemore: error: --queue redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/99: Redis has no database 99 \(ERR DB index is out of range\)$/m,
  );
});

run("--max-line-length reaches the workers: a registry dataset loses the same lines there", async () => {
  redis ??= await startRedis();
  const w = worker();
  const out = path.join(root, "short-names");
  const tiny = ["--model", "makemore-bigram", "--max-steps", "20", "--eval-every", "10"];
  const l = makemore([
    "lottery",
    "-i",
    "names",
    "--max-line-length",
    "5",
    "-o",
    out,
    "--seeds",
    "1",
    "--queue",
    redis.url,
    ...tiny,
  ]);
  expect(await l.exited).toBe(0);
  // names of at most 5 characters: a line of the sequence model holds 6 positions, on both sides of the queue
  const [row] = readResults(path.join(out, "results.csv"));
  expect(row).toMatchObject({ status: "finished", blockSize: "6" });
  const saved = JSON.parse(fs.readFileSync(path.join(out, row!.tag!, "config.json"), "utf8")) as {
    config: { blockSize: number };
  };
  expect(saved.config.blockSize).toBe(6);
  await stop(w);
});
