// A session against a scripted peer over a fake socket: the test seals the responder's packets
// itself, so it can do what sttfast serve does only after 1 GiB or 10 minutes (a key update),
// reorder packets across it, and forge one, then read back what the session answered.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Session } from "../session.js";
import { defaultOptions } from "../index.js";
import { PacketKey, nextSecret, randomBytes } from "../crypto.js";
import { Writer, writeHeader, parseHeader, parseFrames, KIND_PROTECTED, T } from "../wire.js";

class FakeSocket {
  constructor() { this.readyState = 1; this.bufferedAmount = 0; /** @type {Uint8Array[]} */ this.sent = []; }
  /** @param {Uint8Array} b */
  send(b) { this.sent.push(b); }
  close() { this.readyState = 3; }
}

/** Waits until cond() holds (the session works through promises and macrotasks). @param {() => boolean} cond */
async function until(cond) {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), "condition never held");
}

/** Frames of one message (a varint length and its bytes) on stream id at offset off. */
function dataFrame(/** @type {Writer} */ w, /** @type {number} */ id, /** @type {number} */ off, /** @type {string} */ text) {
  const b = new TextEncoder().encode(text);
  w.u8(T.DATA); w.varint(id); w.varint(off); w.varint(b.length + 1); w.u8(b.length); w.bytes(b);
  return off + b.length + 1;
}

test("a peer's key update, packets reordered across it, and a forged packet", async () => {
  const keys = { id: randomBytes(8), i2r: randomBytes(32), r2i: randomBytes(32) };
  const ws = new FakeSocket();
  const s = new Session(/** @type {any} */ (ws), keys, { ...defaultOptions });
  const gen0 = await PacketKey.fromSecret(keys.r2i);
  const gen1 = await PacketKey.fromSecret(await nextSecret(keys.r2i));
  const peer = async (/** @type {PacketKey} */ key, /** @type {number} */ phase, /** @type {number} */ pn, /** @type {(w: Writer) => void} */ body) => {
    const w = new Writer();
    writeHeader(w, KIND_PROTECTED, phase, keys.id, pn, 4);
    const hdr = w.copy();
    w.reset();
    body(w);
    const sealed = await key.seal(hdr, pn, w.copy());
    const pkt = new Uint8Array(hdr.length + sealed.length);
    pkt.set(hdr);
    pkt.set(sealed, hdr.length);
    return pkt;
  };
  let off = 0;
  s.onPacket(await peer(gen0, 0, 0, (w) => { w.u8(T.FINAL); w.varint(0); w.u8(T.MAX_DATA); w.varint(1 << 24); w.u8(T.MAX_STREAMS); w.varint(100); }));
  const p1 = await peer(gen0, 0, 1, (w) => { off = dataFrame(w, 1, off, "one"); });
  const p2 = await peer(gen1, 1, 2, (w) => { w.u8(T.KEY_UPDATE); w.varint(1); off = dataFrame(w, 1, off, "two"); });
  const p3 = await peer(gen1, 1, 3, (w) => { off = dataFrame(w, 1, off, "three"); w.u8(T.STREAM_FIN); w.varint(1); w.varint(off); });
  const forged = p3.slice();
  forged[forged.length - 1] ^= 1;
  s.onPacket(p2); // the first packet under the new key overtakes the last one under the old
  s.onPacket(p1);
  s.onPacket(forged);
  s.onPacket(p3);
  const st = await s.acceptStream();
  const dec = new TextDecoder();
  assert.equal(dec.decode(await st.read()), "one");
  assert.equal(dec.decode(await st.read()), "two");
  assert.equal(dec.decode(await st.read()), "three");
  assert.equal(await st.read(), null);
  assert.equal(s.stats.keyUpdatesRecv, 1);
  assert.equal(s.stats.drops, 1, "the forged packet, and only it, was dropped");
  assert.equal(s.rxGen, 1);

  // What the session sent: decrypt with our own send key and find the ACK of packets 0-3.
  await until(() => ws.sent.length > 0 && s.recvRanges.length === 1);
  s.ackDue = true;
  s.schedule();
  const tx = await PacketKey.fromSecret(keys.i2r);
  /** @type {Array<[number, number]>} */ let acked = [];
  await until(() => ws.sent.length > 1);
  for (const pkt of ws.sent) {
    const h = parseHeader(pkt);
    const plain = await tx.open(pkt.subarray(0, h.len), h.pn, pkt.subarray(h.len));
    parseFrames(plain, 0, plain.length, (f) => { if (f.type === T.ACK) acked = /** @type {any} */ (f.ranges); });
  }
  assert.deepEqual(acked, [[0, 3]]);
  s.closeWithError(0x100, "test over");
  assert.equal((await s.closed).code, 0x100);
});

