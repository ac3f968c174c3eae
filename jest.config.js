// @ts-check
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // the browser tests run after these, in `npm run test:browser` (reusing the notebook runs)
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/browser/"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.json", diagnostics: false }],
  },
  // Notebook runs take minutes; unit tests set their own shorter limits where needed.
  testTimeout: 600000,
  reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
  maxWorkers: 2,
};
