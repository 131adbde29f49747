// The wire codec on its own: varint boundaries and the minimal-encoding rule, headers, packet
// number recovery (RFC 9000 A.3), ACK ranges both ways, and a seeded fuzz pass showing that no
// input makes the parsers throw anything but WireError (bad network input is a typed error).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  Writer, Reader, WireError, writeHeader, parseHeader, decodePacketNumber, writeAck, readFrame, parseFrames, T, KIND_PROTECTED, varintLen,
} from "../wire.js";
import { fromHex } from "../crypto.js";

const here = fileURLToPath(new URL("../", import.meta.url));

test("varints: boundaries round-trip in their minimal length", () => {
  for (const v of [0, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const w = new Writer(1);
    w.varint(v);
    assert.equal(w.pos, varintLen(v), `length of ${v}`);
    const r = new Reader(w.copy());
    assert.equal(r.varint(), v);
    assert.equal(r.remaining(), 0);
  }
  assert.throws(() => new Reader(fromHex("403f")).varint(), (e) => e instanceof WireError && e.code === "bad_varint");
  assert.throws(() => new Writer().varint(-1), RangeError);
});

test("headers: write then parse, every packet-number length", () => {
  const sid = fromHex("1122334455667788");
  for (const [pn, len] of [[0x2a, 1], [0x1234, 2], [0x89abcdef, 4], [2 ** 40 + 7, 8]]) {
    const w = new Writer();
    writeHeader(w, KIND_PROTECTED, 1, sid, pn, len);
    const h = parseHeader(w.copy());
    assert.deepEqual([h.kind, h.keyPhase, h.pn, h.pnLen, h.len], [KIND_PROTECTED, 1, pn, len, 11 + len]);
  }
});

test("packet numbers: RFC 9000 A.3 and the window edges", () => {
  assert.equal(decodePacketNumber(0xa82f30ea, 0x9b32, 2), 0xa82f9b32);
  assert.equal(decodePacketNumber(-1, 0, 4), 0);
  assert.equal(decodePacketNumber(2 ** 32 - 2, 1, 4), 2 ** 32 + 1);
  assert.equal(decodePacketNumber(2 ** 32 + 3, 2 ** 32 - 1, 4), 2 ** 32 - 1);
});

test("ACK: writeAck's ranges come back from the parser, cut to the room given", () => {
  /** @type {Array<[number, number]>} */
  const ranges = [];
  for (let i = 0, hi = 100000; i < 600; i++, hi -= 7) ranges.push([hi - 3, hi]);
  const w = new Writer();
  const n = writeAck(w, ranges, 25000, 1200);
  assert.ok(n > 100 && n < 600, `ranges written: ${n}`);
  assert.ok(w.pos <= 1200);
  const f = readFrame(new Reader(w.copy()));
  assert.equal(f.type, T.ACK);
  assert.deepEqual(f.ranges, ranges.slice(0, n));
  assert.equal(f.delay, 25000);
});

/** A small seeded PRNG (mulberry32), so the fuzz pass is the same on every run. @param {number} seed */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The seed corpus: testdata/fuzz/parse and the Go codec's golden vectors. */
function corpus() {
  const out = [];
  const dir = here + "testdata/fuzz/parse/";
  for (const f of readdirSync(dir)) out.push(fromHex(readFileSync(dir + f, "utf8").trim()));
  for (const g of ["frames.txt", "headers.txt", "invalid.txt"]) {
    for (const l of readFileSync(here + "../../frame/testdata/golden/" + g, "utf8").split("\n")) {
      if (l && !l.startsWith("#")) out.push(fromHex(l.split("\t")[1].replace(/ /g, "")));
    }
  }
  return out;
}

test("fuzz: mutated packets and frames raise only WireError", () => {
  const rand = prng(17);
  const seeds = corpus();
  assert.ok(seeds.length > 80, `corpus of ${seeds.length}`);
  let typed = 0;
  for (let i = 0; i < 30000; i++) {
    const b = seeds[i % seeds.length].slice();
    const edits = 1 + Math.floor(rand() * 4);
    let m = b;
    for (let e = 0; e < edits && m.length > 0; e++) {
      const k = rand();
      if (k < 0.6) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      else if (k < 0.8) m = m.subarray(0, Math.floor(rand() * m.length));
      else { const x = new Uint8Array(m.length + 8); x.set(m); x.set(fromHex("c0ffffffffffffff"), m.length); m = x; }
    }
    for (const parse of [() => parseHeader(m), () => parseFrames(m, 0, m.length, () => {})]) {
      try {
        parse();
      } catch (err) {
        assert.ok(err instanceof WireError, `input ${Buffer.from(m).toString("hex")}: ${err}`);
        typed++;
      }
    }
  }
  assert.ok(typed > 1000);
});
