// The echo check inside headless Chromium: the page (testkit/page.html) imports the client from a
// local http server, connects to sttfast serve over ws://, echoes 10 000 messages and reports;
// the test reads the result; the same inside a Web Worker, and the demo page. Skips, saying why, without chromium or puppeteer-core.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { skipReason, newSeed, startNode } from "../testkit/helpers.js";
import { browserSkipReason, launch, pageResult } from "../testkit/browser.js";
import { serveClientFiles } from "../testkit/static.js";

const skip = skipReason() || browserSkipReason() || false;
const [seed, seedPath] = newSeed();
/** @type {any} */ let serve, files, browser;

before(async () => {
  if (skip) return;
  serve = await startNode("serve", seedPath);
  files = await serveClientFiles();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await files?.close();
  await serve?.stop();
});

test("Chromium: 10 000 messages echoed byte-exact through sttfast serve", { skip, timeout: 180000 }, async () => {
  const url = `${files.origin}/testkit/page.html?mode=echo&count=10000&url=${encodeURIComponent(serve.url)}&seed=${seed}`;
  const r = await pageResult(browser, url, 150000);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.echoed, 10000);
  assert.equal(r.bad, -1, `first differing message: ${r.bad}`);
  assert.equal(r.ended, true);
  assert.equal(r.closed.code, 0);
});

test("Chromium: the echo inside a module Web Worker", { skip, timeout: 120000 }, async () => {
  const url = `${files.origin}/testkit/page.html?mode=worker&count=2000&url=${encodeURIComponent(serve.url)}&seed=${seed}`;
  const r = await pageResult(browser, url, 100000);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.inWorker, true);
  assert.equal(r.echoed, 2000);
  assert.equal(r.bad, -1);
  assert.equal(r.ended, true);
});

test("Chromium: a wrong seed is refused with the clear error", { skip, timeout: 60000 }, async () => {
  const [other] = newSeed();
  const url = `${files.origin}/testkit/page.html?mode=echo&count=1&timeout=2000&url=${encodeURIComponent(serve.url)}&seed=${other}`;
  const r = await pageResult(browser, url, 30000);
  assert.equal(r.ok, false);
  assert.match(r.error, /the seed was refused/);
});

test("Chromium: the demo page plots a relay's live feed", { skip, timeout: 90000 }, async () => {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const [s2, p2] = newSeed();
  const relay = await startNode("relay", p2, ["--interval", "0"]);
  const page = await browser.newPage();
  /** @type {import("node:child_process").ChildProcess|undefined} */ let feed;
  try {
    await page.goto(`${files.origin}/demo/?url=${encodeURIComponent(relay.url)}&seed=${s2}`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("connected"), { timeout: 30000 });
    feed = spawn(process.execPath, [fileURLToPath(new URL("../demo/feed.js", import.meta.url)), relay.url, p2, "10"], { stdio: "ignore" });
    await page.waitForFunction(() => (/** @type {any} */ (window).sttDemo?.received ?? 0) >= 20, { timeout: 60000, polling: 100 });
    const latest = await page.evaluate(() => /** @type {any} */ (window).sttDemo.latest);
    assert.ok(latest > 5 && latest < 35, `a plausible value: ${latest}`);
  } finally {
    feed?.kill("SIGTERM");
    await page.close();
    await relay.stop();
  }
});
