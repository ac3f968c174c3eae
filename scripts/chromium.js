// @ts-check
/**
 * Headless Chromium for the browser tests: Debian's chromium driven by
 * playwright-core (no browser download), with a fresh profile and the flags
 * that keep it off the network.
 *
 *   const { launchChromium } = require("./scripts/chromium.js");
 *   const browser = await launchChromium();
 *   const page = await browser.context.newPage();
 *   ...
 *   await browser.close(); // also removes the profile folder
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

/**
 * Where Chromium may be, best first: MAKEMORE_CHROMIUM, then Debian's binary
 * itself (the /usr/bin/chromium wrapper script adds extension and GPU flags
 * from /etc/chromium.d), then the wrapper, then other common names.
 */
const CANDIDATES = [
  "/usr/lib/chromium/chromium",
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

/** Error with a one-line message meant for the user (no stack needed). */
class ChromiumError extends Error {}

/**
 * The Chromium executable to use.
 * @returns {string}
 * @throws {ChromiumError} when none is installed
 */
function findChromium() {
  const wanted = process.env.MAKEMORE_CHROMIUM;
  if (wanted) {
    if (!fs.existsSync(wanted)) throw new ChromiumError(`MAKEMORE_CHROMIUM=${wanted} does not exist`);
    return wanted;
  }
  const found = CANDIDATES.find((p) => fs.existsSync(p));
  if (!found) {
    throw new ChromiumError(
      "chromium is not installed: run `npm run setup` as root, or `sudo apt-get install chromium chromium-driver`",
    );
  }
  return found;
}

/** Whether the process runs as root (Chromium then needs --no-sandbox). */
function isRoot() {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * Command-line flags: headless-friendly, no GPU, and nothing that talks to
 * the network on its own (updates, sync, metrics, first-run pages).
 * playwright-core passes --headless and the fresh --user-data-dir itself.
 * @returns {string[]}
 */
function chromiumArgs() {
  return [
    ...(isRoot() ? ["--no-sandbox"] : []),
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
  ];
}

/**
 * @typedef {object} Chromium
 * @property {import("playwright-core").BrowserContext} context the browser (one persistent context)
 * @property {string} userDataDir the fresh profile folder
 * @property {string} executable the Chromium binary
 * @property {() => Promise<void>} close closes the browser and removes the profile
 */

/**
 * Starts headless Chromium with a fresh profile in a new temporary folder.
 * @param {{timeoutMs?: number, viewport?: {width: number, height: number}}} [options]
 * @returns {Promise<Chromium>}
 */
async function launchChromium(options = {}) {
  const { chromium } = require("playwright-core");
  const executable = findChromium();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "makemore-chromium-"));
  /** @type {import("playwright-core").BrowserContext} */
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: executable,
      headless: true,
      args: chromiumArgs(),
      // playwright's own defaults add no network-facing features; keep its flags except the sandbox one
      chromiumSandbox: !isRoot(),
      timeout: options.timeoutMs ?? 60000,
      viewport: options.viewport ?? { width: 1280, height: 900 },
      offline: false,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    const first = String(/** @type {Error} */ (e).message).split("\n")[0];
    throw new ChromiumError(`cannot start ${executable}: ${first}`);
  }
  let closed = false;
  return {
    context,
    userDataDir,
    executable,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await context.close();
      } finally {
        fs.rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

module.exports = { launchChromium, findChromium, chromiumArgs, ChromiumError };
