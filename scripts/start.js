#!/usr/bin/env node
// @ts-check
/**
 * `npm start` (after scripts/setup.js): Jupyter Notebook on notebooks/ with
 * the project's kernel. No browser is opened when there is no display; Jupyter
 * prints the URL with its token. Extra arguments go to Jupyter
 * (`npm start -- --port 9000`).
 */
"use strict";
const { spawn } = require("child_process");
const path = require("path");
const { root, python, jupyterPath } = require("./paths.js");

const args = ["-m", "notebook", `--notebook-dir=${path.join(root, "notebooks")}`];
const headless = process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
if (headless) args.push("--no-browser");
if (typeof process.getuid === "function" && process.getuid() === 0) args.push("--allow-root");
args.push(...process.argv.slice(2));

console.log(
  `start: Jupyter Notebook on notebooks/ with kernel "TypeScript (makemore-ts)"${headless ? " (no display: open the URL below)" : ""}`,
);
const child = spawn(python, args, {
  stdio: "inherit",
  env: { ...process.env, JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter) },
});
for (const sig of /** @type {const} */ (["SIGINT", "SIGTERM"])) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
