// The initiator's half of the four-message handshake (docs/PROTOCOL.md §3): HELLO, the
// CHALLENGE or CLOCK that answers it, and AUTH_PROOF. Builders return whole packets so they can
// be compared byte for byte with ctrl/testdata/handshake_kat.json.

import { KIND_HANDSHAKE, HELLO_MIN_SIZE, MAC_SIZE, T, VERSION, Writer, Reader, parseHeader, readFrame, writeHeader, WireError } from "./wire.js";
import { concat } from "./crypto.js";

/** Appends the 12-byte header of a handshake packet. @param {Writer} w @param {Uint8Array} tag @param {number} attempt */
function header(w, tag, attempt) {
  writeHeader(w, KIND_HANDSHAKE, 0, tag, attempt & 0xff, 1);
}

/**
 * A HELLO packet: header (tag = nonce[0:8], pn = attempt), HELLO frame, zero padding to
 * HELLO_MIN_SIZE, MAC(header ‖ body). Resolves to the packet and its MAC (a CHALLENGE's MAC
 * covers it).
 * @param {import("./crypto.js").MacKey} mac @param {Uint8Array} nonce 32 bytes
 * @param {Uint8Array} nodeId 8 bytes @param {number} ts Unix ms @param {number} attempt
 */
export async function buildHello(mac, nonce, nodeId, ts, attempt) {
  const w = new Writer(HELLO_MIN_SIZE);
  header(w, nonce.subarray(0, 8), attempt);
  w.u8(T.HELLO);
  w.varint(VERSION);
  w.bytes(nonce);
  w.bytes(nodeId);
  w.varint(ts);
  w.zeros(HELLO_MIN_SIZE - MAC_SIZE - w.pos);
  const body = w.copy();
  const tag = await mac.sign(body);
  return { packet: concat(body, tag), mac: tag };
}

/**
 * An AUTH_PROOF packet carrying the whole transcript, MAC(header ‖ body).
 * @param {import("./crypto.js").MacKey} mac
 * @param {{tag: Uint8Array, attempt: number, nonceI: Uint8Array, tsI: number, nodeI: Uint8Array,
 *   nonceR: Uint8Array, tsR: number, nodeR: Uint8Array}} t
 */
export async function buildProof(mac, t) {
  const w = new Writer(160);
  header(w, t.tag, t.attempt);
  w.u8(T.AUTH_PROOF);
  w.bytes(t.nonceI);
  w.varint(t.tsI);
  w.bytes(t.nodeI);
  w.bytes(t.nonceR);
  w.varint(t.tsR);
  w.bytes(t.nodeR);
  const body = w.copy();
  return concat(body, await mac.sign(body));
}

/**
 * Verifies a handshake packet's MAC (over header ‖ body ‖ extra; extra is the HELLO's MAC for a
 * CHALLENGE or CLOCK) and parses its one message. Resolves to null when the MAC does not verify
 * or the packet is malformed: the caller drops it, as the protocol drops any unverifiable packet.
 * @param {import("./crypto.js").MacKey} mac @param {Uint8Array} packet @param {Uint8Array} extra
 * @returns {Promise<null | {tag: Uint8Array, attempt: number, frame: import("./wire.js").Frame}>}
 */
export async function parseHandshake(mac, packet, extra) {
  let h;
  try {
    h = parseHeader(packet);
  } catch {
    return null;
  }
  if (h.kind !== KIND_HANDSHAKE || packet.length < h.len + 1 + MAC_SIZE) return null;
  const body = packet.subarray(0, packet.length - MAC_SIZE);
  if (!(await mac.verify(concat(body, extra), packet.subarray(body.length)))) return null;
  try {
    const r = new Reader(body, h.len);
    const frame = readFrame(r);
    while (r.remaining() > 0) {
      if (readFrame(r).type !== T.PADDING) throw new WireError("bad_frame", "frame after the handshake message");
    }
    return { tag: h.sessionId.slice(), attempt: h.pn, frame };
  } catch {
    return null;
  }
}
