/**
 * Issue 26 on a real Redis: a queue job is data, never a path. Jobs written
 * behind the grid command's back (a search id that climbs out of the work
 * folder, a dataset that is a path on the worker, no configuration, a
 * registry dataset that is not the grid's, a configuration over the memory
 * ceiling, a snapshot whose file name climbs out) each fail once with one
 * line, and nothing is written outside the worker's work folder or left in
 * it. Two queued grids into one folder: the second is refused. A worker
 * stopped twice takes its job processes down with it. A search whose runs
 * failed trains them again when the command is run again, and the runs it
 * collects record their data.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import { loadDataset } from "../lib/data/datasets";
import { readLines } from "../lib/data/lines";
import { fingerprintLines } from "../lib/experiments/data-record";
import { readResults } from "../lib/experiments/grid";
import { toWire } from "../lib/experiments/queue";
import { readSavedRun } from "../lib/experiments/run-files";
import { tempDir, writeNames } from "./support/cli";
import { redisAvailable, redisCli, startMakemore, startRedis, type Proc, type TestRedis } from "./support/redis";

// alone the first test takes about 6 s (a worker's processes start, seven jobs fail), the file 25 s;
// beside the rest of the suite on 2 cores the file took 97 s. Each wait below has its own bound
// (a job's end, a process's exit) that names what it waited for; this one bounds the whole test.
jest.setTimeout(400000);

const run = redisAvailable() ? test : test.skip;
let redis: TestRedis | null = null;
const procs: Proc[] = [];
const root = tempDir("mm-queue-safety-");

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.killGroup();
  await redis?.stop();
});

const b64 = (text: string): string => Buffer.from(text).toString("base64");

function makemore(args: readonly string[]): Proc {
  const p = startMakemore(args);
  procs.push(p);
  return p;
}

/** How a job ended: its failure reason (or "completed"), and how many times a worker ran it. */
interface Ending {
  reason: string;
  attempts: number;
}

/**
 * How job `id` ended. It asks Redis for the job's state rather than listening on QueueEvents: a
 * QueueEvents reads its stream from '$' only once its first XREAD arrives, so a job that fails in the
 * milliseconds before (a worker rejects these jobs that fast) is never reported, and
 * job.waitUntilFinished then waits forever (it did, beside the notebooks' suite). A job that is
 * retried goes back to waiting, so only its last attempt ends the wait.
 */
