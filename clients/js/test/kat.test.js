// The JavaScript crypto, handshake and wire codec pinned by the same known-answer vectors as
// Go's: stc/testdata/kat.json (key schedule, AEAD), ctrl/testdata/handshake_kat.json (handshake
// packets) and frame/testdata/golden (headers, frames, malformed inputs). The vectors were made
// by independent Python implementations, not by either client.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  seedKeys, nodeIdFor, sessionKeys, nextSecret, hkdfExpand, hmac, packetNonce, PacketKey, MacKey, fromHex, toHex,
} from "../crypto.js";
import { buildHello, buildProof, parseHandshake } from "../handshake.js";
import { parseHeader, Reader, readFrame, WireError, T } from "../wire.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const katText = readFileSync(root + "stc/testdata/kat.json", "utf8");
const kat = JSON.parse(katText);
// JSON numbers above 2^53 are rounded by JSON.parse: the seal vectors' exact packet numbers, from the text.
const sealPNs = [...katText.matchAll(/"pn": (\d+)/g)].map((m) => BigInt(m[1]));
const hsKat = JSON.parse(readFileSync(root + "ctrl/testdata/handshake_kat.json", "utf8"));

test("stc kat: seed keys and node ids", async () => {
  const k = await seedKeys(fromHex(kat.seed));
  assert.equal(toHex(k.prkSeed), kat.prk_seed);
  assert.equal(toHex(k.handshakeKey), kat.handshake_key);
  assert.equal(toHex(k.exportKey), kat.export_key);
  for (const n of kat.node_ids) assert.equal(toHex(await nodeIdFor(k.prkSeed, fromHex(n.instance))), n.id);
});

test("stc kat: session keys", async () => {
  const s = kat.session;
  const k = await sessionKeys(fromHex(kat.seed), fromHex(s.nonce_i), fromHex(s.nonce_r));
  assert.equal(toHex(k.prk), s.prk_s);
  assert.equal(toHex(k.id), s.id);
  assert.equal(toHex(k.i2r), s.i2r);
  assert.equal(toHex(k.r2i), s.r2i);
  assert.equal(toHex(k.resumption), s.resumption);
});

test("stc kat: key update chains, AES keys and nonce salts", async () => {
  for (const dir of ["i2r", "r2i"]) {
    let secret = fromHex(kat.chains[dir][0].secret);
    for (const g of kat.chains[dir]) {
      assert.equal(toHex(secret), g.secret, `${dir} generation ${g.generation}`);
      assert.equal(toHex(await hkdfExpand(secret, "stt1 key", 32)), g.key);
      assert.equal(toHex(await hkdfExpand(secret, "stt1 iv", 12)), g.iv);
      secret = await nextSecret(secret);
    }
  }
});

