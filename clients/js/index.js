// sttfast's JavaScript client: STT over WebSocket, on WebCrypto, for browser pages, workers and
// Node 20+. connect() runs the four-message handshake (docs/PROTOCOL.md §3) over a WebSocket to
// a node listening on ws:// (or wss:// through a TLS-terminating proxy) and resolves to a
// Session; see README.md beside this file.

import { KIND_HANDSHAKE, KIND_PROTECTED, T, parseHeader } from "./wire.js";
import { MacKey, seedKeys, sessionKeys, randomBytes, fromHex } from "./crypto.js";
import { buildHello, buildProof, parseHandshake } from "./handshake.js";
import { Session } from "./session.js";
import { ConnectError, SeedRefusedError, SessionClosedError, closeCodeText } from "./errors.js";

export { Session } from "./session.js";
export { Stream } from "./stream.js";
export { CloseCode, ConnectError, SeedRefusedError, SessionClosedError, StreamResetError, closeCodeText } from "./errors.js";

/**
 * Options of connect(). Only `seed` is required.
 * @typedef {object} ConnectOptions
 * @property {string|Uint8Array} seed the pre-shared seed: 64 hex characters (as `sttfast seed new` writes) or 32 bytes
 * @property {number} [handshakeTimeout] ms before giving up on the handshake (10 000)
 * @property {typeof WebSocket} [WebSocket] a WebSocket constructor, where the platform has none (Node 20: the npm "ws" package)
 * @property {number} [packetSize] bytes per packet (16 KiB; at most 65 507)
 * @property {number} [streamWindow] receive window per stream in bytes (4 MiB)
 * @property {number} [sessionWindow] receive window of the session in bytes (16 MiB)
 * @property {number} [maxStreams] streams the peer may open (256)
 * @property {number} [sendBuffer] bytes written but not yet acknowledged before write() waits (16 MiB)
 * @property {number} [maxMessageSize] largest message in bytes (64 MiB)
 * @property {number} [idleTimeout] ms without anything from the peer before the session ends (30 000)
 * @property {number} [keyUpdatePackets] packets under one send key before a key update (3 × 2^20)
 * @property {number} [keyUpdateBytes] bytes under one send key before a key update (1 GiB)
 * @property {number} [keyUpdateInterval] ms under one send key before a key update (10 min)
 * @property {number} [maxInFlight] bytes being sealed or buffered in the socket before packing waits (1 MiB)
 */

/** The defaults of every numeric option of connect() (see ConnectOptions). */
export const defaultOptions = Object.freeze({
  handshakeTimeout: 10_000, packetSize: 16 << 10, streamWindow: 4 << 20, sessionWindow: 16 << 20,
  maxStreams: 256, sendBuffer: 16 << 20, maxMessageSize: 64 << 20, idleTimeout: 30_000,
  keyUpdatePackets: 3 * 2 ** 20, keyUpdateBytes: 2 ** 30, keyUpdateInterval: 600_000, maxInFlight: 1 << 20,
});

/** First retransmission of HELLO or AUTH_PROOF, doubling up to the maximum (§3). */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 2000;
/** CLOCKs that each trigger an immediate corrected HELLO (§3). */
const CLOCK_RETRIES = 3;

/**
 * Connects to an sttfast node over WebSocket and authenticates with the seed.
 * Rejects with SeedRefusedError when the node answered none of our HELLOs (it holds another
 * seed: a responder is silent to a wrong seed by design, and an upgraded WebSocket proves a node
 * is there), ConnectError otherwise.
 * @param {string} url ws://HOST:PORT/PATH or wss://...
 * @param {ConnectOptions} options
 * @returns {Promise<Session>}
 */
