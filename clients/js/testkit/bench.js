// Echo throughput of the JavaScript client through `sttfast serve` over ws:// on loopback, in
// Node and in headless Chromium: 1200-byte and 64 KiB messages on one stream, messages/s and
// MB/s (payload one way, 10^6 bytes; the echo carries as much back). Prints a Markdown table.
//
//   make build && node clients/js/testkit/bench.js [small-count] [large-count]

import { connect } from "../index.js";
import { echoThroughput } from "./echo.js";
import { nodeWebSocket, newSeed, startNode } from "./helpers.js";
import { browserSkipReason, launch, pageResult } from "./browser.js";
import { serveClientFiles } from "./static.js";

const small = Number(process.argv[2] ?? 20000), large = Number(process.argv[3] ?? 400);
const [seed, seedPath] = newSeed();
const serve = await startNode("serve", seedPath);
const rows = [];
const row = (/** @type {string} */ where, /** @type {any} */ r) =>
  rows.push(`| ${where} | ${r.size === 1200 ? "1200 B" : "64 KiB"} | ${r.count} | ${Math.round(r.msgsPerSec).toLocaleString("en")} | ${r.MBps.toFixed(1)} |`);
try {
  const session = await connect(serve.url, { seed, WebSocket: nodeWebSocket() });
  await echoThroughput(session, 1200, 2000); // warm-up: JIT and key import
  row(`Node ${process.version}`, await echoThroughput(session, 1200, small));
  row(`Node ${process.version}`, await echoThroughput(session, 64 << 10, large));
  await session.close();
  const why = browserSkipReason();
  if (why) {
    rows.push(`| Chromium | skipped: ${why} | | | |`);
  } else {
    const files = await serveClientFiles();
    const browser = await launch();
    const version = await browser.version();
    const r = await pageResult(browser, `${files.origin}/testkit/page.html?mode=bench&small=${small}&large=${large}&url=${encodeURIComponent(serve.url)}&seed=${seed}`, 300000);
    if (!r.ok) throw new Error(r.error);
    row(version, r.small);
    row(version, r.large);
    await browser.close();
    await files.close();
  }
} finally {
  await serve.stop();
}
console.log("| client | message | messages | messages/s | MB/s |\n|---|---|---|---|---|\n" + rows.join("\n"));
