/**
 * Helpers of the CLI tests: running bin/makemore.js as a child process,
 * temporary folders, and a small synthetic dataset of name-like words.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Generator } from "../../lib/random/generator";
import { main } from "../../cli/main";

/** The project root. */
export const ROOT = path.resolve(__dirname, "..", "..");

/** The CLI entry the package's "bin" points at. */
export const BIN = path.join(ROOT, "bin", "makemore.js");

/** What a finished CLI process left behind. */
export interface CliResult {
  /** exit code (null when killed by a signal) */
  code: number | null;
  /** everything written to stdout */
  stdout: string;
  /** everything written to stderr */
  stderr: string;
}

/** Options of {@link spawnCli} and {@link runCli}. */
export interface CliOptions {
  /** working folder (default: the project root) */
  cwd?: string;
  /** extra environment (MAKEMORE_BACKEND defaults to wasm) */
  env?: NodeJS.ProcessEnv;
}

/** Starts `node bin/makemore.js ...args` with piped output. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, MAKEMORE_BACKEND: "wasm", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Collects a child's output until it exits. */
export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI to the end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return finished(spawnCli(args, options));
}

/** A new empty temporary folder. */
export function tempDir(prefix = "mm-cli-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** `n` name-like words (syllables drawn with a seeded generator), all lowercase a-z. */
export function syntheticNames(n: number, seed = 1): string[] {
  const g = new Generator(seed);
  const onsets = [
    "b",
    "br",
    "c",
    "d",
    "el",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "sh",
    "t",
    "v",
    "z",
  ];
  const vowels = ["a", "e", "i", "o", "u", "ia", "ie", "y"];
  const codas = ["", "", "n", "l", "r", "s", "th", "x", "q", "w"];
  return Array.from({ length: n }, () => {
    const parts = g.randint(1, 4);
    let w = "";
    for (let p = 0; p < parts; p++) {
      w += (onsets[g.randint(0, onsets.length)] as string) + (vowels[g.randint(0, vowels.length)] as string);
    }
    return w + (codas[g.randint(0, codas.length)] as string);
  });
}

/** Writes `n` synthetic names to dir/names.txt and returns the path. */
export function writeNames(dir: string, n = 300): string {
  const file = path.join(dir, "names.txt");
  fs.writeFileSync(file, syntheticNames(n).join("\n") + "\n");
  return file;
}

/** Resolves once `pattern` shows up in the child's stderr (or rejects when it exits first). */
export function waitForStderr(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (d: Buffer): void => {
      seen += d.toString("utf8");
      const m = pattern.exec(seen);
      if (m) {
        child.stderr?.removeListener("data", onData);
        resolve(m[0]);
      }
    };
    child.stderr?.on("data", onData);
    child.on("close", () => reject(new Error(`exited before printing ${pattern}; stderr: ${seen}`)));
  });
}

/** A plain progress line (stderr is not a terminal): a training command prints one a second into training, then one every 5 s. */
const PROGRESS_LINE = /^\S+ step \d+\/\d+ \(\d+%\) {2}loss /;

/**
 * Asserts an error exit: the code, and stderr is exactly one line matching `message`. With
 * `trained: true`, the command trained before it failed, so the progress lines it printed are left out
 * (on a loaded machine a run that diverges at step 2 can take over a second to get there).
 */
export function expectError(
  r: CliResult,
  code: number,
  message: string | RegExp,
  { trained = false }: { trained?: boolean } = {},
): void {
  const lines = r.stderr
    .trimEnd()
    .split("\n")
    .filter((l) => !(trained && PROGRESS_LINE.test(l)));
  expect({ code: r.code, lines }).toEqual({ code, lines: [expect.anything()] });
  if (typeof message === "string") expect(lines[0]).toBe(message);
  else expect(lines[0]).toMatch(message);
}

/** Runs the CLI in this process (same program, no process start-up), capturing its output. */
export async function inProcess(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
  const code = await main(args, { ...io, outIsTTY: false, errIsTTY: false });
  return { code, stdout, stderr };
}
