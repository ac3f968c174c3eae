#!/usr/bin/env node
// @ts-check
/**
 * Compiles the fused training kernels (wasm/kernels.ts, AssemblyScript) twice
 * from the same sources: wasm/build/kernels.wasm with 128-bit SIMD, and
 * wasm/build/kernels-relaxed.wasm with relaxed SIMD too (its matrix products
 * fuse each multiply-add). Setup calls it when a binary is missing or was
 * built from another source or compiler version (one stamp file beside them
 * records both, for both builds); `npm run build:kernels` forces a build.
 *
 * Both builds import their memory, shared (`env.memory`, up to 4 GiB): the
 * lib's KernelMemory makes one, and a pool of worker threads instantiates the
 * same module on it (lib/engines/kernel-pool.ts). The kernels keep no state
 * but their static constants, which every instantiation writes with the same
 * bytes.
 *
 * Exits non-zero with one line starting with "build-kernels:" on failure; a
 * failed build leaves the previous binaries in place.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { createHash } = require("crypto");
const { spawnSync } = require("child_process");
const v8 = require("v8");

const root = path.resolve(__dirname, "..");
const ascDir = path.join(root, "node_modules", "assemblyscript");
/** The project's kernels: source and output. */
const DEFAULT = {
  source: path.join(root, "wasm", "kernels.ts"),
  out: path.join(root, "wasm", "build", "kernels.wasm"),
};

/** @typedef {{source: string, out: string}} Paths */

/** Pages of 64 KiB the shared memory may grow to: wasm32's whole 4 GiB (lib/engines/kernels.ts: KERNEL_MAX_PAGES). */
const MAX_PAGES = 65536;

/** What both builds share: SIMD, and a shared memory imported from the loader. */
const COMMON_FLAGS = ["--enable", "simd", "--enable", "threads", "--importMemory", "--sharedMemory"];

/** The builds: each one's name, file suffix and the compiler's extra flags. */
const BUILDS = [
  { name: "plain", suffix: "", flags: [] },
  { name: "relaxed", suffix: "-relaxed", flags: ["--enable", "relaxed-simd"] },
];

/**
 * The file of one build (`out` is the plain one's).
 * @param {string} out
 * @param {string} suffix
 */
function buildFile(out, suffix) {
  return out.replace(/\.wasm$/, "") + suffix + ".wasm";
}

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
  const flags = [...COMMON_FLAGS, MAX_PAGES].join(" ");
  return `${hash} assemblyscript@${version} builds:${BUILDS.map((b) => b.name).join(",")} ${flags}\n`;
}

/**
 * Whether both binaries are there and match the source and the compiler.
 * @param {Paths} [paths]
 */
function upToDate(paths = DEFAULT) {
  const file = stampFile(paths.out);
  const built = BUILDS.every((b) => fs.existsSync(buildFile(paths.out, b.suffix)));
  return built && fs.existsSync(file) && fs.readFileSync(file, "utf8") === stamp(paths);
}

/**
 * Compiles one build into a temporary file beside its binary and returns that file;
 * throws an Error with one line on failure.
 * @param {Paths} paths
 * @param {{name: string, suffix: string, flags: string[]}} b
 */
function compile(paths, b) {
  const { source, out } = paths;
  const tmp = `${buildFile(out, b.suffix)}.${process.pid}.tmp`;
  const args = [path.join(ascDir, "bin", "asc.js"), source, "-O3", "--runtime", "stub", ...COMMON_FLAGS];
  args.push("--maximumMemory", String(MAX_PAGES));
  args.push(...b.flags, "--noAssert", "--outFile", tmp);
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
  return tmp;
}

/**
 * Whether a binary instantiates here and exports the kernels. Node 20 runs relaxed SIMD behind
 * a V8 flag (set as lib/engines/kernels.ts sets it before loading).
 * @param {string} file
 */
function loads(file) {
  // the global WebAssembly API, typed by hand: the project's TypeScript setup has no DOM library
  const wasm =
    /** @type {{Module: new (b: Buffer) => object, Instance: new (m: object, i: object) => {exports: Record<string, unknown>}, Memory: new (d: object) => object, validate(b: Buffer): boolean}} */ (
      /** @type {unknown} */ (/** @type {Record<string, unknown>} */ (globalThis).WebAssembly)
    );
  const bytes = fs.readFileSync(file);
  if (!wasm.validate(bytes)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  const memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const inst = new wasm.Instance(new wasm.Module(bytes), { env: { memory, abort: () => {} } });
  return typeof inst.exports.gemm === "function";
}

/**
 * Builds both binaries; throws an Error with one line on failure (the old binaries stay:
 * they are replaced only when both compiled and load).
 * @param {Paths} paths
 */
function build(paths) {
  fs.mkdirSync(path.dirname(paths.out), { recursive: true });
  /** @type {string[]} */
  const tmps = [];
  try {
    for (const b of BUILDS) tmps.push(compile(paths, b));
    for (const tmp of tmps) {
      if (!loads(tmp))
        throw new Error(`the kernels compiled from ${path.relative(root, paths.source)} do not export gemm`);
    }
  } catch (e) {
    for (const tmp of tmps) fs.rmSync(tmp, { force: true });
    throw e;
  }
  BUILDS.forEach((b, i) => fs.renameSync(/** @type {string} */ (tmps[i]), buildFile(paths.out, b.suffix)));
  fs.writeFileSync(stampFile(paths.out), stamp(paths));
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
  const files = BUILDS.map((b) => path.relative(root, buildFile(paths.out, b.suffix)));
  options.log?.(`fused kernels built into ${files.join(" and ")}`);
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
