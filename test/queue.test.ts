/**
 * A grid on the Redis queue over two worker processes, one of which is
 * killed (SIGKILL to its process group, as when a machine is lost) in the
 * middle of a job: BullMQ's stalled-job check hands the job to the other
 * worker, which restarts it from the last checkpoint it had reported, and
 * every configuration ends up in results.csv exactly once, with its log rows
 * and a loadable checkpoint. No password reaches any output or file.
 */
import * as fs from "fs";
import * as path from "path";
import { loadRun, readRunLog } from "../lib/index";
import { readResults } from "../lib/experiments/grid";
import { tempDir, writeNames } from "./support/cli";
import { filesUnder, redisAvailable, startMakemore, startRedis, type Proc, type TestRedis } from "./support/redis";

jest.setTimeout(120000);

const run = redisAvailable() ? test : test.skip;
let redis: TestRedis | null = null;
const procs: Proc[] = [];

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.killGroup();
  await redis?.stop();
});

/** Short locks so that a dead worker's job is handed on within seconds. */
const FAST_STALL = ["--lock-duration", "3000", "--stalled-interval", "1000"];

run(
  "six configurations over two workers, one killed mid-job: each reported once, restarted from its checkpoint",
  async () => {
    const t0 = Date.now();
    const events: string[] = [];
    const note = (what: string): void =>
      void events.push(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${what}`);
    redis = await startRedis();
    const root = tempDir("mm-queue-");
    const input = writeNames(root, 2000);
    const grid = path.join(root, "grid.json");
    fs.writeFileSync(grid, '{ "nEmbd": [2, 3], "nHidden": [8, 12, 16], "maxSteps": 8000, "evalEvery": 1000 }');
    const out = path.join(root, "out");
    const worker = (): Proc => {
      const p = startMakemore(["worker", "--queue", redis!.url, "--work-dir", path.join(root, "work"), ...FAST_STALL]);
      procs.push(p);
      return p;
    };
    const a = worker();
    await a.waitFor(/ready on /);
    note("worker A ready");
    const cmd = startMakemore(["grid", "-i", input, "-o", out, "--grid", grid, "--queue", redis.url]);
    procs.push(cmd);
    const started = await a.waitFor(/ start ([0-9a-f]{6}) /);
    const victim = started[1] as string;
    note(`worker A starts ${victim}`);
    const b = worker();
    // kill A once it has reported a checkpoint past the start of its job
    const ckpt = await a.waitFor(new RegExp(` checkpoint ${victim} step ([1-9]\\d+) `));
    a.killGroup();
    note(`worker A killed (SIGKILL) after its checkpoint at step ${ckpt[1]} of ${victim}`);
    const restart = await b.waitFor(new RegExp(` start ${victim} \\(job [^)]+\\) from step (\\d+)`), 60000);
    note(`worker B restarts ${victim} from step ${restart[1]}`);
    expect(Number(restart[1])).toBeGreaterThanOrEqual(Number(ckpt[1]));
    const code = await cmd.exited;
    note("grid command done");
    for (const line of b
      .output()
      .split("\n")
      .filter((l) => / (start|done) /.test(l)))
      note(`  B: ${line.slice(11)}`);
    console.log(`timeline:\n${events.join("\n")}`);
    expect(code).toBe(0);

    const rows = readResults(path.join(out, "results.csv"));
    expect(rows).toHaveLength(6);
    expect(new Set(rows.map((r) => `${r.nEmbd}/${r.nHidden}`)).size).toBe(6);
    for (const row of rows) {
      expect(row).toMatchObject({ status: "finished", steps: "8000", maxSteps: "8000" });
      const log = readRunLog(path.join(out, row.tag!, "log.csv"));
      const steps = log.filter((l) => l.tag === row.tag).map((l) => l.step);
      expect(steps).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
      const loaded = loadRun(path.join(out, row.tag!));
      expect(loaded.meta.valLoss).toBeCloseTo(Number(row.bestValLoss), 4);
      loaded.model.dispose();
    }
    // the restarted job kept the log rows of its first part: nothing twice, nothing lost
    expect(readRunLog(path.join(out, victim, "log.csv")).map((l) => l.step)).toHaveLength(9);
    // no secret in any output or file of the search
    const texts = [
      cmd.output(),
      a.output(),
      b.output(),
      ...filesUnder(out)
        .filter((f) => fs.statSync(f).isFile())
        .map((f) => fs.readFileSync(f, "latin1")),
    ];
    for (const t of texts) expect(t.includes(redis.password)).toBe(false);
    expect(cmd.output()).toContain("redis://:***@127.0.0.1:");
    b.child.kill("SIGINT");
    expect(await b.exited).toBe(0);
  },
);
