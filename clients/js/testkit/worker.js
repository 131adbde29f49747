// The echo check inside a module Web Worker (no DOM, no window): started by page.html with
// mode=worker, it gets {url, seed, count} and posts the result back.

import { connect } from "../index.js";
import { echoCheck } from "./echo.js";

self.onmessage = async (/** @type {MessageEvent} */ ev) => {
  const { url, seed, count } = ev.data;
  try {
    const session = await connect(url, { seed });
    const r = await echoCheck(session, count);
    await session.close();
    self.postMessage({ ok: true, ...r, closed: await session.closed, inWorker: typeof window === "undefined" });
  } catch (err) {
    self.postMessage({ ok: false, error: String(err instanceof Error ? err.message : err) });
  }
};
