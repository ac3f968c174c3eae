/**
 * A throwaway Jupyter Notebook server for the browser tests: loopback only, a
 * free port, a random token, its own config/runtime folders and a temporary
 * notebook folder (so nothing the test runs is ever saved into notebooks/).
 */
import { spawn, type ChildProcess } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../../scripts/paths.js") as { root: string; python: string; jupyterPath: string };

/** A running server. */
export interface JupyterServer {
  /** base URL, e.g. http://127.0.0.1:40123/ */
  url: string;
  /** the token every request needs */
  token: string;
  /** folder the server serves notebooks from (a temporary copy) */
  notebookDir: string;
  /** everything the server printed so far */
  log(): string;
  /** stops the server and its kernels, removes its folders; safe to call twice */
  stop(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** GET a URL; resolves with the status code (0 when nothing answers), never rejects. */
function status(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a child to exit, at most `ms`; resolves whether it did. */
function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts `jupyter notebook --no-browser` on 127.0.0.1 with the project's
 * kernel, serving copies of `notebooks`, and waits (at most `timeoutMs`)
 * until its API answers.
 * @param notebooks - notebook files to copy into the served folder
 * @param env - extra environment for the server and its kernels (e.g. MAKEMORE_QUICK)
 */
export async function startJupyter(
  notebooks: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60000,
): Promise<JupyterServer> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-jupyter-"));
  const notebookDir = path.join(base, "notebooks");
  for (const d of [notebookDir, path.join(base, "config"), path.join(base, "runtime"), path.join(base, "data")]) {
    fs.mkdirSync(d, { recursive: true });
  }
  for (const nb of notebooks) fs.copyFileSync(nb, path.join(notebookDir, path.basename(nb)));
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const args = [
    "-m",
    "notebook",
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--port-retries=0",
    `--NotebookApp.token=${token}`,
    `--notebook-dir=${notebookDir}`,
    // no autosave prompts or checkpoints worth keeping: the folder is thrown away
    "--NotebookApp.open_browser=False",
  ];
  if (typeof process.getuid === "function" && process.getuid() === 0) args.push("--allow-root");
  const child = spawn(paths.python, args, {
    cwd: base,
    // own process group, so stop() also reaches the kernels the server started
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      JUPYTER_PATH: paths.jupyterPath,
      JUPYTER_CONFIG_DIR: path.join(base, "config"),
      JUPYTER_RUNTIME_DIR: path.join(base, "runtime"),
      JUPYTER_DATA_DIR: path.join(base, "data"),
      ...env,
    },
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const pid = child.pid;
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-pid, "SIGTERM");
      } catch {
        // already gone
      }
      if (!(await exited(child, 15000))) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
        await exited(child, 5000);
      }
    }
    // kernels run in the same process group; make sure none is left behind
    if (pid !== undefined) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // the group is empty
      }
    }
    fs.rmSync(base, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`jupyter notebook exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`);
      }
      if ((await status(`${url}api/status?token=${token}`)) === 200) break;
      if (Date.now() > deadline) throw new Error(`jupyter notebook did not answer within ${timeoutMs} ms:\n${output}`);
      await sleep(250);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, token, notebookDir, log: () => output, stop };
}
