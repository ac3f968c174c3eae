#!/usr/bin/env node
// @ts-check
/**
 * Compiles the fused training kernels (wasm/kernels.ts, AssemblyScript) into
 * wasm/build/kernels.wasm with SIMD enabled. Setup calls it when the binary is
 * missing or was built from another source or compiler version (a stamp file
 * beside it records both); `npm run build:kernels` forces a build.
 *
 * Exits non-zero with one line starting with "build-kernels:" on failure; a
 * failed build leaves the previous binary in place.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { createHash } = require("crypto");
const { spawnSync } = require("child_process");

const root = path.resolve(__dirname, "..");
const ascDir = path.join(root, "node_modules", "assemblyscript");
/** The project's kernels: source and output. */
const DEFAULT = {
  source: path.join(root, "wasm", "kernels.ts"),
  out: path.join(root, "wasm", "build", "kernels.wasm"),
};

/** @typedef {{source: string, out: string}} Paths */

/** @param {string} out */
function stampFile(out) {
  return out.replace(/\.wasm$/, "") + ".stamp";
}

/**
 * What the binary must have been built from: the hash of the sources (the entry and
 * every other .ts file in its folder) and the compiler version.
 * @param {Paths} paths
 */
function stamp(paths) {
  const version = JSON.parse(fs.readFileSync(path.join(ascDir, "package.json"), "utf8")).version;
  // the entry re-exports kernels from the other .ts files beside it: all of them make the binary
  const dir = path.dirname(paths.source);
  const sources = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .sort();
  const h = createHash("sha256");
  for (const f of sources) h.update(`${f}\0`).update(fs.readFileSync(path.join(dir, f)));
  const hash = h.digest("hex");
  return `${hash} assemblyscript@${version}\n`;
}

/**
 * Whether the binary matches the source and the compiler.
 * @param {Paths} [paths]
 */
function upToDate(paths = DEFAULT) {
  const file = stampFile(paths.out);
  return fs.existsSync(paths.out) && fs.existsSync(file) && fs.readFileSync(file, "utf8") === stamp(paths);
}

/**
 * Builds the kernels; throws an Error with one line on failure (the old binary stays).
 * @param {Paths} paths
 */
function build(paths) {
  const { source, out } = paths;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [
    path.join(ascDir, "bin", "asc.js"),
    source,
    "-O3",
    "--runtime",
    "stub",
    "--enable",
    "simd",
    "--noAssert",
    "--outFile",
    tmp,
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
  if (r.status !== 0 || !fs.existsSync(tmp)) {
    fs.rmSync(tmp, { force: true });
    const first =
      `${r.stderr || ""}${r.stdout || ""}`
        .trim()
        .split("\n")
        .find((l) => l.trim()) ?? "no output";
    throw new Error(`compiling ${path.relative(root, source)} failed: ${first.trim()}`);
  }
  // the binary must instantiate and export the kernels before it replaces the old one
  // (the global WebAssembly API, typed by hand: the project's TypeScript setup has no DOM library)
  const wasm =
    /** @type {{Module: new (b: Buffer) => object, Instance: new (m: object, i: object) => {exports: Record<string, unknown>}}} */ (
      /** @type {unknown} */ (/** @type {Record<string, unknown>} */ (globalThis).WebAssembly)
    );
  const inst = new wasm.Instance(new wasm.Module(fs.readFileSync(tmp)), { env: { abort: () => {} } });
  if (typeof inst.exports.gemm !== "function") {
    fs.rmSync(tmp, { force: true });
    throw new Error(`the kernels compiled from ${path.relative(root, source)} do not export gemm`);
  }
  fs.renameSync(tmp, out);
  fs.writeFileSync(stampFile(out), stamp(paths));
}

/**
 * Builds when needed (or always with force).
 * @param {{force?: boolean, log?: (msg: string) => void, paths?: Paths}} [options]
 * @returns {boolean} whether it built
 */
function ensureKernels(options = {}) {
  const paths = options.paths ?? DEFAULT;
  if (!options.force && upToDate(paths)) return false;
  build(paths);
  options.log?.(`fused kernels built into ${path.relative(root, paths.out)}`);
  return true;
}

module.exports = { ensureKernels, upToDate, DEFAULT };

if (require.main === module) {
  try {
    ensureKernels({ force: true, log: (m) => console.log(`build-kernels: ${m}`) });
  } catch (e) {
    console.error(`build-kernels: ${/** @type {Error} */ (e).message}`);
    process.exit(1);
  }
}
