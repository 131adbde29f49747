// The bytes of STT version 1 (docs/PROTOCOL.md §1-§2): QUIC varints with the minimal-encoding
// rule, packet headers, frame types and a frame parser. Nothing here touches crypto or I/O, so
// every function can be pinned by byte-level tests.

/** Packet magic byte ('S'). */
export const MAGIC = 0x53;
/** Protocol version carried in the high nibble of byte 1. */
export const VERSION = 1;
/** Packet kind: handshake packet (frames in clear, then an HMAC-SHA256 tag). */
export const KIND_HANDSHAKE = 1;
/** Packet kind: protected packet (frames sealed with AES-256-GCM). */
export const KIND_PROTECTED = 2;
/** Size of the HMAC-SHA256 tag ending a handshake packet. */
export const MAC_SIZE = 32;
/** Size of the AES-GCM tag ending a protected packet. */
export const TAG_SIZE = 16;
/** Smallest HELLO the responder accepts (the padding gives it an amplification budget). */
export const HELLO_MIN_SIZE = 1200;
/** Largest packet of any kind. */
export const MAX_PACKET_SIZE = 65507;
/** Largest number of additional ACK ranges a receiver accepts. */
export const MAX_ACK_RANGES = 1024;
/** Largest SESSION_CLOSE reason in bytes. */
export const MAX_REASON_LEN = 256;
/** Largest value a varint carries (2^62 - 1); this client works below 2^53 (see readVarint). */
export const MAX_SAFE_VARINT = Number.MAX_SAFE_INTEGER;

/** Frame types of docs/PROTOCOL.md §2. */
export const T = Object.freeze({
  PADDING: 0x00, HELLO: 0x01, CHALLENGE: 0x02, AUTH_PROOF: 0x03, FINAL: 0x04, CLOCK: 0x05,
  RESUME: 0x06, RESUME_ACCEPT: 0x07, RESUME_REFUSED: 0x08, KEY_SHARE: 0x0a, FS_REQUIRED: 0x0b,
  DATA: 0x10, ACK: 0x11, NACK: 0x12, KEEP_ALIVE: 0x13, KEEP_ALIVE_ACK: 0x14,
  STREAM_OPEN: 0x20, STREAM_CLOSE: 0x21, STREAM_FIN: 0x22, STREAM_SKIP: 0x23, STREAM_KIND: 0x24, SESSION_CLOSE: 0x30,
  MAX_DATA: 0x40, MAX_STREAM_DATA: 0x41, MAX_STREAMS: 0x42, KEY_UPDATE: 0x50,
  PATH_CHALLENGE: 0x60, PATH_RESPONSE: 0x61,
});

