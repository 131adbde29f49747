// The key schedule and packet protection of docs/PROTOCOL.md §3-§4 on WebCrypto only
// (crypto.subtle: HMAC-SHA256, AES-256-GCM), so the same code runs in a browser page, a worker
// and Node 20+. HKDF is built from HMAC as RFC 5869 defines it, because the protocol expands
// traffic secrets that were never extracted (key updates), which WebCrypto's HKDF cannot do.

const subtle = globalThis.crypto?.subtle;
const enc = new TextEncoder();

/** Thrown when the platform has no WebCrypto (crypto.subtle needs a secure context in browsers). */
export class NoWebCryptoError extends Error {
  constructor() {
    super("sttfast: WebCrypto (crypto.subtle) is not available: browsers offer it only on https:// pages or localhost");
    this.name = "NoWebCryptoError";
  }
}

function needSubtle() {
  if (!subtle) throw new NoWebCryptoError();
  return subtle;
}

/** Concatenates byte arrays. @param {...Uint8Array} parts */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Lowercase hex of b. @param {Uint8Array} b */
export function toHex(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of hex text (either case); throws TypeError on anything else. @param {string} s */
export function fromHex(s) {
  if (typeof s !== "string" || s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new TypeError("not hex text");
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
  return b;
}

/** HMAC-SHA256(key, data). @param {Uint8Array} key @param {Uint8Array} data */
export async function hmac(key, data) {
  const s = needSubtle();
  const k = await s.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await s.sign("HMAC", k, data));
}

/** HKDF-Extract(salt, ikm) (RFC 5869 §2.2). @param {Uint8Array} salt @param {Uint8Array} ikm */
export function hkdfExtract(salt, ikm) {
  return hmac(salt, ikm);
}

/**
 * HKDF-Expand(prk, label, n) for n <= 32 (one block: T(1) = HMAC(prk, label ‖ 0x01)), which is
 * every expansion the protocol makes.
 * @param {Uint8Array} prk @param {string|Uint8Array} label @param {number} n
 */
export async function hkdfExpand(prk, label, n) {
  if (n > 32) throw new RangeError("hkdfExpand: more than one block");
  const info = typeof label === "string" ? enc.encode(label) : label;
  return (await hmac(prk, concat(info, new Uint8Array([1])))).slice(0, n);
}

/** What a seed gives before any handshake (§4): PRK_seed and the handshake MAC key K_hs. */
export async function seedKeys(/** @type {Uint8Array} */ seed) {
  const prkSeed = await hkdfExtract(enc.encode("stt1 seed"), seed);
  const handshakeKey = await hkdfExpand(prkSeed, "stt1 handshake mac", 32);
  const exportKey = await hkdfExpand(prkSeed, "stt1 session export", 32);
  return { prkSeed, handshakeKey, exportKey };
}

/** The stable node id of an instance name (bytes): Expand(PRK_seed, "stt1 node id" ‖ instance, 8). */
export function nodeIdFor(/** @type {Uint8Array} */ prkSeed, /** @type {Uint8Array} */ instance) {
  return hkdfExpand(prkSeed, concat(enc.encode("stt1 node id"), instance), 8);
}

/**
 * The session both peers derive from the seed and the two handshake nonces (§4).
 * @param {Uint8Array} seed @param {Uint8Array} nonceI @param {Uint8Array} nonceR
 */
export async function sessionKeys(seed, nonceI, nonceR) {
  const prk = await hkdfExtract(concat(nonceI, nonceR), seed);
  const [id, i2r, r2i, resumption] = await Promise.all([
    hkdfExpand(prk, "stt1 session id", 8), hkdfExpand(prk, "stt1 traffic i2r", 32),
    hkdfExpand(prk, "stt1 traffic r2i", 32), hkdfExpand(prk, "stt1 resumption", 32),
  ]);
  return { prk, id, i2r, r2i, resumption };
}

/** The next generation's traffic secret: Expand(S, "stt1 key update", 32). @param {Uint8Array} secret */
export function nextSecret(secret) {
  return hkdfExpand(secret, "stt1 key update", 32);
}

/**
 * The 12-byte GCM nonce: salt with BE64(pn) XORed into its last 8 bytes. pn is a number, or a
 * bigint for packet numbers from 2^53 on (sessions never get there; the vectors do).
 * @param {Uint8Array} salt @param {number|bigint} pn
 */
export function packetNonce(salt, pn) {
  const n = salt.slice();
  const hi = typeof pn === "bigint" ? Number(pn >> 32n) : Math.floor(pn / 2 ** 32);
  const lo = typeof pn === "bigint" ? Number(pn & 0xffffffffn) : pn >>> 0;
  n[4] ^= hi >>> 24; n[5] ^= (hi >>> 16) & 0xff; n[6] ^= (hi >>> 8) & 0xff; n[7] ^= hi & 0xff;
  n[8] ^= lo >>> 24; n[9] ^= (lo >>> 16) & 0xff; n[10] ^= (lo >>> 8) & 0xff; n[11] ^= lo & 0xff;
  return n;
}

/**
 * The AES-256-GCM state of one traffic secret: its key (non-extractable) and nonce salt.
 * Seal and open return promises; several may run at once (WebCrypto runs them off the main
 * thread), and each call is independent of the others' order.
 */
export class PacketKey {
  /** @param {CryptoKey} key @param {Uint8Array} salt */
  constructor(key, salt) {
    this.key = key;
    this.salt = salt;
  }
  /** Derives the key and salt of traffic secret secret. @param {Uint8Array} secret */
  static async fromSecret(secret) {
    const [raw, salt] = await Promise.all([hkdfExpand(secret, "stt1 key", 32), hkdfExpand(secret, "stt1 iv", 12)]);
    const key = await needSubtle().importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    raw.fill(0);
    return new PacketKey(key, salt);
  }
  /**
   * Seals plaintext under packet number pn with the header as associated data; resolves to
   * ciphertext ‖ tag.
   * @param {Uint8Array} header @param {number|bigint} pn @param {Uint8Array} plaintext
   */
  async seal(header, pn, plaintext) {
    const iv = packetNonce(this.salt, pn);
    return new Uint8Array(await needSubtle().encrypt({ name: "AES-GCM", iv, additionalData: header, tagLength: 128 }, this.key, plaintext));
  }
  /**
   * Opens ciphertext ‖ tag; rejects (OperationError) when it does not authenticate.
   * @param {Uint8Array} header @param {number|bigint} pn @param {Uint8Array} sealed
   */
  async open(header, pn, sealed) {
    const iv = packetNonce(this.salt, pn);
    return new Uint8Array(await needSubtle().decrypt({ name: "AES-GCM", iv, additionalData: header, tagLength: 128 }, this.key, sealed));
  }
}

/** HMAC-SHA256 under K_hs, for handshake packets: sign, and verify in constant time (WebCrypto's verify). */
export class MacKey {
  /** @param {CryptoKey} key */
  constructor(key) { this.key = key; }
  /** @param {Uint8Array} raw */
  static async create(raw) {
    return new MacKey(await needSubtle().importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]));
  }
  /** @param {Uint8Array} data */
  async sign(data) { return new Uint8Array(await needSubtle().sign("HMAC", this.key, data)); }
  /** @param {Uint8Array} data @param {Uint8Array} tag */
  verify(data, tag) { return needSubtle().verify("HMAC", this.key, tag, data); }
}

/** n random bytes from the platform's CSPRNG. @param {number} n */
export function randomBytes(n) {
  const c = globalThis.crypto;
  if (!c?.getRandomValues) throw new NoWebCryptoError();
  return c.getRandomValues(new Uint8Array(n));
}
