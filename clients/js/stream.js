// One bidirectional stream (docs/PROTOCOL.md §5): the send buffer (messages framed as a varint
// length and their bytes, kept until acknowledged so a packet the peer dropped can be resent),
// and the receive side (bytes reassembled in offset order, cut back into whole messages).
// The session owns the packets; a stream only answers "what do you have to send" and "here is
// what arrived".

import { varintLen, Writer, Reader } from "./wire.js";
import { SessionClosedError, StreamResetError } from "./errors.js";

/** Sorted, disjoint [lo, hi) byte ranges; merges on insert. */
class RangeSet {
  constructor() { /** @type {Array<[number, number]>} */ this.r = []; }
  /** @param {number} lo @param {number} hi */
  add(lo, hi) {
    const r = this.r;
    let i = r.length;
    while (i > 0 && r[i - 1][0] > lo) i--;
    r.splice(i, 0, [lo, hi]);
    // merge around i
    let j = Math.max(i - 1, 0);
    while (j + 1 < r.length) {
      if (r[j][1] >= r[j + 1][0]) { r[j][1] = Math.max(r[j][1], r[j + 1][1]); r.splice(j + 1, 1); } else if (j < i) j++; else break;
    }
  }
  /** Removes and returns the contiguous end from `from` on, if a range starts at or before it. @param {number} from */
  takeFrom(from) {
    const r = this.r;
    if (r.length > 0 && r[0][0] <= from) { const hi = r[0][1]; r.shift(); return Math.max(hi, from); }
    return from;
  }
}

/** A stream of whole messages; created by Session.openStream or Session.acceptStream. */
export class Stream {
  /** @param {import("./session.js").Session} session @param {number} id @param {{peerMax: number, ourMax: number}} limits */
  constructor(session, id, limits) {
    this.session = session;
    /** The stream id (even: opened by us, the initiator; odd: by the peer). */
    this.id = id;
    // Send side.
    /** @type {Uint8Array[]} */ this.out = [];
    /** @type {number[]} */ this.outOff = [];
    this.outHead = 0;
    this.writeOff = 0; // bytes written (framed)
    this.sentOff = 0; // next byte never sent
    this.ackedOff = 0; // every byte below is acknowledged
    this.acked = new RangeSet();
    /** @type {Array<[number, number]>} */ this.lost = [];
    this.peerMax = limits.peerMax;
    this.finWanted = false;
    this.finSent = false;
    this.finAcked = false;
    /** Why we reset the stream, when its bytes broke the framing (for debugging). */
    this.resetReason = "";
    // Receive side.
    this.ourMax = limits.ourMax;
    this.window = limits.ourMax;
    this.highRecv = 0;
    this.frontier = 0;
    /** @type {Map<number, Uint8Array>} */ this.pending = new Map();
    /** @type {Uint8Array[]} */ this.inChunks = [];
    this.inLen = 0;
    this.msgLen = -1; // length of the message being assembled, -1 while its prefix is awaited
    /** @type {Array<{msg: Uint8Array, wire: number}>} */ this.msgs = [];
    this.consumed = 0;
    this.peerFin = false;
    this.peerFinal = 0;
    /** @type {Error|null} */ this.failure = null;
    /** @type {Array<{resolve: Function, reject: Function}>} */ this.readers = [];
  }

  /**
   * Sends one message. Resolves once it is buffered (the session's send buffer has room);
   * delivery is then the session's job.
   * @param {Uint8Array} bytes
   * @returns {Promise<void>}
   */
  async write(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("sttfast: write takes a Uint8Array");
    if (this.failure) throw this.failure;
    if (this.finWanted) throw new Error(`sttfast: write on stream ${this.id} after close`);
    if (bytes.length > this.session.opts.maxMessageSize) throw new RangeError(`sttfast: message of ${bytes.length} bytes above maxMessageSize`);
    await this.session.sendRoom();
    if (this.failure) throw this.failure;
    const n = varintLen(bytes.length);
    const chunk = new Uint8Array(n + bytes.length);
    const w = new Writer(8);
    w.varint(bytes.length);
    chunk.set(w.buf.subarray(0, n));
    chunk.set(bytes, n);
    this.out.push(chunk);
    this.outOff.push(this.writeOff);
    this.writeOff += chunk.length;
    this.session.buffered += chunk.length;
    this.session.markSendable(this);
  }

