/**
 * The bench's wall-time row: makemore.py's default run as its users time it,
 * from process start to exit. PyTorch's twin (bench/torch_run.py: the
 * Transformer on names, loss printed every 10 steps, train and test losses
 * estimated every 500 steps, 10 samples every 200) against `makemore train`
 * doing the same (the same model, optimizer, steps and evaluation cadence; it
 * samples 10 lines at the end instead, and its evaluations are its own).
 *
 * @module
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defaultThreads } from "../lib/engines/kernel-pool";
import { threadCounts, torchEnv } from "./threads";

/** One whole run: who ran it, on how many threads, and how long it took. */
export interface WallRow {
  run: "makemore train" | "pytorch twin";
  threads: number;
  steps: number;
  wall_s: number;
  exit_code: number | null;
  /** wall seconds / the faster PyTorch run's */
  torch_ratio?: number | null;
}

const root = path.resolve(__dirname, "..");

/** Runs a command to its exit (its standard error kept in `errFile`); its wall seconds and exit code. */
function timed(
  cmd: string,
  args: string[],
  errFile: string,
  env: NodeJS.ProcessEnv = process.env,
): { wall_s: number; exit_code: number | null } {
  const err = fs.openSync(errFile, "w");
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "ignore", err], env });
  const wall_s = (performance.now() - t0) / 1000;
  fs.closeSync(err);
  if (r.status !== 0) {
    const last = fs.readFileSync(errFile, "utf8").trim().split("\n").pop() ?? "";
    console.log(`bench: ${path.basename(cmd)} exited ${String(r.status ?? r.signal)}: ${last}`);
  }
  return { wall_s, exit_code: r.status };
}

/**
 * The wall-time rows: ours (1 thread), then PyTorch's twin at 1 thread and at
 * every core when `python` is given; ratios against the faster PyTorch run.
 */
export function runWall(steps: number, python: string | null, log: (line: string) => void): WallRow[] {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-wall-"));
  const rows: WallRow[] = [];
  try {
    log(`bench: wall time of makemore train, transformer on names, ${steps} steps ...`);
    const cli = [path.join(root, "bin", "makemore.js"), "train", "-i", "names", "--model", "transformer"];
    cli.push("--max-steps", String(steps), "--eval-every", "500", "-o", path.join(scratch, "ours"));
    rows.push({
      run: "makemore train",
      threads: defaultThreads(), // the CLI's default: every core (or 1 where timed steps ran faster so)
      steps,
      ...timed(process.execPath, cli, path.join(scratch, "ours.err")),
    });
    const names = path.join(root, "data", "names.txt");
    for (const threads of python ? threadCounts() : []) {
      log(`bench: wall time of the PyTorch twin (${threads} thread${threads > 1 ? "s" : ""}) ...`);
      const args = [path.join(__dirname, "torch_run.py"), names, path.join(scratch, `torch${threads}`)];
      const err = path.join(scratch, `torch${threads}.err`);
      rows.push({
        run: "pytorch twin",
        threads,
        steps,
        ...timed(python as string, [...args, String(steps), String(threads)], err, torchEnv(threads)),
      });
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const torch = rows.filter((r) => r.run === "pytorch twin" && r.exit_code === 0).map((r) => r.wall_s);
  const anchor = torch.length > 0 ? Math.min(...torch) : null;
  for (const r of rows) r.torch_ratio = anchor === null ? null : r.wall_s / anchor;
  return rows;
}
