// A session over one WebSocket (docs/PROTOCOL.md §1-§8): protected packets in both directions,
// ACKs at the reliable path's low rate, flow-control credit, streams, key updates and
// SESSION_CLOSE. Over WebSocket the path is TCP, so this client, like sttfast's engine over a
// reliable path (§8, "Over a reliable path"), runs no loss timers and no congestion window: it
// resends only the frames of a packet that a later ACK proves was dropped at the peer's end, and
// paces by the socket's own buffer (bufferedAmount).
//
// WebCrypto makes every seal and open a promise. Packets are therefore numbered and framed
// synchronously, sealed concurrently (several in flight), and handed to the socket in packet
// number order through one promise chain; received packets are likewise opened concurrently and
// processed in arrival order.

import {
  KIND_PROTECTED, TAG_SIZE, T, Writer, parseHeader, writeHeader, decodePacketNumber,
  packetNumberLen, parseFrames, writeAck, varintLen, MAX_REASON_LEN,
} from "./wire.js";
import { PacketKey, nextSecret } from "./crypto.js";
import { Stream } from "./stream.js";
import { CloseCode, SessionClosedError } from "./errors.js";

/** Protocol's initial limits, assumed until the peer's MAX_* frames arrive (§5). */
const INITIAL_MAX_STREAM_DATA = 64 << 10;
const INITIAL_MAX_DATA = 256 << 10;
const INITIAL_MAX_STREAMS = 8;
/** The reliable path's ACK rate (§7): after 16 ack-eliciting packets, or within 25 ms. */
const ACK_EVERY = 16;
const ACK_DELAY_MS = 25;
/** Replay window (§4). */
const REPLAY_WINDOW = 2048;
/** Hard limit of packets under one key (§4); an update starts at 3/4 of it by default. */
const MAX_PACKETS_PER_KEY = 1 << 22;
/** How long the previous receive key is kept after an update (3 × PTO, at least 1 s). */
const KEY_GRACE_MS = 1000;

/**
 * Options of a session; connect() fills the defaults.
 * @typedef {object} SessionOptions
 * @property {number} packetSize bytes per packet (16 KiB, the reliable path's size)
 * @property {number} streamWindow receive window per stream (4 MiB)
 * @property {number} sessionWindow receive window of the session (16 MiB)
 * @property {number} maxStreams streams the peer may have open (256)
 * @property {number} sendBuffer bytes written and not yet acknowledged before write() waits (16 MiB)
 * @property {number} maxMessageSize largest message (64 MiB)
 * @property {number} idleTimeout ms without anything authentic before the session ends (30 s)
 * @property {number} keyUpdatePackets packets under one send key before an update
 * @property {number} keyUpdateBytes bytes under one send key before an update (1 GiB)
 * @property {number} keyUpdateInterval ms under one send key before an update (10 min)
 * @property {number} maxInFlight bytes being sealed or waiting in the socket before packing waits (1 MiB)
 */

/** Runs fn as soon as possible after the current task (not a microtask: writes can gather). */
const macrotask = typeof setImmediate === "function" ? setImmediate : (() => {
  const ch = new MessageChannel();
  /** @type {Function[]} */ const q = [];
  ch.port1.onmessage = () => q.shift()?.();
  return (/** @type {Function} */ fn) => { q.push(fn); ch.port2.postMessage(0); };
})();

/** Time in ms, monotonic where the platform has it. */
const now = () => (globalThis.performance ? performance.now() : Date.now());