  /**
   * The next whole message, or null once the peer ended its half and every message was read.
   * Rejects with SessionClosedError or StreamResetError when the stream cannot end normally.
   * @returns {Promise<Uint8Array|null>}
   */
  read() {
    const m = this.msgs.shift();
    if (m) {
      this.onConsumed(m.wire);
      return Promise.resolve(m.msg);
    }
    if (this.failure instanceof StreamResetError) return Promise.reject(this.failure);
    if (this.peerFin && this.frontier === this.peerFinal && this.inLen === 0) return Promise.resolve(null);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  /** Ends our half (STREAM_FIN after every byte written). Resolves once queued. @returns {Promise<void>} */
  async close() {
    if (this.failure || this.finWanted) return;
    this.finWanted = true;
    this.session.markSendable(this);
  }

  /** Aborts both halves with an error code (STREAM_CLOSE). @param {number} [code] */
  reset(code = 0x100) {
    if (this.failure) return;
    this.fail(new StreamResetError(this.id, code));
    this.resetCode = code;
    this.session.queueReset(this);
  }

  // ---- Session side -------------------------------------------------------------------

  /** Whether there is anything to put in a packet. */
  hasSendable() {
    if (this.failure) return false;
    return this.lost.length > 0 || (this.sentOff < this.writeOff && this.sentOff < this.peerMax) ||
      (this.finWanted && !this.finSent && this.sentOff === this.writeOff);
  }

  /** Copies bytes [off, off+n) of the send buffer into w. @param {Writer} w @param {number} off @param {number} n */
  copyOut(w, off, n) {
    let lo = this.outHead, hi = this.out.length - 1;
    while (lo < hi) { // last chunk starting at or before off
      const mid = (lo + hi + 1) >> 1;
      if (this.outOff[mid] <= off) lo = mid; else hi = mid - 1;
    }
    let i = lo;
    while (n > 0) {
      const c = this.out[i], start = off - this.outOff[i], take = Math.min(n, c.length - start);
      w.bytes(c.subarray(start, start + take));
      off += take;
      n -= take;
      i++;
    }
  }

  /** The peer acknowledged bytes [lo, hi). @param {number} lo @param {number} hi */
  onAcked(lo, hi) {
    if (hi <= this.ackedOff) return;
    this.acked.add(Math.max(lo, this.ackedOff), hi);
    const before = this.ackedOff;
    this.ackedOff = this.acked.takeFrom(this.ackedOff);
    if (this.ackedOff === before) return;
    this.session.buffered -= this.ackedOff - before;
    while (this.outHead < this.out.length && this.outOff[this.outHead] + this.out[this.outHead].length <= this.ackedOff) {
      this.out[this.outHead] = undefined;
      this.outHead++;
    }
    if (this.outHead > 1024 && this.outHead * 2 > this.out.length) {
      this.out = this.out.slice(this.outHead);
      this.outOff = this.outOff.slice(this.outHead);
      this.outHead = 0;
    }
  }

  /** Bytes [off, end) of this stream arrived. Returns false on a flow-control violation. @param {number} off @param {Uint8Array} data */
  onData(off, data) {
    const end = off + data.length;
    if (end > this.ourMax) return false;
    if (end > this.highRecv) {
      this.session.recvData += end - this.highRecv;
      this.highRecv = end;
    }
    if (this.failure || end <= this.frontier) return true;
    if (off > this.frontier) {
      const had = this.pending.get(off);
      if (!had || had.length < data.length) this.pending.set(off, data.slice());
      return true;
    }
    this.accept(data.subarray(this.frontier - off));
    for (let next; (next = this.takePending()); ) this.accept(next);
    this.deframe();
    return true;
  }

  /** @param {Uint8Array} b bytes at the frontier */
  accept(b) {
    if (b.length === 0) return;
    this.inChunks.push(b);
    this.inLen += b.length;
    this.frontier += b.length;
  }

  /** The pending segment that now continues the frontier, trimmed, if any. */
  takePending() {
    for (const [off, b] of this.pending) {
      if (off <= this.frontier) {
        this.pending.delete(off);
        if (off + b.length > this.frontier) return b.subarray(this.frontier - off);
      }
    }
    return null;
  }

  /** Cuts whole messages out of the reassembled bytes and hands them to readers. */
  deframe() {
    for (;;) {
      if (this.msgLen < 0) {
        if (this.inLen === 0) break;
        const head = this.gather(Math.min(this.inLen, 8));
        const need = 1 << (head[0] >> 6);
        if (head.length < need) break;
        const r = new Reader(head, 0, need);
        let len;
        try {
          len = r.varint();
        } catch {
          this.session.streamError(this, "malformed message length");
          return;
        }
        if (len > this.session.opts.maxMessageSize) {
          this.session.streamError(this, `message of ${len} bytes above maxMessageSize`);
          return;
        }
        this.drop(need);
        this.msgLen = len;
        this.msgWire = need + len;
      }
      if (this.inLen < this.msgLen) break;
      const msg = this.take(this.msgLen);
      const wire = this.msgWire;
      this.msgLen = -1;
      const reader = this.readers.shift();
      if (reader) {
        this.onConsumed(wire);
        reader.resolve(msg);
      } else {
        this.msgs.push({ msg, wire });
      }
    }
    this.wakeAtEnd();
  }

  /** Readers waiting past the peer's FIN get null. */
  wakeAtEnd() {
    if (this.peerFin && this.frontier === this.peerFinal && this.inLen === 0 && this.msgs.length === 0) {
      for (const r of this.readers.splice(0)) r.resolve(null);
      this.session.maybeRetire(this);
    }
  }

  /** A copy-free view of the first n bytes when they lie in one chunk, else a merged copy. @param {number} n */
  gather(n) {
    const first = this.inChunks[0];
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.inChunks) {
      const t = Math.min(c.length, n - o);
      out.set(c.subarray(0, t), o);
      o += t;
      if (o === n) break;
    }
    return out;
  }