test("stc kat: seal and open with the header as associated data", async () => {
  assert.equal(sealPNs.length, kat.seal.length);
  for (const [i, v] of kat.seal.entries()) {
    const key = await PacketKey.fromSecret(fromHex(v.secret));
    const header = fromHex(v.header);
    const pn = sealPNs[i];
    assert.equal(toHex(packetNonce(key.salt, pn)), v.nonce);
    if (pn <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(toHex(packetNonce(key.salt, Number(pn))), v.nonce);
    assert.equal(toHex(await key.seal(header, pn, fromHex(v.plaintext))), v.sealed, `pn ${pn}`);
    assert.equal(toHex(await key.open(header, pn, fromHex(v.sealed))), v.plaintext);
    // A flipped header bit must not authenticate: the header is the associated data.
    const bad = header.slice();
    bad[bad.length - 1] ^= 1;
    await assert.rejects(key.open(bad, pn, fromHex(v.sealed)));
  }
});

test("stc kat: handshake MAC", async () => {
  const k = await seedKeys(fromHex(kat.seed));
  assert.equal(toHex(await hmac(k.handshakeKey, fromHex(kat.mac.parts.join("")))), kat.mac.mac);
});

test("handshake kat: HELLO, AUTH_PROOF, CHALLENGE and CLOCK bytes", async () => {
  for (const v of hsKat.vectors) {
    const { handshakeKey } = await seedKeys(fromHex(v.seed));
    assert.equal(toHex(handshakeKey), v.handshake_key);
    const mac = await MacKey.create(handshakeKey);
    const hello = await buildHello(mac, fromHex(v.nonce_i), fromHex(v.node_i), v.ts_i, v.attempt);
    assert.equal(toHex(hello.packet), v.hello, v.name);
    assert.equal(toHex(hello.mac), v.hello_mac);
    const ch = await parseHandshake(mac, fromHex(v.challenge), hello.mac);
    assert.ok(ch, "the CHALLENGE verifies against its HELLO");
    assert.equal(ch.frame.type, T.CHALLENGE);
    assert.equal(toHex(ch.frame.nonce), v.nonce_r);
    assert.equal(toHex(ch.frame.nodeId), v.node_r);
    assert.equal(ch.frame.ts, v.ts_r);
    assert.equal(ch.attempt, v.attempt & 0xff);
    assert.equal(await parseHandshake(mac, fromHex(v.challenge), new Uint8Array(32)), null, "bound to the exact HELLO");
    const proof = await buildProof(mac, {
      tag: fromHex(v.nonce_i).subarray(0, 8), attempt: ch.attempt, nonceI: fromHex(v.nonce_i), tsI: v.ts_i,
      nodeI: fromHex(v.node_i), nonceR: ch.frame.nonce, tsR: ch.frame.ts, nodeR: ch.frame.nodeId,
    });
    assert.equal(toHex(proof), v.auth_proof);
    const clock = await parseHandshake(mac, fromHex(v.clock), hello.mac);
    assert.equal(clock.frame.type, T.CLOCK);
    assert.equal(clock.frame.ts, v.ts_clock);
    const s = await sessionKeys(fromHex(v.seed), fromHex(v.nonce_i), fromHex(v.nonce_r));
    assert.equal(toHex(s.id), v.session.id);
    assert.equal(toHex(s.i2r), v.session.i2r);
    assert.equal(toHex(s.r2i), v.session.r2i);
  }
});

/** name → bytes of a golden file (name<TAB>hex[<TAB>error]). @param {string} file */
function golden(file) {
  return readFileSync(root + "frame/testdata/golden/" + file, "utf8").split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => { const [name, hex, err] = l.split("\t"); return { name, bytes: fromHex(hex.replace(/ /g, "")), err }; });
}

// Values from 2^53 up are valid on the wire but cannot be held in a JavaScript number: the codec
// refuses them with WireError("unsupported") instead of rounding.
const beyond53 = new Set(["data/end-at-max", "max-data/2^62-1", "header/protected-pn8-max-phase1", "frame/data-end-beyond-max", "frame/nack-beyond-max"]);

test("frame golden: every header parses", () => {
  for (const g of golden("headers.txt")) {
    if (beyond53.has(g.name)) {
      assert.throws(() => parseHeader(g.bytes), (e) => e instanceof WireError && e.code === "unsupported", g.name);
      continue;
    }
    const h = parseHeader(g.bytes);
    assert.equal(h.len, g.bytes.length, g.name);
  }
});

test("frame golden: every frame parses whole", () => {
  for (const g of golden("frames.txt")) {
    const r = new Reader(g.bytes);
    if (beyond53.has(g.name)) {
      assert.throws(() => readFrame(r), (e) => e instanceof WireError && e.code === "unsupported", g.name);
      continue;
    }
    readFrame(r);
    assert.equal(r.remaining(), 0, g.name);
  }
  const ack = readFrame(new Reader(fromHex("114064" + "43e8" + "02050" + "30a" + "404400")));
  assert.deepEqual(ack.ranges, [[95, 100], [80, 90], [10, 10]]);
});

test("frame golden: every malformed input is the right WireError", () => {
  const codes = {
    ErrBadMagic: "bad_magic", ErrBadVersion: "bad_version", ErrBadKind: "bad_kind", ErrBadHeader: "bad_header",
    ErrTruncated: "truncated", ErrUnknownFrame: "unknown_frame", ErrBadVarint: "bad_varint", ErrOversize: "oversize",
    ErrBadFrame: "bad_frame", ErrBadAck: "bad_ack",
  };
  for (const g of golden("invalid.txt")) {
    const want = beyond53.has(g.name) ? "unsupported" : codes[g.err];
    assert.ok(want, `${g.name}: unmapped ${g.err}`);
    const parse = g.name.startsWith("header/") ? () => parseHeader(g.bytes) : () => readFrame(new Reader(g.bytes));
    assert.throws(parse, (e) => e instanceof WireError && e.code === want, g.name);
  }
});
