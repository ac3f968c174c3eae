// @ts-check
/**
 * Jest reporter that ends the run with the plain totals line CI reads,
 * `jest: N passed, N failed`, and writes it to test-results/summary.txt.
 */
"use strict";
const fs = require("fs");
const path = require("path");

class SummaryReporter {
  /**
   * @param {unknown} _contexts
   * @param {import("@jest/reporters").AggregatedResult} results
   */
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `jest: ${results.numPassedTests} passed, ${failed} failed`;
    const dir = path.resolve(__dirname, "..", "..", "test-results");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "summary.txt"), line + "\n");
    process.stdout.write("\n" + line + "\n");
  }
}
module.exports = SummaryReporter;
