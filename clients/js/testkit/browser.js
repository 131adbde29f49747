// Headless Chromium for the tests, the benchmark and the demo screenshot: Debian's chromium
// driven by puppeteer-core (no browser download), as .ci/setup-chromium installs them.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { root } from "./helpers.js";

/** The system browser, or "" when there is none. */
export function chromiumPath() {
  for (const p of [process.env.CHROMIUM ?? "", "/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (p && existsSync(p)) return p;
  return "";
}

/** The puppeteer-core module from the repository's node_modules, or null. */
export function puppeteer() {
  try {
    return createRequire(root + "package.json")("puppeteer-core");
  } catch {
    return null;
  }
}

/** Why the browser tests cannot run here, or "". */
export function browserSkipReason() {
  if (!chromiumPath()) return "no chromium (run .ci/setup-chromium)";
  if (!puppeteer()) return "no npm puppeteer-core in node_modules (run .ci/setup-chromium)";
  return "";
}

/** Launches headless Chromium (--no-sandbox: CI runs as root, where the sandbox cannot start). */
export function launch() {
  return puppeteer().launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/**
 * Opens url in a new page and waits for window.sttResult.
 * @param {any} browser @param {string} url @param {number} timeoutMs
 */
export async function pageResult(browser, url, timeoutMs) {
  const page = await browser.newPage();
  /** @type {string[]} */ const console_ = [];
  page.on("console", (m) => console_.push(m.text()));
  page.on("pageerror", (e) => console_.push(String(e)));
  try {
    await page.goto(url);
    await page.waitForFunction(() => /** @type {any} */ (window).sttResult, { timeout: timeoutMs, polling: 100 });
    return await page.evaluate(() => /** @type {any} */ (window).sttResult);
  } catch (err) {
    throw new Error(`${err}; page console: ${console_.join(" | ")}`);
  } finally {
    await page.close();
  }
}
