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
const source = path.join(root, "wasm", "kernels.ts");
const outDir = path.join(root, "wasm", "build");
const out = path.join(outDir, "kernels.wasm");
const stampFile = path.join(outDir, "kernels.stamp");
const ascDir = path.join(root, "node_modules", "assemblyscript");

/** @returns {string} what the binary must have been built from: source hash and compiler version */
function stamp() {
  const version = JSON.parse(fs.readFileSync(path.join(ascDir, "package.json"), "utf8")).version;
  const hash = createHash("sha256").update(fs.readFileSync(source)).digest("hex");
  return `${hash} assemblyscript@${version}\n`;
}

/** @returns {boolean} whether wasm/build/kernels.wasm matches the source and compiler */
function upToDate() {
  return fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp();
}

/** Builds the kernels; throws an Error with one line on failure. */
function build() {
  fs.mkdirSync(outDir, { recursive: true });
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
    throw new Error(`compiling wasm/kernels.ts failed: ${first}`);
  }
  // the binary must instantiate and run before it replaces the old one
  // (the global WebAssembly API, typed by hand: the project's TypeScript setup has no DOM library)
  const wasm =
    /** @type {{Module: new (b: Buffer) => object, Instance: new (m: object, i: object) => {exports: Record<string, unknown>}}} */ (
      /** @type {unknown} */ (/** @type {Record<string, unknown>} */ (globalThis).WebAssembly)
    );
  const inst = new wasm.Instance(new wasm.Module(fs.readFileSync(tmp)), { env: { abort: () => {} } });
  if (typeof inst.exports.gemm !== "function") {
    fs.rmSync(tmp, { force: true });
    throw new Error("the compiled kernels do not export gemm");
  }
  fs.renameSync(tmp, out);
  fs.writeFileSync(stampFile, stamp());
}

/**
 * Builds when needed (or always with force).
 * @param {{force?: boolean, log?: (msg: string) => void}} [options]
 * @returns {boolean} whether it built
 */
function ensureKernels(options = {}) {
  if (!options.force && upToDate()) return false;
  build();
  options.log?.(`fused kernels built into ${path.relative(root, out)}`);
  return true;
}

module.exports = { ensureKernels, upToDate, out };

if (require.main === module) {
  try {
    ensureKernels({ force: true, log: (m) => console.log(`build-kernels: ${m}`) });
  } catch (e) {
    console.error(`build-kernels: ${/** @type {Error} */ (e).message}`);
    process.exit(1);
  }
}