/** A session: open streams on it, accept the peer's, close it. Made by connect(). */
export class Session {
  /**
   * @param {WebSocket} ws an open WebSocket (binaryType "arraybuffer")
   * @param {{id: Uint8Array, i2r: Uint8Array, r2i: Uint8Array}} keys
   * @param {SessionOptions} opts
   */
  constructor(ws, keys, opts) {
    this.ws = ws;
    this.opts = opts;
    this.sid = keys.id;
    // Send keys (i2r: we are always the initiator).
    this.txGen = 0;
    this.txSecret = Promise.resolve(keys.i2r);
    this.txKey = PacketKey.fromSecret(keys.i2r);
    this.txNextSecret = nextSecret(keys.i2r);
    this.txNextKey = this.txNextSecret.then((s) => PacketKey.fromSecret(s));
    this.txGenFirstPn = 0;
    this.txGenAcked = false;
    this.txPackets = 0;
    this.txBytes = 0;
    this.txSince = now();
    this.sendKeyUpdate = false;
    this.nextPn = 0;
    this.largestAcked = -1;
    /** @type {Map<number, Array<object>>} frames of each sent ack-eliciting packet, by packet number */
    this.sent = new Map();
    // Receive keys (r2i), by generation.
    this.rxGen = 0;
    this.rxStart = 0;
    this.rxPrevKept = false;
    /** @type {Map<number, Promise<Uint8Array>>} */ this.rxSecrets = new Map([[0, Promise.resolve(keys.r2i)]]);
    /** @type {Map<number, Promise<PacketKey>>} */ this.rxKeys = new Map();
    this.rxKey(0);
    this.rxKey(1);
    this.rxChain = Promise.resolve();
    this.largestRecv = -1;
    this.largestRecvAt = 0;
    /** @type {Array<[number, number]>} received packet numbers, descending disjoint [lo, hi] */
    this.recvRanges = [];
    this.ackElicited = 0;
    this.ackDue = false;
    /** @type {ReturnType<typeof setTimeout>|null} */ this.ackTimer = null;
    // Streams and flow control.
    /** @type {Map<number, Stream>} */ this.streams = new Map();
    this.nextLocal = 0; // index of our next stream (id 2·index)
    this.peerMaxStreams = INITIAL_MAX_STREAMS;
    this.peerOpened = 0;
    this.ourMaxStreams = opts.maxStreams;
    this.peerMaxData = INITIAL_MAX_DATA;
    this.sentData = 0;
    this.ourMaxData = opts.sessionWindow;
    this.recvData = 0;
    this.consumedData = 0;
    this.buffered = 0;
    this.needMaxData = true;
    this.needMaxStreams = true;
    /** @type {Set<Stream>} */ this.creditQueue = new Set();
    /** @type {Stream[]} */ this.openQueue = [];
    /** @type {Set<Stream>} */ this.resetQueue = new Set();
    /** @type {Set<Stream>} */ this.sendable = new Set();
    /** @type {Array<{type: number, value?: number, data?: Uint8Array}>} one-shot control frames */
    this.ctrl = [];
    /** @type {Stream[]} */ this.acceptQueue = [];
    /** @type {Array<{resolve: Function, reject: Function}>} */ this.acceptors = [];
    /** @type {Array<Function>} */ this.roomWaiters = [];
    /** @type {Array<Function>} */ this.streamWaiters = [];
    // Sending.
    this.w = new Writer(opts.packetSize);
    this.inFlight = 0; // bytes being sealed, not yet handed to the socket
    this.sendTail = Promise.resolve();
    this.flushQueued = false;
    this.pollTimer = null;
    this.lastElicitSent = now();
    this.lastRecv = now();
    // Life cycle.
    this.established = false;
    /** @type {SessionClosedError|null} */ this.closeErr = null;
    /** @type {(v: {code: number, reason: string, remote: boolean}) => void} */
    let resolveClosed = () => {};
    /** Resolves (never rejects) with how the session ended: {code, reason, remote}. */
    this.closed = new Promise((r) => (resolveClosed = r));
    this.resolveClosed = resolveClosed;
    /** @type {(err: Error|null) => void} */ this.onEstablished = () => {};
    /** How far the node's clock is from ours in ms, learnt from a CLOCK during the handshake (0: none came). */
    this.clockOffset = 0;
    /** Counters, for tests and dashboards. */
    this.stats = { packetsSent: 0, packetsRecv: 0, bytesSent: 0, bytesRecv: 0, drops: 0, keyUpdatesSent: 0, keyUpdatesRecv: 0, resent: 0 };
    this.tick = setInterval(() => this.onTick(), 250);
    /** @type {any} */ (this.tick).unref?.();
  }

  // ---- Public API ------------------------------------------------------------------------

  /** Opens a stream of ours (waits while the peer's MAX_STREAMS is reached). @returns {Promise<Stream>} */
  async openStream() {
    while (this.nextLocal >= this.peerMaxStreams) {
      if (this.closeErr) throw this.closeErr;
      await new Promise((r) => this.streamWaiters.push(r));
    }
    if (this.closeErr) throw this.closeErr;
    const st = new Stream(this, 2 * this.nextLocal++, { peerMax: INITIAL_MAX_STREAM_DATA, ourMax: this.opts.streamWindow });
    this.streams.set(st.id, st);
    this.openQueue.push(st);
    if (st.ourMax > INITIAL_MAX_STREAM_DATA) this.creditQueue.add(st);
    this.schedule();
    return st;
  }

  /** The next stream the peer opens. Rejects once the session is closed. @returns {Promise<Stream>} */
  acceptStream() {
    const st = this.acceptQueue.shift();
    if (st) return Promise.resolve(st);
    if (this.closeErr) return Promise.reject(this.closeErr);
    return new Promise((resolve, reject) => this.acceptors.push({ resolve, reject }));
  }