export async function connect(url, options) {
  const opts = { ...defaultOptions, ...options };
  const seed = parseSeed(opts.seed);
  if (opts.packetSize < 1200 || opts.packetSize > 65507) throw new RangeError("sttfast: packetSize must be within 1200..65507");
  const WS = opts.WebSocket ?? globalThis.WebSocket;
  if (!WS) throw new ConnectError(url, "no WebSocket on this platform: pass { WebSocket } (for Node 20, the npm \"ws\" package's WebSocket)");
  const { handshakeKey } = await seedKeys(seed);
  const mac = await MacKey.create(handshakeKey);
  handshakeKey.fill(0);
  const ws = await openSocket(WS, url, opts.handshakeTimeout);
  try {
    return await handshake(ws, url, seed, mac, opts);
  } catch (err) {
    try { ws.close(1000); } catch { /* closed */ }
    throw err;
  }
}

/** @param {string|Uint8Array} s */
function parseSeed(s) {
  if (s instanceof Uint8Array) {
    if (s.length < 16) throw new TypeError("sttfast: seed: at least 16 bytes");
    return s.slice();
  }
  if (typeof s !== "string") throw new TypeError("sttfast: seed: 64 hex characters expected");
  const t = s.trim();
  try {
    const b = fromHex(t);
    if (b.length < 16) throw new TypeError("too short");
    return b;
  } catch {
    throw new TypeError("sttfast: seed: 64 hex characters expected");
  }
}

/**
 * Opens the WebSocket, resolving once it is open.
 * @param {typeof WebSocket} WS @param {string} url @param {number} timeoutMs @returns {Promise<WebSocket>}
 */
function openSocket(WS, url, timeoutMs) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WS(url);
    } catch (err) {
      reject(new ConnectError(url, `bad WebSocket address: ${err instanceof Error ? err.message : err}`));
      return;
    }
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => { fail("the WebSocket did not open in time"); try { ws.close(); } catch { /* */ } }, timeoutMs);
    const fail = (/** @type {string} */ why) => { clearTimeout(timer); reject(new ConnectError(url, why)); };
    ws.onopen = () => { clearTimeout(timer); ws.onerror = null; ws.onclose = null; resolve(ws); };
    ws.onerror = (/** @type {any} */ ev) => fail(`the WebSocket failed${ev?.message ? `: ${ev.message}` : ev?.error?.message ? `: ${ev.error.message}` : " (nothing listens there, or the upgrade was refused)"}`);
    ws.onclose = (/** @type {any} */ ev) => fail(`the WebSocket closed before opening (code ${ev?.code})`);
  });
}

/**
 * Runs the handshake over an open WebSocket and resolves to the established session.
 * @param {WebSocket} ws @param {string} url @param {Uint8Array} seed @param {MacKey} mac @param {any} opts
 * @returns {Promise<Session>}
 */
