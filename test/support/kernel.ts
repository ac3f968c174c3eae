/**
 * A real kernel session against a throwaway copy of the project, for the tests
 * that edit files while a notebook is open: lib/ and the kernel launcher are
 * copied into a temporary folder, node_modules and wasm/ are linked, and a
 * kernel spec for that copy is written to its own .jupyter/. The checkout is
 * never changed. test/support/kernel_session.py drives the kernel.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string; python: string };

/** Kernel name of the throwaway copies. */
const KERNEL = "makemore-ts-copy";

/** One step of a session (see test/support/kernel_session.py). */
export type SessionStep =
  | { exec: string; wait?: boolean }
  | { await: true }
  | { write: string; text: string }
  | { remove: string }
  | { rename: [string, string] }
  | { sleep: number };

/** What one cell did. */
export interface CellResult {
  code: string;
  /** execute_reply status: "ok", "error" or "abort" */
  status: string | null;
  stdout: string;
  stderr: string;
  /** "name: message" of an error output, if any */
  error: string | null;
  displays: Record<string, unknown>[];
}

/** The results of a session; `fatal` says why it ended early (a dead kernel, a timeout). */
export interface SessionResult {
  results: CellResult[];
  fatal: string | null;
  /** the driver's progress lines: one per cell, with its time and status */
  log: string;
}

/** A temporary copy of the project that a kernel can run in. */
export interface ProjectCopy {
  root: string;
  /** reads a file of the copy */
  read(rel: string): string;
  /** writes a file of the copy */
  write(rel: string, text: string): void;
  /** removes the copy */
  remove(): void;
}

/** Copies lib/ and the launcher into a temporary project with a kernel spec of its own. */
export function copyProject(): ProjectCopy {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "makemore-kernel-")));
  fs.cpSync(path.join(paths.root, "lib"), path.join(root, "lib"), { recursive: true });
  fs.mkdirSync(path.join(root, "scripts"));
  fs.copyFileSync(path.join(paths.root, "scripts", "kernel.js"), path.join(root, "scripts", "kernel.js"));
  fs.mkdirSync(path.join(root, "notebooks"));
  for (const linked of ["node_modules", "wasm"]) fs.symlinkSync(path.join(paths.root, linked), path.join(root, linked));
  const spec = path.join(root, ".jupyter", "kernels", KERNEL);
  fs.mkdirSync(spec, { recursive: true });
  const argv = [process.execPath, path.join(root, "scripts", "kernel.js"), "{connection_file}"];
  fs.writeFileSync(
    path.join(spec, "kernel.json"),
    JSON.stringify({ argv, display_name: "makemore-ts copy", language: "typescript" }),
  );
  return {
    root,
    read: (rel) => fs.readFileSync(path.join(root, rel), "utf8"),
    write: (rel, text) => fs.writeFileSync(path.join(root, rel), text),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Runs the steps in one kernel session of the copy; resolves with every cell's
 * result. A cell may take `cellSeconds`, the whole session `totalSeconds`. The
 * driver writes its results and progress to files of the copy (the kernel
 * inherits no pipe of ours, so nothing waits on a kernel left behind).
 */
export function runSession(
  copy: ProjectCopy,
  steps: SessionStep[],
  { cellSeconds = 240, totalSeconds = 480 } = {},
): Promise<SessionResult> {
  const resultsFile = path.join(copy.root, "session.json");
  const logFile = path.join(copy.root, "session.log");
  const script = JSON.stringify({ kernel: KERNEL, root: copy.root, results: resultsFile, timeout: cellSeconds, steps });
  const logFd = fs.openSync(logFile, "a");
  const child = spawn(paths.python, [path.join(__dirname, "kernel_session.py")], {
    env: { ...process.env, JUPYTER_PATH: path.join(copy.root, ".jupyter") },
    stdio: ["pipe", logFd, logFd],
    // its own process group: a session that overruns is stopped as a whole
    detached: true,
  });
  fs.closeSync(logFd);
  child.stdin?.end(script);
  const stopGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // the group has exited
    }
  };
  // SIGTERM lets the driver shut its kernel down; SIGKILL ends whatever is left
  const timer = setTimeout(() => {
    stopGroup("SIGTERM");
    setTimeout(() => stopGroup("SIGKILL"), 10000).unref();
  }, totalSeconds * 1000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
      if (code !== 0 || !fs.existsSync(resultsFile)) {
        reject(new Error(`kernel_session.py ended with ${signal ?? `exit code ${code}`}:\n${log}`));
        return;
      }
      resolve({ ...(JSON.parse(fs.readFileSync(resultsFile, "utf8")) as Omit<SessionResult, "log">), log });
    });
  });
}
