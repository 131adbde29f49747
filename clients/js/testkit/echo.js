// The echo check and the throughput measurement, written once for Node and for a browser page
// (testkit/page.html runs them in Chromium): only the client's API and WebCrypto-free helpers.

/** Deterministic bytes for message i of a run (xorshift32). @param {number} seed @param {number} i @param {number} n */
export function pattern(seed, i, n) {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761 + i * 40503 + 1) >>> 0 || 1;
  for (let k = 0; k < n; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[k] = x & 0xff;
  }
  return b;
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function same(a, b) {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Sends `count` messages of sizes 0..1999 on one stream of session and checks the echo byte for
 * byte; resolves to {echoed, bad, ended} (ended: the echo finished with null after the last).
 * @param {any} session @param {number} count
 */
export async function echoCheck(session, count) {
  const st = await session.openStream();
  const size = (/** @type {number} */ i) => (i * 7919) % 2000;
  let bad = -1;
  const reading = (async () => {
    let i = 0;
    for (; i < count; i++) {
      const m = await st.read();
      if (bad < 0 && !same(m, pattern(1, i, size(i)))) bad = i;
    }
    return (await st.read()) === null;
  })();
  for (let i = 0; i < count; i++) await st.write(pattern(1, i, size(i)));
  await st.close();
  const ended = await reading;
  return { echoed: count, bad, ended };
}

/**
 * Echo throughput on one stream: `count` messages of `size` bytes written while the echo is
 * read; resolves to {size, count, seconds, msgsPerSec, MBps} where MB/s counts the payload one
 * way (10^6 bytes), the echo carrying as much back.
 * @param {any} session @param {number} size @param {number} count
 */
export async function echoThroughput(session, size, count) {
  const st = await session.openStream();
  const msg = pattern(9, 0, size);
  const t0 = performance.now();
  const reading = (async () => { for (let i = 0; i < count; i++) await st.read(); })();
  for (let i = 0; i < count; i++) await st.write(msg);
  await reading;
  const seconds = (performance.now() - t0) / 1000;
  await st.close();
  return { size, count, seconds, msgsPerSec: count / seconds, MBps: (count * size) / seconds / 1e6 };
}
