// Makes demo/screenshot.png: starts a relay on ws:// loopback, the feed publisher, a local http
// server for clients/js, opens the demo page in headless Chromium, waits for data to arrive and
// captures the page. Needs bin/sttfast, chromium and puppeteer-core (.ci/setup-chromium).
//
//   node clients/js/demo/screenshot.js

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { newSeed, startNode } from "../testkit/helpers.js";
import { browserSkipReason, launch } from "../testkit/browser.js";
import { serveClientFiles } from "../testkit/static.js";

const why = browserSkipReason();
if (why) { console.error(`sttfast: screenshot: ${why}`); process.exit(1); }
const [seed, seedPath] = newSeed();
const relay = await startNode("relay", seedPath, ["--interval", "0"]);
const files = await serveClientFiles();
const browser = await launch();
const page = await browser.newPage();
await page.setViewport({ width: 960, height: 560 });
await page.goto(`${files.origin}/demo/?url=${encodeURIComponent(relay.url)}&seed=${seed}`);
await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("connected"), { timeout: 20000 });
const feed = spawn(process.execPath, [fileURLToPath(new URL("./feed.js", import.meta.url)), relay.url, seedPath, "25"], { stdio: "inherit" });
await page.waitForFunction(() => (/** @type {any} */ (window).sttDemo?.received ?? 0) >= 300, { timeout: 60000, polling: 100 });
// The seed stays out of the picture.
await page.evaluate(() => { /** @type {HTMLInputElement} */ (document.querySelector("input[name=seed]")).value = "(seed hidden)"; });
const out = fileURLToPath(new URL("./screenshot.png", import.meta.url));
await page.screenshot({ path: out });
console.log(`wrote ${out}`);
feed.kill("SIGTERM");
await browser.close();
await files.close();
await relay.stop();