/** A malformed packet or frame: the bytes break docs/PROTOCOL.md. `code` names the rule. */
export class WireError extends Error {
  /** @param {string} code e.g. "truncated", "bad_varint", "bad_header" @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = "WireError";
    this.code = code;
  }
}

const TWO32 = 2 ** 32;

/** Bytes of the minimal varint encoding of v. @param {number} v */
export function varintLen(v) {
  if (v < 64) return 1;
  if (v < 16384) return 2;
  if (v < 2 ** 30) return 4;
  return 8;
}

/**
 * A growable byte buffer that packets and frames are appended to. Reused across packets (reset)
 * so building a packet does not allocate once the buffer reached its size.
 */
export class Writer {
  /** @param {number} [size] */
  constructor(size = 2048) {
    this.buf = new Uint8Array(size);
    this.pos = 0;
  }
  reset() { this.pos = 0; }
  /** @param {number} n */
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }
  /** @param {number} v */
  u8(v) { this.ensure(1); this.buf[this.pos++] = v; }
  /** @param {Uint8Array} b */
  bytes(b) { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  /** @param {number} n */
  zeros(n) { this.ensure(n); this.buf.fill(0, this.pos, this.pos + n); this.pos += n; }
  /** Appends the minimal varint encoding of v (0 <= v <= 2^53-1). @param {number} v */
  varint(v) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`);
    if (v < 64) { this.u8(v); return; }
    if (v < 16384) {
      this.ensure(2);
      this.buf[this.pos] = 0x40 | (v >>> 8);
      this.buf[this.pos + 1] = v & 0xff;
      this.pos += 2;
      return;
    }
    this.ensure(8);
    const p = this.pos;
    if (v < 2 ** 30) {
      this.buf[p] = 0x80 | (v >>> 24); this.buf[p + 1] = (v >>> 16) & 0xff;
      this.buf[p + 2] = (v >>> 8) & 0xff; this.buf[p + 3] = v & 0xff;
      this.pos += 4;
      return;
    }
    const hi = Math.floor(v / TWO32), lo = v >>> 0;
    const d = new DataView(this.buf.buffer, this.buf.byteOffset);
    d.setUint32(p, (0xc0000000 | hi) >>> 0);
    d.setUint32(p + 4, lo);
    this.pos += 8;
  }
  /** A copy of what was written. */
  copy() { return this.buf.slice(0, this.pos); }
}

/** Reads fields from a byte range, throwing WireError on anything malformed. */
export class Reader {
  /** @param {Uint8Array} buf @param {number} [start] @param {number} [end] */
  constructor(buf, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  remaining() { return this.end - this.pos; }
  /** @param {number} n */
  need(n) { if (this.end - this.pos < n) throw new WireError("truncated", "frame claims more bytes than remain"); }
  u8() { this.need(1); return this.buf[this.pos++]; }
  /** A view (not a copy) of the next n bytes. @param {number} n */
  bytes(n) { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  /**
   * Reads a minimal varint. Values of 2^53 and above are valid on the wire but cannot be held
   * exactly in a JavaScript number; no field this client acts on reaches them, so they are a
   * WireError("unsupported") rather than a silently rounded value.
   */
  varint() {
    this.need(1);
    const b = this.buf, p = this.pos, first = b[p], len = 1 << (first >> 6);
    this.need(len);
    let v;
    if (len === 1) v = first;
    else if (len === 2) v = ((first & 0x3f) << 8) | b[p + 1];
    else if (len === 4) v = ((first & 0x3f) * 2 ** 24) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
    else {
      const hi = ((first & 0x3f) * 2 ** 24) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
      const lo = ((b[p + 4] * 2 ** 24) + (b[p + 5] << 16) + (b[p + 6] << 8) + b[p + 7]);
      if (hi >= 2 ** 21) throw new WireError("unsupported", "varint at or above 2^53");
      v = hi * TWO32 + lo;
    }
    if (len > 1 && varintLen(v) !== len) throw new WireError("bad_varint", "varint not minimally encoded");
    this.pos += len;
    return v;
  }
}

/**
 * A parsed packet header. `len` is its size in bytes (12, 13, 15 or 19); `pn` the truncated
 * packet number as sent, of `pnLen` bytes.
 * @typedef {{kind: number, keyPhase: number, sessionId: Uint8Array, pn: number, pnLen: number, len: number}} Header
 */

/**
 * Parses and checks a packet header (docs/PROTOCOL.md §1).
 * @param {Uint8Array} b the whole packet
 * @returns {Header}
 */
export function parseHeader(b) {
  if (b.length === 0) throw new WireError("truncated", "empty packet");
  if (b[0] !== MAGIC) throw new WireError("bad_magic", "not an STT packet");
  if (b.length > MAX_PACKET_SIZE) throw new WireError("oversize", "packet above MaxPacketSize");
  if (b.length < 12) throw new WireError("truncated", "packet shorter than a header");
  if (b[1] >> 4 !== VERSION) throw new WireError("bad_version", `version ${b[1] >> 4}`);
  const kind = b[1] & 0x0f;
  if (kind !== KIND_HANDSHAKE && kind !== KIND_PROTECTED) throw new WireError("bad_kind", `kind ${kind}`);
  const flags = b[2];
  if ((flags & 0xf8) !== 0 || (kind === KIND_HANDSHAKE && flags !== 0)) throw new WireError("bad_header", "reserved flags set");
  const pnLen = 1 << ((flags >> 1) & 3);
  const len = 11 + pnLen;
  if (b.length < len) throw new WireError("truncated", "packet shorter than its header");
  let pn = 0;
  if (pnLen === 8) {
    const hi = (b[11] * 2 ** 24) + (b[12] << 16) + (b[13] << 8) + b[14];
    if (hi >= 2 ** 30) throw new WireError("bad_header", "packet number at or above 2^62");
    if (hi >= 2 ** 21) throw new WireError("unsupported", "packet number at or above 2^53");
    pn = hi * TWO32 + ((b[15] * 2 ** 24) + (b[16] << 16) + (b[17] << 8) + b[18]);
  } else {
    for (let i = 0; i < pnLen; i++) pn = pn * 256 + b[11 + i];
  }
  return { kind, keyPhase: flags & 1, sessionId: b.subarray(3, 11), pn, pnLen, len };
}

/**
 * Appends a packet header. pnLen is 1, 2, 4 or 8; the low pnLen bytes of pn are written.
 * @param {Writer} w @param {number} kind @param {number} keyPhase @param {Uint8Array} sessionId
 * @param {number} pn @param {number} pnLen
 */
export function writeHeader(w, kind, keyPhase, sessionId, pn, pnLen) {
  const code = pnLen === 1 ? 0 : pnLen === 2 ? 1 : pnLen === 4 ? 2 : 3;
  w.u8(MAGIC);
  w.u8((VERSION << 4) | kind);
  w.u8((keyPhase & 1) | (code << 1));
  w.bytes(sessionId);
  let hi = Math.floor(pn / TWO32), lo = pn >>> 0;
  for (let i = pnLen - 1; i >= 0; i--) {
    const shift = i * 8;
    w.u8(shift >= 32 ? (hi >>> (shift - 32)) & 0xff : (lo >>> shift) & 0xff);
  }
}

/**
 * Recovers a full packet number from its truncated form (RFC 9000 Appendix A.3), against the
 * largest packet number authenticated so far (-1 before any: the protocol's "largest = 0" gives
 * the same result for the first window).
 * @param {number} largest @param {number} truncated @param {number} pnLen
 */
export function decodePacketNumber(largest, truncated, pnLen) {
  if (pnLen === 8) return truncated;
  const expected = Math.max(largest, 0) + 1;
  const win = 2 ** (8 * pnLen), hwin = win / 2;
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - hwin && candidate < 2 ** 53 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

/**
 * The packet-number length a sender uses: 4 bytes unless pn is 2^31 or more past the largest
 * acknowledged (docs/PROTOCOL.md §1).
 * @param {number} pn @param {number} largestAcked -1 when nothing was acknowledged
 */
export function packetNumberLen(pn, largestAcked) {
  return pn - largestAcked < 2 ** 31 ? 4 : 8;
}

/**
 * One parsed frame. Views into the packet buffer: copy `data` if it must outlive the packet.
 * @typedef {{type: number, value?: number, streamId?: number, offset?: number, data?: Uint8Array,
 *   code?: number, ranges?: Array<[number, number]>, largest?: number, delay?: number,
 *   nonce?: Uint8Array, nodeId?: Uint8Array, ts?: number, respNonce?: Uint8Array,
 *   respNodeId?: Uint8Array, respTs?: number}} Frame
 */

/**
 * Parses every frame of body[start:end] and calls onFrame for each, in order. A run of PADDING
 * bytes is one frame. Throws WireError on the first malformed frame.
 * @param {Uint8Array} body @param {number} start @param {number} end
 * @param {(f: Frame) => void} onFrame
 */
export function parseFrames(body, start, end, onFrame) {
  const r = new Reader(body, start, end);
  while (r.remaining() > 0) onFrame(readFrame(r));
}

/** Reads the frame at r's position. @param {Reader} r @returns {Frame} */
export function readFrame(r) {
  const type = r.u8();
  switch (type) {
    case T.PADDING:
      while (r.remaining() > 0 && r.buf[r.pos] === 0) r.pos++;
      return { type };
    case T.HELLO: {
      const value = r.varint();
      return { type, value, nonce: r.bytes(32), nodeId: r.bytes(8), ts: r.varint() };
    }
    case T.CHALLENGE:
      return { type, nonce: r.bytes(32), nodeId: r.bytes(8), ts: r.varint() };
    case T.AUTH_PROOF:
      return { type, nonce: r.bytes(32), ts: r.varint(), nodeId: r.bytes(8), respNonce: r.bytes(32), respTs: r.varint(), respNodeId: r.bytes(8) };
    case T.FINAL:
      return { type, code: r.varint() };
    case T.CLOCK:
      return { type, ts: r.varint() };
    // Resumption and forward secrecy (PROTOCOL.md §3): parsed so that a handshake packet
    // carrying them is understood; this client neither resumes nor offers KEY_SHARE.
    case T.RESUME:
      return { type, sessionId: r.bytes(8), value: r.varint(), nonce: r.bytes(32), nodeId: r.bytes(8), ts: r.varint(), binder: r.bytes(32) };
    case T.RESUME_ACCEPT:
      return { type, value: r.varint(), nonce: r.bytes(32), nodeId: r.bytes(8), firstPn: r.varint() };
    case T.RESUME_REFUSED:
      return { type, value: r.varint(), code: r.varint() };
    case T.KEY_SHARE:
      return { type, data: r.bytes(32) };
    case T.FS_REQUIRED:
      return { type };
    case T.DATA: {
      const streamId = r.varint(), offset = r.varint(), n = r.varint();
      if (n > MAX_PACKET_SIZE) throw new WireError("oversize", "DATA longer than MaxPacketSize");
      if (offset + n > MAX_SAFE_VARINT) throw new WireError("bad_frame", "DATA beyond 2^53");
      return { type, streamId, offset, data: r.bytes(n) };
    }
    case T.ACK:
      return readAck(r);
    case T.NACK: {
      const n = r.varint();
      if (n === 0 || n > 64) throw new WireError("bad_ack", "NACK range count");
      for (let i = 0; i < n; i++) { r.varint(); if (r.varint() === 0) throw new WireError("bad_ack", "NACK count 0"); }
      return { type };
    }
    case T.KEEP_ALIVE: case T.KEEP_ALIVE_ACK: case T.STREAM_OPEN: case T.MAX_DATA: case T.MAX_STREAMS: case T.KEY_UPDATE:
      return type === T.STREAM_OPEN ? { type, streamId: r.varint() } : { type, value: r.varint() };
    case T.STREAM_CLOSE:
      return { type, streamId: r.varint(), code: r.varint() };
    case T.STREAM_FIN: case T.MAX_STREAM_DATA:
      return { type, streamId: r.varint(), value: r.varint() };
    case T.STREAM_SKIP: {
      // Abandoned messages of a probabilistic stream (PROTOCOL.md §5): [offset, end) not empty,
      // at least one and at most one message per byte.
      const streamId = r.varint(), offset = r.varint(), end = r.varint(), first = r.varint(), count = r.varint();
      if (!(offset < end && count >= 1 && count <= end - offset)) throw new WireError("bad_frame", "STREAM_SKIP fields inconsistent");
      return { type, streamId, offset, value: end, first, count };
    }
    case T.STREAM_KIND:
      return { type, streamId: r.varint(), value: r.varint(), deadline: r.varint() };
    case T.SESSION_CLOSE: {
      const code = r.varint(), n = r.varint();
      if (n > MAX_REASON_LEN) throw new WireError("oversize", "SESSION_CLOSE reason above 256 bytes");
      return { type, code, data: r.bytes(n) };
    }
    case T.PATH_CHALLENGE: case T.PATH_RESPONSE:
      return { type, data: r.bytes(8) };
  }
  if (type >= 0x80) {
    const value = r.varint(), n = r.varint();
    if (n > MAX_PACKET_SIZE) throw new WireError("oversize", "APPLICATION frame longer than MaxPacketSize");
    return { type, value, data: r.bytes(n) };
  }
  throw new WireError("unknown_frame", `unknown frame type 0x${type.toString(16)}`);
}

/** @param {Reader} r @returns {Frame} */
function readAck(r) {
  const largest = r.varint(), delay = r.varint(), count = r.varint();
  if (count > MAX_ACK_RANGES) throw new WireError("bad_ack", "too many ACK ranges");
  const first = r.varint();
  if (first > largest) throw new WireError("bad_ack", "ACK range below 0");
  /** @type {Array<[number, number]>} */
  const ranges = [[largest - first, largest]];
  let lo = largest - first;
  for (let i = 0; i < count; i++) {
    const gap = r.varint(), len = r.varint();
    const hi = lo - gap - 2;
    if (hi < 0 || hi - len < 0) throw new WireError("bad_ack", "ACK range below 0");
    lo = hi - len;
    ranges.push([lo, hi]);
  }
  return { type: T.ACK, largest, delay, ranges };
}

/**
 * Appends an ACK frame for ranges (descending, disjoint, non-adjacent [lo, hi] pairs), as many
 * as fit in room bytes; returns how many ranges it wrote (0 if not even the first fits).
 * @param {Writer} w @param {Array<[number, number]>} ranges @param {number} delayMicros @param {number} room
 */
export function writeAck(w, ranges, delayMicros, room) {
  const [lo0, hi0] = ranges[0];
  let size = 1 + varintLen(hi0) + varintLen(delayMicros) + varintLen(hi0 - lo0) + 2;
  if (size > room) return 0;
  let n = 1;
  for (let lo = lo0; n < ranges.length && n <= MAX_ACK_RANGES; n++) {
    const [l, h] = ranges[n];
    const more = varintLen(lo - h - 2) + varintLen(h - l);
    if (size + more > room) break;
    size += more;
    lo = l;
  }
  w.u8(T.ACK);
  w.varint(hi0);
  w.varint(delayMicros);
  w.varint(n - 1);
  w.varint(hi0 - lo0);
  for (let i = 1, lo = lo0; i < n; i++) {
    const [l, h] = ranges[i];
    w.varint(lo - h - 2);
    w.varint(h - l);
    lo = l;
  }
  return n;
}