test("a frame beyond the flow-control window closes the session with code 3", async () => {
  const keys = { id: randomBytes(8), i2r: randomBytes(32), r2i: randomBytes(32) };
  const s = new Session(/** @type {any} */ (new FakeSocket()), keys, { ...defaultOptions, streamWindow: 1024, sessionWindow: 4096 });
  const key = await PacketKey.fromSecret(keys.r2i);
  const w = new Writer();
  writeHeader(w, KIND_PROTECTED, 0, keys.id, 0, 4);
  const hdr = w.copy();
  w.reset();
  w.u8(T.DATA); w.varint(1); w.varint(1000); w.varint(100); w.zeros(100);
  const sealed = await key.seal(hdr, 0, w.copy());
  const pkt = new Uint8Array(hdr.length + sealed.length);
  pkt.set(hdr);
  pkt.set(sealed, hdr.length);
  s.onPacket(pkt);
  const how = await s.closed;
  assert.equal(how.code, 3);
  assert.equal(how.remote, false);
});

test("frames of a packet an ACK skips are sent again, and only those", async () => {
  const keys = { id: randomBytes(8), i2r: randomBytes(32), r2i: randomBytes(32) };
  const ws = new FakeSocket();
  const s = new Session(/** @type {any} */ (ws), keys, { ...defaultOptions });
  const st = await s.openStream();
  await st.write(new Uint8Array(40000).fill(7));
  await until(() => ws.sent.length === 3);
  const tx = await PacketKey.fromSecret(keys.i2r);
  /** Every DATA frame sent so far, as [pn, offset, length]. */
  const dataSent = async () => {
    /** @type {Array<[number, number, number]>} */ const out = [];
    for (const pkt of ws.sent) {
      const h = parseHeader(pkt);
      const plain = await tx.open(pkt.subarray(0, h.len), h.pn, pkt.subarray(h.len));
      parseFrames(plain, 0, plain.length, (f) => { if (f.type === T.DATA) out.push([h.pn, /** @type {number} */ (f.offset), /** @type {Uint8Array} */ (f.data).length]); });
    }
    return out;
  };
  const before = await dataSent();
  assert.deepEqual(before.map((d) => d[0]), [0, 1, 2]);
  // The peer acknowledges packets 0 and 2: on an ordered path packet 1 can never arrive.
  const key = await PacketKey.fromSecret(keys.r2i);
  const w = new Writer();
  writeHeader(w, KIND_PROTECTED, 0, keys.id, 0, 4);
  const hdr = w.copy();
  w.reset();
  w.u8(T.ACK); w.varint(2); w.varint(0); w.varint(1); w.varint(0); w.varint(0); w.varint(0);
  const sealed = await key.seal(hdr, 0, w.copy());
  const pkt = new Uint8Array(hdr.length + sealed.length);
  pkt.set(hdr);
  pkt.set(sealed, hdr.length);
  s.onPacket(pkt);
  await until(() => ws.sent.length === 4);
  const after = await dataSent();
  assert.deepEqual(after[3], [3, before[1][1], before[1][2]], "packet 1's bytes again, in packet 3");
  assert.equal(s.stats.resent, 1);
  s.closeWithError(0x100);
});
