// @ts-check
/**
 * Jest configuration of the browser tests (`npm run test:browser`): the
 * project's configuration, limited to test/browser/. Run after the notebook
 * tests, the book test reuses their executed notebooks (test-results/notebooks/).
 */
const base = require("../../jest.config.js");

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  rootDir: "../..",
  roots: ["<rootDir>/test/browser"],
  testPathIgnorePatterns: ["/node_modules/"],
  reporters: ["default"],
};