async function ended(queue: Queue, id: string, ms = 120000): Promise<Ending> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await queue.getJobState(id);
    if (state === "completed" || state === "failed") {
      const job = await queue.getJob(id);
      const reason = state === "completed" ? state : (job?.failedReason ?? "(no reason)");
      return { reason, attempts: job?.attemptsMade ?? 0 };
    }
    if (Date.now() > deadline) throw new Error(`job ${id} is still ${state} after ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Adds jobs the way a hostile client would (each allowed 2 attempts), and waits for each to end. */
async function addRaw(
  url: string,
  jobs: Record<string, unknown>,
  snapshots: Record<string, unknown>,
): Promise<Ending[]> {
  const redisConn = new IORedis(url, { maxRetriesPerRequest: null });
  const queue = new Queue("makemore", { connection: redisConn });
  try {
    for (const [id, snap] of Object.entries(snapshots)) await redisConn.set(`makemore:snapshot:${id}`, toWire(snap));
    const out: Ending[] = [];
    for (const [id, data] of Object.entries(jobs)) {
      await queue.add(id, data, { jobId: id, attempts: 2 });
      out.push(await ended(queue, id));
    }
    return out;
  } finally {
    await queue.close();
    redisConn.disconnect();
  }
}

run("jobs that are not data fail once with one line, and nothing is written outside the work folder", async () => {
  redis = await startRedis();
  const work = path.join(root, "work", "a", "b");
  const victim = path.join(root, "work", "victim");
  fs.mkdirSync(victim, { recursive: true });
  fs.writeFileSync(path.join(victim, "keep.txt"), "keep");
  const w = makemore(["worker", "--queue", redis.url, "--work-dir", work, "--max-memory", "2g"]);
  await w.waitFor(/ready on /);
  const config = { model: "mlp", nEmbd: 2, nHidden: 8, maxSteps: 20, evalEvery: 10 };
  const sha = fingerprintLines(loadDataset("names").words).sha256;
  const names = { kind: "name", name: "names", sha256: sha };
  const job = (tag: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    searchId: "0123456789abcdef",
    tag,
    config,
    params: 1,
    dataset: names,
    ...extra,
  });
  const endings = await addRaw(
    redis.url,
    {
      traversal: job(".", { searchId: "../../victim" }),
      path: job("aaaaa1", { dataset: { kind: "name", name: "/etc/passwd", sha256: sha } }),
      "no-config": job("aaaaa2", { config: undefined }),
      "other-data": job("aaaaa3", { dataset: { ...names, sha256: "0".repeat(64) } }),
      huge: job("aaaaa4", { config: { ...config, batchSize: 100_000_000 } }),
      snapshot: job("aaaaa5"),
      "junk-snapshot": job("aaaaa6"),
    },
    {
      snapshot: { step: 10, files: { "../../../../pwned.txt": b64("x") } },
      "junk-snapshot": { step: 10, files: { "config.json": b64("{}"), "model.ckpt": b64("garbage") } },
    },
  );
  expect(endings.map((e) => e.reason)).toEqual([
    "the job is not valid: searchId: expected 16 hex digits",
    'the job is not valid: dataset.name: Invalid option: expected one of "names"|"words"|"brown"|"addition"|"sqrt"',
    "the job is not valid: config: expected record, received undefined",
    "this worker's names (sha256 816d2a72) is not the grid's (sha256 00000000): give every machine the same data (npm run setup), or run the grid with -i FILE to send the lines",
    expect.stringMatching(
      /^the run needs about \d+ GB of memory .* more than the ceiling of 2\.0 GB \(--max-memory 2\.0 GB; /,
    ),
    'the snapshot of job snapshot is not valid: files: Unrecognized key: "../../../../pwned.txt"',
    "the snapshot of job junk-snapshot: its config.json is not a run's (dataset: expected string, received undefined)",
  ]);
  // failed once each: validation failures are not retried (and the last job's line may trail its state)
  expect(endings.map((e) => e.attempts)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  await w.waitFor(/ failed aaaaa6: /);
  expect(w.output().match(/ failed /g)).toHaveLength(7);
  expect(fs.readdirSync(path.join(root, "work")).sort()).toEqual(["a", "victim"]);
  expect(fs.readdirSync(work)).toEqual([]);
  expect(fs.readFileSync(path.join(victim, "keep.txt"), "utf8")).toBe("keep");
  for (const p of ["pwned.txt", "../pwned.txt"]) expect(fs.existsSync(path.join(root, p))).toBe(false);
  w.child.kill("SIGINT");
  expect(await w.exit()).toBe(0);
  // a wrong password reads as one, and --cancel of a folder without a search says so
  const wrong = makemore(["worker", "--queue", redis.url.replace(redis.password, "not-it")]);
  expect(await wrong.exit()).toBe(1);
  expect(wrong.output()).toMatch(
    /^makemore: error: cannot reach the queue at .*: it refused the password \(WRONGPASS\)$/m,
  );
  const none = path.join(root, "no-search");
  const cancel = makemore(["lottery", "-i", "names", "-o", none, "--seeds", "2", "--queue", redis.url, "--cancel"]);
  expect(await cancel.exit()).toBe(2);
  expect(cancel.output()).toContain(`makemore: error: there is no search of this grid in ${none} to cancel`);
  expect(fs.existsSync(none)).toBe(false);
});

run("two queued grids into one folder: the second is refused; failed runs train again on a rerun", async () => {
  redis ??= await startRedis();
  const input = writeNames(root, 300);
  const grid = path.join(root, "grid.json");
  fs.writeFileSync(grid, '{ "nEmbd": [2, 3], "nHidden": [8], "maxSteps": 200, "evalEvery": 100 }');
  const out = path.join(root, "out");
  const args = ["grid", "-i", input, "-o", out, "--grid", grid, "--queue", redis.url];
  const first = makemore(args);
  await first.waitFor(/queue: search /);
  const second = makemore(args);
  expect(await second.exit()).toBe(2);
  expect(second.output()).toMatch(
    new RegExp(`^makemore: error: ${out} is in use by makemore grid --queue \\(pid `, "m"),
  );
  // the runs fail: their dataset is gone from the queue before a worker takes them
  for (const key of redisCli(redis, ["--scan", "--pattern", "makemore:dataset:*"]).split("\n")) {
    if (key) redisCli(redis, ["del", key]);
  }
  const w = makemore(["worker", "--queue", redis.url, "--work-dir", path.join(root, "work2")]);
  expect(await first.exit()).toBe(1);
  expect(readResults(path.join(out, "results.csv")).map((r) => r.status)).toEqual(["failed", "failed"]);
  // the same command again uploads the lines again and trains both runs
  const again = makemore(args);
  expect(await again.exit()).toBe(0);
  const rows = readResults(path.join(out, "results.csv"));
  expect(rows.map((r) => r.status)).toEqual(["finished", "finished"]);
  // each run folder records the data it trained on, as a local run's does
  const sha = fingerprintLines(readLines(input)).sha256;
  for (const r of rows) expect(readSavedRun(path.join(out, r.tag!)).data?.sha256).toBe(sha);
  w.child.kill("SIGINT");
  expect(await w.exit()).toBe(0);
});

run("a worker stopped twice takes its job processes down with it", async () => {
  redis ??= await startRedis();
  const input = writeNames(root, 300);
  const out = path.join(root, "long");
  const long = ["--n-embd", "2", "--n-hidden", "8", "--max-steps", "10000000", "--eval-every", "1000"];
  const g = makemore(["lottery", "-i", input, "-o", out, "--seeds", "1", "--queue", redis.url, ...long]);
  await g.waitFor(/queue: search /);
  const w = makemore(["worker", "--queue", redis.url, "--work-dir", path.join(root, "work3")]);
  await w.waitFor(/ checkpoint [0-9a-f]{6} step /);
  const children = spawnSync("pgrep", ["-P", String(w.child.pid)], { encoding: "utf8" })
    .stdout.trim()
    .split("\n");
  expect(children.length).toBe(1);
  // two signals sent together may arrive as one: the second goes once the first is seen
  w.child.kill("SIGINT");
  await w.waitFor(/stopping after the current job/);
  w.child.kill("SIGINT");
  expect(await w.exit()).toBe(130);
  await new Promise((r) => setTimeout(r, 500));
  // gone, or a zombie nobody reaps (this machine's pid 1 may not): either way it no longer runs
  const running = (pid: string): boolean => {
    const stat = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, "utf8") : "";
    return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  };
  for (const pid of children) expect(running(pid)).toBe(false);
  g.child.kill("SIGINT");
  expect(await g.exit()).toBe(130);
});

run("a worker's result whose files are not a run's is refused, and nothing of it is written", async () => {
  redis ??= await startRedis();
  const conn = new IORedis(redis.url, { maxRetriesPerRequest: null });
  // a hostile worker: its results have the right names and shapes but a config.json and checkpoint of junk
  const hostile = new Worker(
    "makemore",
    async (job) => {
      const d = job.data as { tag: string; config: unknown; params: number };
      const result = { tag: d.tag, status: "finished", config: d.config, params: d.params, steps: 1, bestValLoss: 1 };
      const full = { ...result, bestTrainLoss: 1, bestStep: 1, seconds: 1, target: null, samples: ["x"] };
      const files = { "config.json": b64("evil"), "model.ckpt": b64("evil") };
      return { wire: toWire({ result: full, files, worker: "evil", resumedFrom: null }) };
    },
    { connection: conn },
  );
  const input = writeNames(root, 300);
  const out = path.join(root, "evil-results");
  const grid = path.join(root, "evil-grid.json");
  fs.writeFileSync(grid, '{ "nEmbd": [2], "maxSteps": 20, "evalEvery": 10 }');
  const g = makemore(["grid", "-i", input, "-o", out, "--grid", grid, "--queue", redis.url]);
  expect(await g.exit()).toBe(1);
  expect(g.output()).toMatch(
    /^makemore: error: 1 run failed: the result of run [0-9a-f]{6}: its config.json is not JSON$/m,
  );
  const [row] = readResults(path.join(out, "results.csv"));
  expect(row?.status).toBe("failed");
  expect(fs.readdirSync(out).sort()).toEqual(["results.csv", "search.json"]);
  await hostile.close(true);
  await conn.quit();
});
