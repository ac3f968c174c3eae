#!/usr/bin/env node
// @ts-check
/**
 * `npm run native`: the opt-in native TensorFlow backend.
 *
 * @tensorflow/tfjs-node downloads libtensorflow while it installs, which fails
 * on machines without that download, so it is not a dependency of the project
 * (npm ci must never fail because of it). This script installs it into
 * .native/ (a separate package folder, ignored by git) and checks that the
 * binding loads and runs. lib/runtime/tf.ts picks it up at run time when it works.
 * `npm run native -- --remove` deletes it again.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");
const { root } = require("./paths.js");

const dir = path.join(root, ".native");
const version = require(path.join(root, "node_modules", "@tensorflow", "tfjs", "package.json")).version;

if (process.argv.includes("--remove")) {
  fs.rmSync(dir, { recursive: true, force: true });
  console.log("native: removed .native/; the wasm or cpu backend will be used");
  process.exit(0);
}

fs.mkdirSync(dir, { recursive: true });
const pkg = path.join(dir, "package.json");
if (!fs.existsSync(pkg)) {
  const manifest = { name: "makemore-ts-native", private: true, allowScripts: { "@tensorflow/tfjs-node": true } };
  fs.writeFileSync(pkg, JSON.stringify(manifest, null, 2) + "\n");
}
console.log(`native: installing @tensorflow/tfjs-node@${version} into .native/ (it downloads libtensorflow)`);
const install = spawnSync(
  "npm",
  ["install", "--no-audit", "--no-fund", "--foreground-scripts", `@tensorflow/tfjs-node@${version}`],
  { cwd: dir, stdio: "inherit" },
);
if (install.status !== 0) {
  console.error(
    "native: installing @tensorflow/tfjs-node failed (its libtensorflow download needs network access); wasm stays in use",
  );
  process.exit(1);
}
const check = spawnSync(
  process.execPath,
  [
    "-e",
    "const tf = require(process.argv[1]); if (tf.getBackend() !== 'tensorflow') throw new Error('backend ' + tf.getBackend()); console.log(tf.matMul(tf.ones([2,2]), tf.ones([2,2])).sum().dataSync()[0])",
    path.join(dir, "node_modules", "@tensorflow", "tfjs-node"),
  ],
  { encoding: "utf8" },
);
if (check.status !== 0 || check.stdout.trim() !== "8") {
  const why = (check.stderr || check.stdout).trim().split("\n").pop();
  console.error(`native: tfjs-node installed but does not run here (${why}); wasm stays in use`);
  process.exit(1);
}
console.log("native: tfjs-node works; notebooks and tests now use the node backend (MAKEMORE_BACKEND=wasm to compare)");
