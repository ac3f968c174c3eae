#!/usr/bin/env node
// The `makemore` command: registers tsx (so Node runs the TypeScript CLI
// directly) and hands over to cli/main.ts. `--backend X` is also put in
// MAKEMORE_BACKEND before the lib loads, so lib/runtime/tf.ts picks the matching
// TensorFlow.js build.
"use strict";

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i] || "";
  if (a === "--") break;
  const value = a === "--backend" ? args[i + 1] : a.startsWith("--backend=") ? a.slice("--backend=".length) : undefined;
  if (value === "node" || value === "wasm" || value === "cpu") process.env.MAKEMORE_BACKEND = value;
}

// @ts-expect-error -- tsx/cjs has no types under the project's node10 module resolution
require("tsx/cjs");
require("../cli/main").run();
