/**
 * Running notebooks headless for the tests: scripts/run_notebook.py executes a
 * notebook with the project kernel through nbclient, in quick mode.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const paths = require("../../scripts/paths.js") as { root: string; python: string; jupyterPath: string };

/** Folder of the notebooks. */
export const NOTEBOOK_DIR = path.join(paths.root, "notebooks");

/** Minimal view of a notebook file. */
export interface NotebookJson {
  cells: {
    cell_type: string;
    source: string | string[];
    outputs?: NotebookOutput[];
    execution_count?: number | null;
  }[];
  metadata: { kernelspec?: { name?: string; display_name?: string } };
}

/** One output of a code cell. */
export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}

/** Folder of the worked solutions of the exercises. */
export const SOLUTIONS_DIR = path.join(NOTEBOOK_DIR, "solutions");

/** The notebooks in notebooks/ (or in `dir`), sorted by name. */
export function listNotebooks(dir: string = NOTEBOOK_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
}

/** Reads a notebook file. */
export function readNotebook(file: string): NotebookJson {
  return JSON.parse(fs.readFileSync(file, "utf8")) as NotebookJson;
}

/** Result of one headless run. */
export interface NotebookRun {
  /** exit code of the runner */
  code: number;
  /** runner's stderr: the failing cell and its error, when one failed */
  stderr: string;
  /** the executed notebook */
  executed: NotebookJson | null;
  /** where the executed notebook was saved, with its outputs */
  file: string;
  /** every stdout stream output of every cell, concatenated */
  stdout: string;
  /** every display output (mime bundles) in order */
  displays: Record<string, unknown>[];
}

const text = (t: string | string[] | undefined): string => (Array.isArray(t) ? t.join("") : (t ?? ""));

/**
 * Executes a notebook in quick mode and collects its outputs; the executed copy
 * goes to test-results/notebooks/.
 *
 * A kernel that could not bind its ports is started again, once: jupyter_client
 * picks free ports before the kernel binds them, and kernels started at the same
 * moment (the tests run notebooks side by side) can pick the same one. That is
 * the launcher's race, not the notebook's failure; any other failure is returned as it is.
 * @param file - a notebook name in notebooks/, or a path.
 */
export async function runNotebook(file: string, env: NodeJS.ProcessEnv = {}): Promise<NotebookRun> {
  const run = await runNotebookOnce(file, env);
  return run.code !== 0 && /EADDRINUSE/.test(run.stderr) ? runNotebookOnce(file, env) : run;
}

function runNotebookOnce(file: string, env: NodeJS.ProcessEnv): Promise<NotebookRun> {
  const outDir = path.join(paths.root, "test-results", "notebooks");
  fs.mkdirSync(outDir, { recursive: true });
  const source = path.resolve(NOTEBOOK_DIR, file);
  const out = path.join(outDir, path.basename(source));
  if (fs.existsSync(out)) fs.unlinkSync(out);
  const child = spawn(paths.python, [path.join(paths.root, "scripts", "run_notebook.py"), source, "--out", out], {
    env: { ...process.env, MAKEMORE_QUICK: "1", JUPYTER_PATH: paths.jupyterPath, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const executed = fs.existsSync(out) ? readNotebook(out) : null;
      const outputs = (executed?.cells ?? []).flatMap((c) => c.outputs ?? []);
      resolve({
        code: code ?? 1,
        stderr,
        executed,
        file: out,
        stdout: outputs
          .filter((o) => o.output_type === "stream" && o.name === "stdout")
          .map((o) => text(o.text))
          .join(""),
        displays: outputs.filter((o) => o.output_type === "display_data").map((o) => o.data ?? {}),
      });
    });
  });
}
