// The client against the real thing: the built sttfast binary serving (and relaying) over ws://
// on loopback. Skips, saying why, where there is no WebSocket for Node or no binary to run.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, SessionClosedError, SeedRefusedError, ConnectError } from "../index.js";
import { nodeWebSocket, skipReason, newSeed, startNode, pattern, sameBytes } from "../testkit/helpers.js";

// node:test (Node 20) skips on any skip option but undefined or false, the empty string included.
const skip = skipReason() || false;
const WebSocket = nodeWebSocket();
const [seed, seedPath] = newSeed();
/** @type {any} */ let serve;

before(async () => { if (!skip) serve = await startNode("serve", seedPath); });
after(async () => { await serve?.stop(); });

const opts = (/** @type {object} */ more = {}) => ({ seed, WebSocket, ...more });

test("10 000 messages echoed byte-exact through sttfast serve", { skip, timeout: 120000 }, async () => {
  const s = await connect(serve.url, opts());
  const st = await s.openStream();
  const N = 10000, size = (/** @type {number} */ i) => (i * 7919) % 2000;
  const reading = (async () => {
    for (let i = 0; i < N; i++) {
      const m = await st.read();
      assert.ok(m && sameBytes(m, pattern(1, i, size(i))), `message ${i} differs`);
    }
    return st.read();
  })();
  for (let i = 0; i < N; i++) await st.write(pattern(1, i, size(i)));
  await st.close();
  assert.equal(await reading, null, "the echo ends after the last message");
  await s.close();
  assert.deepEqual(await s.closed, { code: 0, reason: "", remote: false });
  assert.equal(s.stats.drops, 0);
});

test("a 16 MiB stream byte-exact, with key updates every MiB", { skip, timeout: 120000 }, async () => {
  const s = await connect(serve.url, opts({ keyUpdateBytes: 1 << 20 }));
  const st = await s.openStream();
  const chunk = 64 << 10, total = 16 << 20;
  const reading = (async () => {
    let got = 0;
    for (let m; (m = await st.read()) !== null; ) {
      assert.ok(sameBytes(m, pattern(2, got / chunk, chunk)), `chunk at ${got} differs`);
      got += m.length;
    }
    return got;
  })();
  for (let o = 0; o < total; o += chunk) await st.write(pattern(2, o / chunk, chunk));
  await st.close();
  assert.equal(await reading, total);
  // An update waits for the peer to acknowledge the current generation, so not every MiB gets one.
  assert.ok(s.stats.keyUpdatesSent >= 3, `key updates sent: ${s.stats.keyUpdatesSent}`);
  await s.close();
  assert.equal((await s.closed).code, 0);
});

test("streams side by side keep their messages apart", { skip, timeout: 60000 }, async () => {
  const s = await connect(serve.url, opts());
  await Promise.all(Array.from({ length: 12 }, async (_, k) => {
    const st = await s.openStream();
    const reading = (async () => { for (let i = 0; i < 300; i++) assert.ok(sameBytes(await st.read(), pattern(100 + k, i, 300 + k))); })();
    for (let i = 0; i < 300; i++) await st.write(pattern(100 + k, i, 300 + k));
    await st.close();
    await reading;
    assert.equal(await st.read(), null);
  }));
  await s.close();
});

test("a wrong seed is refused with an error that says so", { skip, timeout: 30000 }, async () => {
  const [other] = newSeed();
  await assert.rejects(connect(serve.url, { seed: other, WebSocket, handshakeTimeout: 1500 }), (err) => {
    assert.ok(err instanceof SeedRefusedError);
    assert.match(err.message, /^sttfast: connect ws:\/\/.*: the seed was refused/);
    return true;
  });
});

test("a clock an hour ahead is corrected from the node's CLOCK answer", { skip, timeout: 30000 }, async () => {
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000; // the HELLO's timestamp falls outside the node's ±30 s window
  try {
    const s = await connect(serve.url, opts({ handshakeTimeout: 8000 }));
    assert.ok(Math.abs(s.clockOffset + 3_600_000) < 5000, `offset learnt: ${s.clockOffset} ms`);
    const st = await s.openStream();
    await st.write(pattern(5, 0, 10));
    assert.ok(sameBytes(await st.read(), pattern(5, 0, 10)));
    await s.close();
  } finally {
    Date.now = realNow;
  }
});

test("nothing listening is a connect error, not a seed refusal", { skip, timeout: 30000 }, async () => {
  await assert.rejects(connect("ws://127.0.0.1:1/stt", opts({ handshakeTimeout: 3000 })), (err) => {
    assert.ok(err instanceof ConnectError, String(err));
    assert.doesNotMatch(err.message, /seed/);
    return true;
  });
  await assert.rejects(connect(serve.url, { seed: "not hex", WebSocket }), TypeError);
});

test("the server going away closes the session cleanly", { skip, timeout: 60000 }, async () => {
  const [s2, p2] = newSeed();
  const node = await startNode("serve", p2);
  const s = await connect(node.url, { seed: s2, WebSocket });
  const st = await s.openStream();
  await st.write(pattern(3, 0, 100));
  assert.ok(sameBytes(await st.read(), pattern(3, 0, 100)));
  const pending = assert.rejects(st.read(), (err) => err instanceof SessionClosedError && err.code === 8 && err.remote);
  await node.stop();
  const how = await s.closed;
  assert.equal(how.code, 8);
  assert.equal(how.remote, true);
  await pending;
  await assert.rejects(st.write(new Uint8Array(1)), SessionClosedError);
  await assert.rejects(s.openStream(), SessionClosedError);
  await s.close(); // closing a closed session is a no-op
});

test("a relay subscriber accepts the relay's stream and reads what a publisher sent", { skip, timeout: 60000 }, async () => {
  const [s3, p3] = newSeed();
  const relay = await startNode("relay", p3, ["--interval", "0"]);
  try {
    const sub = await connect(relay.url, { seed: s3, WebSocket });
    const pub = await connect(relay.url, { seed: s3, WebSocket });
    // The relay knows a session once its handshake is done; both are, so publish now.
    const st = await pub.openStream();
    for (let i = 0; i < 50; i++) await st.write(pattern(4, i, 64));
    await st.close();
    const incoming = await sub.acceptStream();
    assert.equal(incoming.id % 2, 1, "the relay's stream has a responder's id");
    for (let i = 0; i < 50; i++) assert.ok(sameBytes(await incoming.read(), pattern(4, i, 64)), `message ${i}`);
    assert.equal(await st.read(), null, "the relay ends the publisher's stream once forwarded");
    await pub.close();
    await sub.close();
  } finally {
    await relay.stop();
  }
});
