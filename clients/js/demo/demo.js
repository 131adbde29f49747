// The demo page: subscribes to a `sttfast relay` as a session of its own, accepts the relay's
// broadcast stream and plots every message (a decimal number as text) on a canvas as it arrives.

import { connect } from "../index.js";

const form = /** @type {HTMLFormElement} */ (document.getElementById("connect"));
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById("plot"));
const status = /** @type {HTMLElement} */ (document.getElementById("status"));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
/** Points shown: the most recent values, oldest first. */
const WINDOW = 400;
/** @type {number[]} */ const values = [];
let received = 0, bytes = 0, dirty = false;

const q = new URLSearchParams(location.search);
if (q.get("url")) form.url.value = q.get("url");
if (q.get("seed")) form.seed.value = q.get("seed");
form.addEventListener("submit", (ev) => { ev.preventDefault(); subscribe(form.url.value.trim(), form.seed.value.trim()); });
if (q.get("url") && q.get("seed")) subscribe(form.url.value, form.seed.value);

/** @param {string} url @param {string} seed */
async function subscribe(url, seed) {
  status.textContent = `connecting to ${url}…`;
  let session;
  try {
    session = await connect(url, { seed });
  } catch (err) {
    status.textContent = String(err instanceof Error ? err.message : err);
    return;
  }
  status.textContent = `connected to ${url}; waiting for the publisher`;
  session.closed.then((c) => { status.textContent = `session ended: code ${c.code}${c.reason ? ` (${c.reason})` : ""}`; });
  const text = new TextDecoder();
  for (;;) {
    let st;
    try {
      st = await session.acceptStream();
    } catch {
      return;
    }
    (async () => {
      for (let m; (m = await st.read().catch(() => null)) !== null; ) {
        const v = parseFloat(text.decode(m));
        if (!Number.isFinite(v)) continue;
        values.push(v);
        if (values.length > WINDOW) values.shift();
        received++;
        bytes += m.length;
        if (!dirty) { dirty = true; requestAnimationFrame(draw); }
      }
    })();
  }
}

function draw() {
  dirty = false;
  const w = canvas.width, h = canvas.height, pad = 48;
  ctx.clearRect(0, 0, w, h);
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const y = (/** @type {number} */ v) => h - pad - ((v - lo) / span) * (h - 2 * pad);
  ctx.strokeStyle = "#e3e6eb";
  ctx.fillStyle = "#6b7385";
  ctx.font = "22px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = lo + (span * k) / 4;
    ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(w - 10, y(v)); ctx.stroke();
    ctx.fillText(v.toFixed(1), 4, y(v) - 4);
  }
  ctx.strokeStyle = "#2563eb";
  ctx.lineWidth = 3;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = pad + (i / (WINDOW - 1)) * (w - pad - 10);
    if (i === 0) ctx.moveTo(x, y(v)); else ctx.lineTo(x, y(v));
  });
  ctx.stroke();
  const last = values[values.length - 1];
  status.textContent = `${received} values received (${bytes} bytes), latest ${last.toFixed(3)}`;
  /** @type {any} */ (window).sttDemo = { received, latest: last };
}