  /** Removes the first n bytes. @param {number} n */
  drop(n) {
    this.inLen -= n;
    while (n > 0) {
      const c = this.inChunks[0];
      if (c.length <= n) { this.inChunks.shift(); n -= c.length; } else { this.inChunks[0] = c.subarray(n); n = 0; }
    }
  }

  /** Removes and returns the first n bytes as one array (a view when they lie in one chunk). @param {number} n */
  take(n) {
    const first = this.inChunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first.length >= n) {
      const m = first.subarray(0, n);
      this.drop(n);
      return m;
    }
    const m = this.gather(n);
    this.drop(n);
    return m;
  }

  /** The application took a message of `wire` bytes: credit flows back. @param {number} wire */
  onConsumed(wire) {
    this.consumed += wire;
    this.session.onConsumed(this, wire);
    this.wakeAtEnd();
  }

  /** STREAM_FIN arrived. Returns false if the final size contradicts what we know. @param {number} size */
  onFin(size) {
    if ((this.peerFin && this.peerFinal !== size) || size < this.highRecv || size > this.ourMax) return false;
    this.peerFin = true;
    this.peerFinal = size;
    this.wakeAtEnd();
    return true;
  }

  /** Ends the stream with an error: pending and later calls reject with it. @param {Error} err */
  fail(err) {
    if (this.failure) return;
    this.failure = err;
    for (const r of this.readers.splice(0)) r.reject(err);
    this.session.buffered -= this.writeOff - this.ackedOff;
    this.ackedOff = this.writeOff;
    this.out = [];
    this.outOff = [];
    this.outHead = 0;
    this.lost = [];
  }

  /** The session ended: readers still waiting for data that will never come reject. @param {SessionClosedError} err */
  onSessionClosed(err) {
    if (this.failure) return;
    if (this.peerFin && this.frontier === this.peerFinal && this.inLen === 0) {
      this.failure = err; // only later writes see it; reads drain msgs then return null
      for (const r of this.readers.splice(0)) r.resolve(null);
      return;
    }
    this.failure = err;
    for (const r of this.readers.splice(0)) r.reject(err);
  }

  /** Whether both halves are finished, so the stream can leave the session's table. */
  done() {
    const sendDone = this.failure || (this.finAcked && this.ackedOff === this.writeOff);
    const recvDone = this.failure || (this.peerFin && this.frontier === this.peerFinal && this.msgs.length === 0 && this.inLen === 0);
    return sendDone && recvDone;
  }
}

export { SessionClosedError };