  /**
   * Closes the session gracefully: waits (up to `timeoutMs`) until everything written was
   * acknowledged, then sends SESSION_CLOSE with code 0 and closes the WebSocket.
   * @param {number} [timeoutMs]
   */
  async close(timeoutMs = 5000) {
    if (this.closeErr) return;
    const until = now() + timeoutMs;
    while (!this.closeErr && (this.buffered > 0 || this.finsUnacked()) && now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.closeWith(CloseCode.NO_ERROR, "", false);
  }

  /** Ends the session at once with an error code the peer reads. @param {number} code @param {string} [reason] */
  closeWithError(code, reason = "") {
    this.closeWith(code, reason, false);
  }

  // ---- Receiving -------------------------------------------------------------------------

  /** Handles one protected packet from the socket. @param {Uint8Array} pkt */
  onPacket(pkt) {
    if (this.closeErr) return;
    let h;
    try {
      h = parseHeader(pkt);
    } catch {
      this.stats.drops++;
      return;
    }
    if (h.kind !== KIND_PROTECTED || !sameBytes(h.sessionId, this.sid) || pkt.length < h.len + 1 + TAG_SIZE) {
      this.stats.drops++;
      return;
    }
    const pn = decodePacketNumber(this.largestRecv, h.pn, h.pnLen);
    if (!this.replayFresh(pn)) {
      this.stats.drops++;
      return;
    }
    const gen = this.selectRxGen(h.keyPhase, pn);
    const header = pkt.subarray(0, h.len);
    const opened = this.rxKey(gen).then((k) => k.open(header, pn, pkt.subarray(h.len))).catch(() => null);
    this.rxChain = this.rxChain.then(async () => {
      const payload = await opened;
      if (!payload) { this.stats.drops++; return; }
      try {
        this.onAuthentic(pn, gen, payload, pkt.length);
      } catch (err) {
        this.protocolError(err instanceof Error ? err.message : String(err));
      }
    });
  }

  /** Which key generation opens a packet of this phase and number (exactly one, §4). @param {number} phase @param {number} pn */
  selectRxGen(phase, pn) {
    if (phase === (this.rxGen & 1)) return this.rxGen;
    if (this.rxPrevKept && pn < this.rxStart) return this.rxGen - 1;
    return this.rxGen + 1;
  }

  /** The packet key of receive generation gen, derived once. @param {number} gen */
  rxKey(gen) {
    let k = this.rxKeys.get(gen);
    if (!k) {
      let s = this.rxSecrets.get(gen);
      if (!s) {
        s = this.rxSecretOf(gen);
      }
      k = s.then((x) => PacketKey.fromSecret(x));
      this.rxKeys.set(gen, k);
    }
    return k;
  }

  /** @param {number} gen @returns {Promise<Uint8Array>} */
  rxSecretOf(gen) {
    let s = this.rxSecrets.get(gen);
    if (!s) {
      s = this.rxSecretOf(gen - 1).then(nextSecret);
      this.rxSecrets.set(gen, s);
    }
    return s;
  }

  /** Replay check before opening: not seen, and not below the 2048-packet window. @param {number} pn */
  replayFresh(pn) {
    if (this.largestRecv >= 0 && pn <= this.largestRecv - REPLAY_WINDOW) return false;
    for (const [lo, hi] of this.recvRanges) {
      if (pn > hi) return true;
      if (pn >= lo) return false;
    }
    return true;
  }

  /**
   * An authenticated packet, in arrival order.
   * @param {number} pn @param {number} gen @param {Uint8Array} payload @param {number} size
   */
  onAuthentic(pn, gen, payload, size) {
    if (this.closeErr || !this.replayFresh(pn)) return;
    if (gen === this.rxGen + 1) this.rotateRx(pn);
    this.stats.packetsRecv++;
    this.stats.bytesRecv += size;
    this.lastRecv = now();
    const gap = this.largestRecv >= 0 && pn !== this.largestRecv + 1;
    this.recordRecv(pn);
    let elicit = false;
    parseFrames(payload, 0, payload.length, (f) => {
      if (f.type !== T.PADDING && f.type !== T.ACK && f.type !== T.NACK) elicit = true;
      if (!this.closeErr) this.onFrame(f);
    });
    if (!this.established && !this.closeErr) {
      this.established = true;
      this.onEstablished(null);
    }
    if (elicit && !this.closeErr) {
      this.ackElicited++;
      if (this.ackElicited >= ACK_EVERY || gap) {
        this.ackDue = true;
        this.schedule();
      } else if (!this.ackTimer) {
        this.ackTimer = setTimeout(() => {
          this.ackTimer = null;
          if (this.ackElicited > 0) { this.ackDue = true; this.schedule(); }
        }, ACK_DELAY_MS);
      }
    }
  }

  /** A packet under the next receive key authenticated: it becomes current (§4). @param {number} pn */
  rotateRx(pn) {
    this.rxGen++;
    this.rxStart = pn;
    this.rxPrevKept = true;
    this.stats.keyUpdatesRecv++;
    this.rxKey(this.rxGen + 1);
    const gen = this.rxGen;
    setTimeout(() => {
      if (this.rxGen !== gen) return;
      this.rxPrevKept = false;
      for (const g of this.rxKeys.keys()) if (g < gen) { this.rxKeys.delete(g); this.rxSecrets.delete(g); }
    }, KEY_GRACE_MS);
  }

  /** @param {number} pn */
  recordRecv(pn) {
    if (pn > this.largestRecv) {
      this.largestRecv = pn;
      this.largestRecvAt = now();
    }
    const r = this.recvRanges;
    let i = 0;
    while (i < r.length && r[i][0] > pn + 1) i++;
    if (i < r.length && r[i][1] + 1 >= pn && r[i][0] <= pn + 1) {
      r[i][0] = Math.min(r[i][0], pn);
      r[i][1] = Math.max(r[i][1], pn);
      if (i > 0 && r[i - 1][0] === r[i][1] + 1) { r[i - 1][0] = r[i][0]; r.splice(i, 1); }
      if (i + 1 < r.length && r[i + 1][1] + 1 === r[i][0]) { r[i][0] = r[i + 1][0]; r.splice(i + 1, 1); }
    } else {
      r.splice(i, 0, [pn, pn]);
    }
    // Keep what the replay window and an ACK can use.
    while (r.length > 1024 || (r.length > 1 && r[r.length - 1][1] < this.largestRecv - REPLAY_WINDOW)) r.pop();
  }

  /** Applies one frame. @param {import("./wire.js").Frame} f */
  onFrame(f) {
    switch (f.type) {
      case T.PADDING: case T.NACK: case T.KEEP_ALIVE_ACK: case T.PATH_RESPONSE:
        return;
      case T.ACK:
        return this.onAck(/** @type {any} */ (f));
      case T.DATA: {
        const st = this.streamFor(/** @type {number} */ (f.streamId));
        if (!st) return;
        if (!st.onData(/** @type {number} */ (f.offset), /** @type {Uint8Array} */ (f.data))) {
          return this.closeWith(CloseCode.FLOW_CONTROL, "stream data beyond MAX_STREAM_DATA", false);
        }
        if (this.recvData > this.ourMaxData) this.closeWith(CloseCode.FLOW_CONTROL, "session data beyond MAX_DATA", false);
        return;
      }
      case T.KEEP_ALIVE:
        this.ctrl.push({ type: T.KEEP_ALIVE_ACK, value: f.value });
        return this.schedule();
      case T.STREAM_OPEN:
        this.streamFor(/** @type {number} */ (f.streamId));
        return;
      case T.STREAM_FIN: {
        const st = this.streamFor(/** @type {number} */ (f.streamId));
        if (st && !st.onFin(/** @type {number} */ (f.value))) this.protocolError("bad final size");
        return;
      }
      case T.STREAM_CLOSE: {
        const st = this.streamFor(/** @type {number} */ (f.streamId));
        if (st) {
          st.reset(/** @type {number} */ (f.code));
          this.resetQueue.delete(st);
          this.maybeRetire(st);
        }
        return;
      }
      case T.SESSION_CLOSE:
        return this.closeWith(/** @type {number} */ (f.code), new TextDecoder().decode(f.data), true);
      case T.MAX_DATA:
        if (/** @type {number} */ (f.value) > this.peerMaxData) { this.peerMaxData = /** @type {number} */ (f.value); this.schedule(); }
        return;
      case T.MAX_STREAM_DATA: {
        const st = this.streams.get(/** @type {number} */ (f.streamId));
        if (st && /** @type {number} */ (f.value) > st.peerMax) { st.peerMax = /** @type {number} */ (f.value); this.markSendable(st); }
        return;
      }
      case T.MAX_STREAMS:
        if (/** @type {number} */ (f.value) > this.peerMaxStreams) {
          this.peerMaxStreams = /** @type {number} */ (f.value);
          for (const r of this.streamWaiters.splice(0)) r();
        }
        return;
      case T.KEY_UPDATE:
        if (/** @type {number} */ (f.value) > this.rxGen) this.closeWith(CloseCode.KEY_UPDATE, "key generation ahead of key phase", false);
        return;
      case T.PATH_CHALLENGE:
        this.ctrl.push({ type: T.PATH_RESPONSE, data: /** @type {Uint8Array} */ (f.data).slice() });
        return this.schedule();
      case T.STREAM_KIND:
        return; // how the peer sends a stream; this client reads every stream whole
      case T.STREAM_SKIP:
        // A probabilistic stream gave up on messages; this client's streams are reliable
        // only, and a reader waiting for the skipped bytes would stall: end the session, saying why.
        return this.protocolError("probabilistic streams (STREAM_SKIP) are not supported by this client");
      case T.FINAL:
        if (f.code !== 0) this.closeWith(/** @type {number} */ (f.code), "the node refused the session", true);
        return;
    }
    if (f.type >= 0x80) return; // application frames: no handler registered in this client
    this.protocolError("handshake frame in protected packet");
  }

  /** The stream a frame names, opening the peer's streams on first sight (§5). @param {number} id */
  streamFor(id) {
    const st = this.streams.get(id);
    if (st) return st;
    if ((id & 1) === 0) {
      if (id / 2 < this.nextLocal) return null; // ended
      this.protocolError("frame for a stream never opened");
      return null;
    }
    const idx = (id - 1) / 2;
    if (idx < this.peerOpened) return null;
    if (idx >= this.ourMaxStreams) {
      this.closeWith(CloseCode.STREAM_LIMIT, "stream limit exceeded", false);
      return null;
    }
    let last = null;
    for (let k = this.peerOpened; k <= idx; k++) {
      last = new Stream(this, 2 * k + 1, { peerMax: INITIAL_MAX_STREAM_DATA, ourMax: this.opts.streamWindow });
      this.streams.set(last.id, last);
      if (last.ourMax > INITIAL_MAX_STREAM_DATA) this.creditQueue.add(last);
      const a = this.acceptors.shift();
      if (a) a.resolve(last); else this.acceptQueue.push(last);
    }
    this.peerOpened = idx + 1;
    this.schedule();
    return last;
  }

  /** @param {{largest: number, ranges: Array<[number, number]>}} f */
  onAck(f) {
    if (f.largest >= this.nextPn) return this.protocolError("ack of unsent packet");
    if (f.largest > this.largestAcked) this.largestAcked = f.largest;
    if (!this.txGenAcked && f.largest >= this.txGenFirstPn && f.ranges.some(([lo, hi]) => hi >= this.txGenFirstPn)) this.txGenAcked = true;
    const rs = f.ranges;
    let i = rs.length - 1;
    for (const [pn, frames] of this.sent) {
      if (pn > f.largest) break;
      while (i >= 0 && rs[i][1] < pn) i--;
      const acked = i >= 0 && rs[i][0] <= pn;
      this.sent.delete(pn);
      for (const fr of frames) (acked ? this.frameAcked(fr) : this.frameLost(fr));
    }
    for (const r of this.roomWaiters.splice(0)) r();
  }

  /** @param {any} fr */
  frameAcked(fr) {
    switch (fr.t) {
      case T.DATA: fr.st.onAcked(fr.off, fr.off + fr.n); this.maybeRetire(fr.st); return;
      case T.STREAM_FIN: fr.st.finAcked = true; this.maybeRetire(fr.st); return;
    }
  }

  /** A packet below the largest acknowledged was not acknowledged: on an ordered path it was dropped, so its frames go again (§8). @param {any} fr */
  frameLost(fr) {
    this.stats.resent++;
    switch (fr.t) {
      case T.DATA: if (!fr.st.failure) { fr.st.lost.push([fr.off, fr.off + fr.n]); this.markSendable(fr.st); } return;
      case T.STREAM_FIN: fr.st.finSent = false; this.markSendable(fr.st); return;
      case T.STREAM_OPEN: this.openQueue.push(fr.st); break;
      case T.MAX_STREAM_DATA: this.creditQueue.add(fr.st); break;
      case T.MAX_DATA: this.needMaxData = true; break;
      case T.MAX_STREAMS: this.needMaxStreams = true; break;
      case T.STREAM_CLOSE: this.resetQueue.add(fr.st); break;
      case T.KEY_UPDATE: if (fr.gen === this.txGen) this.sendKeyUpdate = true; break;
    }
    this.schedule();
  }

  // ---- Flow control ----------------------------------------------------------------------

  /** Resolves when the send buffer has room for another message. */
  async sendRoom() {
    while (this.buffered >= this.opts.sendBuffer && !this.closeErr) {
      await new Promise((r) => this.roomWaiters.push(r));
    }
    if (this.closeErr) throw this.closeErr;
  }

  /** The application read `wire` bytes of st: raise the windows once half is used (§5). @param {Stream} st @param {number} wire */
  onConsumed(st, wire) {
    this.consumedData += wire;
    let wake = false;
    if (!st.failure && !st.peerFin && st.ourMax - st.consumed <= st.window / 2) {
      st.ourMax = st.consumed + st.window;
      this.creditQueue.add(st);
      wake = true;
    }
    if (this.ourMaxData - this.consumedData <= this.opts.sessionWindow / 2) {
      this.ourMaxData = this.consumedData + this.opts.sessionWindow;
      this.needMaxData = true;
      wake = true;
    }
    if (wake) this.schedule();
  }

  /** @param {Stream} st */
  markSendable(st) {
    if (st.hasSendable()) {
      this.sendable.add(st);
      this.schedule();
    }
  }

  /** @param {Stream} st */
  queueReset(st) {
    this.sendable.delete(st);
    this.resetQueue.add(st);
    this.schedule();
  }

  /** A stream's bytes broke the framing: abort it. @param {Stream} st @param {string} why */
  streamError(st, why) {
    st.resetReason = why;
    st.reset(CloseCode.PROTOCOL_VIOLATION);
  }

  /** Removes a finished stream; a peer's stream gives its slot back (MAX_STREAMS). @param {Stream} st */
  maybeRetire(st) {
    if (!st.done() || this.streams.get(st.id) !== st || this.resetQueue.has(st)) return;
    this.streams.delete(st.id);
    this.sendable.delete(st);
    this.creditQueue.delete(st);
    if (st.id & 1) {
      this.ourMaxStreams++;
      this.needMaxStreams = true;
      this.schedule();
    }
  }

  finsUnacked() {
    for (const st of this.streams.values()) if (st.finWanted && !st.finAcked && !st.failure) return true;
    return false;
  }

  // ---- Sending ---------------------------------------------------------------------------

  /** Asks for a packing pass after the current task. */
  schedule() {
    if (this.flushQueued || this.closeErr) return;
    this.flushQueued = true;
    macrotask(() => this.flush());
  }

  /** Packs and sends packets while there is something to send and the socket takes it. */
  flush() {
    this.flushQueued = false;
    if (this.closeErr) return;
    while (this.hasWork()) {
      if (this.inFlight + (this.ws.bufferedAmount ?? 0) >= this.opts.maxInFlight) {
        this.pollLater();
        return;
      }
      this.maybeUpdateKey();
      if (this.closeErr || !this.sendPacket()) return;
    }
  }

  /** Looks again shortly, when the socket's buffer was full (a WebSocket has no drain event). */
  pollLater() {
    if (this.pollTimer) return;
    this.pollTimer = setTimeout(() => { this.pollTimer = null; this.schedule(); }, 1);
  }

  hasWork() {
    return this.ackDue || this.ctrl.length > 0 || this.needMaxData || this.needMaxStreams || this.sendKeyUpdate ||
      this.creditQueue.size > 0 || this.openQueue.length > 0 || this.resetQueue.size > 0 || this.hasStreamWork();
  }

  hasStreamWork() {
    for (const st of this.sendable) {
      if (st.lost.length > 0 || (st.finWanted && !st.finSent && st.sentOff === st.writeOff)) return true;
      if (st.sentOff < st.writeOff && st.sentOff < st.peerMax && this.sentData < this.peerMaxData) return true;
    }
    return false;
  }

  /** Starts a key update when the current key reached a limit and the peer acknowledged its generation (§4). */
  maybeUpdateKey() {
    const o = this.opts;
    const due = this.txPackets >= o.keyUpdatePackets || this.txBytes >= o.keyUpdateBytes || now() - this.txSince >= o.keyUpdateInterval;
    if (!due || !this.txGenAcked) {
      if (this.txPackets >= MAX_PACKETS_PER_KEY) this.closeWith(CloseCode.KEY_UPDATE, "the peer never acknowledged the current key generation", false);
      return;
    }
    this.txGen++;
    this.txSecret = this.txNextSecret;
    this.txKey = this.txNextKey;
    this.txNextSecret = this.txSecret.then(nextSecret);
    this.txNextKey = this.txNextSecret.then((s) => PacketKey.fromSecret(s));
    this.txGenFirstPn = this.nextPn;
    this.txGenAcked = false;
    this.txPackets = 0;
    this.txBytes = 0;
    this.txSince = now();
    this.sendKeyUpdate = true;
    this.stats.keyUpdatesSent++;
  }

  /** Builds, seals and queues one packet. Returns false when there was nothing to put in it. */
  sendPacket() {
    const w = this.w, pn = this.nextPn;
    w.reset();
    writeHeader(w, KIND_PROTECTED, this.txGen & 1, this.sid, pn, packetNumberLen(pn, this.largestAcked));
    const hdrLen = w.pos;
    const limit = this.opts.packetSize - TAG_SIZE;
    /** @type {Array<object>} */ const frames = [];
    if (this.ackElicited > 0 || this.ackDue) this.writeAckFrame(limit);
    this.writeControl(limit, frames);
    this.writeStreams(limit, frames);
    if (w.pos === hdrLen) return false;
    if (frames.length > 0) {
      this.sent.set(pn, frames);
      this.lastElicitSent = now();
    }
    this.nextPn++;
    this.txPackets++;
    this.txBytes += w.pos + TAG_SIZE;
    this.seal(w.buf.slice(0, hdrLen), pn, w.buf.slice(hdrLen, w.pos));
    return true;
  }

  /** @param {number} limit */
  writeAckFrame(limit) {
    if (this.recvRanges.length === 0) return;
    const delay = Math.max(0, Math.round((now() - this.largestRecvAt) * 1000));
    if (writeAck(this.w, this.recvRanges, delay, limit - this.w.pos) > 0) {
      this.ackElicited = 0;
      this.ackDue = false;
      if (this.ackTimer) { clearTimeout(this.ackTimer); this.ackTimer = null; }
    }
  }

  /** MAX_*, STREAM_OPEN, KEY_UPDATE and one-shot frames, each if it fits. @param {number} limit @param {Array<object>} frames */
  writeControl(limit, frames) {
    const w = this.w;
    const fits = (/** @type {number} */ n) => limit - w.pos >= n;
    if (this.sendKeyUpdate && fits(10)) {
      w.u8(T.KEY_UPDATE); w.varint(this.txGen);
      frames.push({ t: T.KEY_UPDATE, gen: this.txGen });
      this.sendKeyUpdate = false;
    }
    if (this.needMaxData && fits(10)) {
      w.u8(T.MAX_DATA); w.varint(this.ourMaxData);
      frames.push({ t: T.MAX_DATA });
      this.needMaxData = false;
    }
    if (this.needMaxStreams && fits(10)) {
      w.u8(T.MAX_STREAMS); w.varint(this.ourMaxStreams);
      frames.push({ t: T.MAX_STREAMS });
      this.needMaxStreams = false;
    }
    while (this.openQueue.length > 0 && fits(10)) {
      const st = /** @type {Stream} */ (this.openQueue.shift());
      if (this.streams.get(st.id) !== st) continue;
      w.u8(T.STREAM_OPEN); w.varint(st.id);
      frames.push({ t: T.STREAM_OPEN, st });
    }
    for (const st of this.creditQueue) {
      if (!fits(20)) break;
      this.creditQueue.delete(st);
      if (this.streams.get(st.id) !== st || st.failure) continue;
      w.u8(T.MAX_STREAM_DATA); w.varint(st.id); w.varint(st.ourMax);
      frames.push({ t: T.MAX_STREAM_DATA, st });
    }
    for (const st of this.resetQueue) {
      if (!fits(20)) break;
      this.resetQueue.delete(st);
      w.u8(T.STREAM_CLOSE); w.varint(st.id); w.varint(st.resetCode ?? 0x100);
      frames.push({ t: T.STREAM_CLOSE, st });
      this.maybeRetire(st);
    }
    while (this.ctrl.length > 0 && fits(20)) {
      const c = /** @type {{type: number, value?: number, data?: Uint8Array}} */ (this.ctrl.shift());
      w.u8(c.type);
      if (c.data) w.bytes(c.data); else w.varint(c.value ?? 0);
      frames.push({ t: c.type });
    }
  }

  /** Stream data: resends first, then new bytes within the peer's credit, then FINs. @param {number} limit @param {Array<object>} frames */
  writeStreams(limit, frames) {
    const w = this.w;
    for (const st of this.sendable) {
      if (st.failure) { this.sendable.delete(st); continue; }
      while (st.lost.length > 0) {
        const [lostOff, end] = st.lost[0];
        const off = Math.max(lostOff, st.ackedOff); // bytes acknowledged meanwhile are gone from the buffer
        if (off >= end) { st.lost.shift(); continue; }
        const n = this.dataRoom(st.id, off, end - off, limit);
        if (n <= 0) return;
        this.writeData(st, off, n, frames);
        if (off + n >= end) st.lost.shift(); else st.lost[0][0] = off + n;
      }
      for (;;) {
        const want = Math.min(st.writeOff, st.peerMax, st.sentOff + (this.peerMaxData - this.sentData)) - st.sentOff;
        if (want <= 0) break;
        const n = this.dataRoom(st.id, st.sentOff, want, limit);
        if (n <= 0) return;
        this.writeData(st, st.sentOff, n, frames);
        st.sentOff += n;
        this.sentData += n;
      }
      if (st.finWanted && !st.finSent && st.sentOff === st.writeOff) {
        if (limit - w.pos < 20) return;
        w.u8(T.STREAM_FIN); w.varint(st.id); w.varint(st.writeOff);
        st.finSent = true;
        frames.push({ t: T.STREAM_FIN, st });
      }
      // A stream waiting only for the peer's credit stays listed: MAX_DATA does not name streams.
      if (!st.hasSendable()) this.sendable.delete(st);
    }
  }

  /** How many bytes of a DATA frame fit. @param {number} id @param {number} off @param {number} want @param {number} limit */
  dataRoom(id, off, want, limit) {
    const room = limit - this.w.pos - 1 - varintLen(id) - varintLen(off);
    const n = Math.min(want, room - varintLen(Math.max(room, 0)));
    return n >= Math.min(want, 64) ? n : 0;
  }

  /** @param {Stream} st @param {number} off @param {number} n @param {Array<object>} frames */
  writeData(st, off, n, frames) {
    const w = this.w;
    w.u8(T.DATA); w.varint(st.id); w.varint(off); w.varint(n);
    st.copyOut(w, off, n);
    frames.push({ t: T.DATA, st, off, n });
  }

  /**
   * Seals a packet (concurrently with others) and hands it to the socket in packet-number
   * order through sendTail.
   * @param {Uint8Array} header @param {number} pn @param {Uint8Array} plain
   */
  seal(header, pn, plain) {
    const size = header.length + plain.length + TAG_SIZE;
    this.inFlight += size;
    const sealed = this.txKey.then((k) => k.seal(header, pn, plain));
    this.sendTail = this.sendTail.then(() => sealed).then((ct) => {
      this.inFlight -= size;
      if (this.ws.readyState !== 1) return;
      const pkt = new Uint8Array(size);
      pkt.set(header);
      pkt.set(ct, header.length);
      this.ws.send(pkt);
      this.stats.packetsSent++;
      this.stats.bytesSent += size;
      if (this.hasWork()) this.schedule();
    }, (err) => {
      this.inFlight -= size;
      this.closeWith(CloseCode.INTERNAL, `seal failed: ${err}`, false);
    });
  }

  // ---- Timers and closing ----------------------------------------------------------------

  /** Idle timeout and keep-alive (§7). */
  onTick() {
    if (this.closeErr) return;
    const t = now();
    if (t - this.lastRecv >= this.opts.idleTimeout) {
      this.closeWith(CloseCode.IDLE_TIMEOUT, "nothing received for the idle timeout", false, false);
      return;
    }
    if (this.established && t - this.lastElicitSent >= this.opts.idleTimeout / 3) {
      this.ctrl.push({ type: T.KEEP_ALIVE, value: Math.floor(Math.random() * 1e9) });
      this.lastElicitSent = t;
      this.schedule();
    }
    if (this.txPackets > 0 && t - this.txSince >= this.opts.keyUpdateInterval) this.schedule();
  }

  /** @param {string} why */
  protocolError(why) {
    this.closeWith(CloseCode.PROTOCOL_VIOLATION, why, false);
  }

  /**
   * Ends the session: tells the peer (unless it told us, or the code is local-only), fails
   * every waiter, closes the socket once the last packet is out, resolves `closed`.
   * @param {number} code @param {string} reason @param {boolean} remote @param {boolean} [tell]
   */
  closeWith(code, reason, remote, tell = !remote && code !== CloseCode.IDLE_TIMEOUT) {
    if (this.closeErr) return;
    if (tell && this.ws.readyState === 1) {
      // The SESSION_CLOSE goes in its own packet, behind everything already queued.
      const w = this.w;
      w.reset();
      writeHeader(w, KIND_PROTECTED, this.txGen & 1, this.sid, this.nextPn, packetNumberLen(this.nextPn, this.largestAcked));
      const hdrLen = w.pos;
      const r = new TextEncoder().encode(reason).subarray(0, MAX_REASON_LEN);
      w.u8(T.SESSION_CLOSE); w.varint(code); w.varint(r.length); w.bytes(r);
      this.seal(w.buf.slice(0, hdrLen), this.nextPn++, w.buf.slice(hdrLen, w.pos));
    }
    this.closeErr = new SessionClosedError(code, reason, remote);
    const err = this.closeErr;
    clearInterval(this.tick);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    for (const st of this.streams.values()) st.onSessionClosed(err);
    for (const a of this.acceptors.splice(0)) a.reject(err);
    for (const r of this.roomWaiters.splice(0)) r();
    for (const r of this.streamWaiters.splice(0)) r();
    if (!this.established) this.onEstablished(err);
    this.sendTail.then(() => {
      try { this.ws.close(1000); } catch { /* already closed */ }
    });
    this.resolveClosed({ code, reason, remote });
  }

  /** The socket closed under us: the session ends at once (no SESSION_CLOSE can be sent). @param {string} why */
  onSocketClosed(why) {
    if (!this.closeErr) this.closeWith(CloseCode.IDLE_TIMEOUT, `connection lost: ${why}`, false, false);
  }
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

