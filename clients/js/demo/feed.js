// Publishes a live numeric feed to a `sttfast relay` for the demo page: every 50 ms one message,
// a decimal number as text (a slow sine with noise, like a sensor). Node 22+ has WebSocket;
// on Node 20 the npm "ws" package from the repository's node_modules is used.
//
//   node clients/js/demo/feed.js ws://127.0.0.1:9080/stt stt.seed [period-ms]

import { readFileSync } from "node:fs";
import { connect } from "../index.js";
import { nodeWebSocket } from "../testkit/helpers.js";

const [url, seedFile, periodArg] = process.argv.slice(2);
if (!url || !seedFile) {
  console.error("sttfast: feed: usage: node feed.js ws://HOST:PORT/PATH SEED-FILE [period-ms]");
  process.exit(1);
}
const WebSocket = nodeWebSocket();
let session;
try {
  session = await connect(url, { seed: readFileSync(seedFile, "utf8").trim(), WebSocket });
} catch (err) {
  console.error(String(err instanceof Error ? err.message : err));
  process.exit(1);
}
const st = await session.openStream();
const enc = new TextEncoder();
let t = 0, x = 12345;
const noise = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32 - 0.5; };
const timer = setInterval(() => {
  t += 1;
  const v = 20 + 6 * Math.sin(t / 15) + 2 * Math.sin(t / 4.3) + noise();
  st.write(enc.encode(v.toFixed(3))).catch(() => {});
}, Number(periodArg ?? 50));
session.closed.then((c) => { clearInterval(timer); console.error(`sttfast: feed: session ended (code ${c.code})`); process.exit(c.code === 0 ? 0 : 1); });
process.on("SIGINT", () => session.close());
process.on("SIGTERM", () => session.close());
