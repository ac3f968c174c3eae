#!/usr/bin/env node
// @ts-check
/**
 * Jupyter kernel launcher for makemore-ts.
 *
 * tslab compiles every cell with rootDir set to the kernel's working directory,
 * so a notebook kept in notebooks/ could not import ../lib. This launcher moves
 * the kernel to the project root before tslab starts: every notebook, wherever
 * it lives, then imports the lib as "./lib" and reads data as "data/...", the
 * same in Jupyter, in nbconvert and in the tests.
 *
 * Usage (written into the kernel spec by scripts/setup.js):
 *   node scripts/kernel.js {connection_file}
 */
"use strict";
const path = require("path");

const root = path.resolve(__dirname, "..");
const configPath = process.argv[2];
if (!configPath) {
  console.error("makemore-ts kernel: missing the connection file argument");
  process.exit(2);
}
const connectionFile = path.resolve(configPath);
process.chdir(root);
// Backend choice is printed once; notebooks run in the project, not in tslab's folder.
process.env.MAKEMORE_KERNEL = "1";
const { startKernel } = require(path.join(root, "node_modules", "tslab", "dist", "main.js"));
startKernel({ configPath: connectionFile, enableFindLocal: false });