function handshake(ws, url, seed, mac, opts) {
  return new Promise((resolve, reject) => {
    const nodeId = randomBytes(8);
    /** @type {Array<{tag: Uint8Array, nonce: Uint8Array, mac: Uint8Array, ts: number, offset: number, attempt: number, sentAt: number}>} */
    const hellos = [];
    let clockOffset = 0, clocks = 0, challenged = false, finished = false;
    /** @type {Session|null} */ let session = null;
    /** @type {Uint8Array|null} */ let proof = null;
    let retry = RETRY_FIRST_MS;
    /** @type {ReturnType<typeof setTimeout>|undefined} */ let retryTimer;
    let chain = Promise.resolve();

    const finish = (/** @type {Error|null} */ err) => {
      if (finished) return;
      finished = true;
      clearTimeout(retryTimer);
      clearTimeout(deadline);
      if (err) {
        if (session) session.closeWith(5, "handshake failed", false, false);
        reject(err);
      } else {
        /** @type {Session} */ (session).clockOffset = clockOffset;
        resolve(/** @type {Session} */ (session));
      }
    };
    const deadline = setTimeout(() => {
      if (challenged) finish(new ConnectError(url, `the node proved the seed but never confirmed the session in ${opts.handshakeTimeout} ms`));
      else if (clocks > 0) finish(new ConnectError(url, `our clock differs from the node's by ${clockOffset} ms and it refused every corrected HELLO`));
      else finish(new SeedRefusedError(url, hellos.length, opts.handshakeTimeout));
    }, opts.handshakeTimeout);

    const sendHello = async () => {
      const nonce = randomBytes(32);
      const ts = Math.max(0, Date.now() + clockOffset);
      const attempt = hellos.length;
      const h = await buildHello(mac, nonce, nodeId, ts, attempt);
      hellos.push({ tag: nonce.slice(0, 8), nonce, mac: h.mac, ts, offset: clockOffset, attempt, sentAt: Date.now() });
      if (!finished && ws.readyState === 1) ws.send(h.packet);
    };
    const armRetry = () => {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (finished) return;
        if (proof) ws.send(proof); else sendHello().catch((e) => finish(e));
        retry = Math.min(retry * 2, RETRY_MAX_MS);
        armRetry();
      }, retry);
    };

    /** @param {Uint8Array} pkt */
    const onHandshakePacket = async (pkt) => {
      if (challenged) return;
      const tag = pkt.subarray(3, 11);
      const hello = hellos.find((x) => x.tag.every((b, i) => b === tag[i]));
      if (!hello) return;
      const m = await parseHandshake(mac, pkt, hello.mac);
      if (!m || challenged || finished) return;
      if (m.frame.type === T.CLOCK) {
        const rtt = Date.now() - hello.sentAt;
        // offset = ts_r - (our clock when the HELLO was built + rtt/2); hello.ts carried the old offset.
        const ourClock = hello.ts - hello.offset;
        clockOffset = Math.round(/** @type {number} */ (m.frame.ts) - (ourClock + rtt / 2));
        if (++clocks <= CLOCK_RETRIES) { await sendHello(); retry = RETRY_FIRST_MS; armRetry(); }
        return;
      }
      if (m.frame.type !== T.CHALLENGE) return;
      challenged = true;
      const f = m.frame;
      const keys = await sessionKeys(seed, hello.nonce, /** @type {Uint8Array} */ (f.nonce));
      session = new Session(ws, keys, opts);
      session.onEstablished = (err) => finish(err ? new ConnectError(url, refusalText(err)) : null);
      proof = await buildProof(mac, {
        tag: hello.tag, attempt: m.attempt, nonceI: hello.nonce, tsI: hello.ts, nodeI: nodeId,
        nonceR: /** @type {Uint8Array} */ (f.nonce).slice(), tsR: /** @type {number} */ (f.ts), nodeR: /** @type {Uint8Array} */ (f.nodeId).slice(),
      });
      if (finished) return;
      ws.send(proof);
      retry = RETRY_FIRST_MS;
      armRetry();
    };

    ws.onmessage = (ev) => {
      const pkt = new Uint8Array(/** @type {ArrayBuffer} */ (ev.data));
      let h;
      try {
        h = parseHeader(pkt);
      } catch {
        return; // not a packet: dropped as the protocol drops any malformed one
      }
      if (h.kind === KIND_PROTECTED) {
        if (session) session.onPacket(pkt);
        return;
      }
      if (h.kind === KIND_HANDSHAKE) chain = chain.then(() => onHandshakePacket(pkt)).catch((e) => finish(e));
    };
    ws.onclose = (ev) => {
      const why = `the WebSocket closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`;
      if (!finished) finish(new ConnectError(url, `${why} during the handshake`));
      session?.onSocketClosed(why);
    };
    ws.onerror = () => { /* onclose follows and says it */ };
    sendHello().then(armRetry, (e) => finish(e));
  });
}

/** @param {Error} err */
function refusalText(err) {
  if (err instanceof SessionClosedError) return `the node refused the session: ${closeCodeText(err.code)}`;
  return err.message;
}
