#!/usr/bin/env python3
"""Generate stc/testdata/kat.json: known-answer vectors for every STC derivation.

This is an independent implementation of docs/PROTOCOL.md §4, written from the document and not
from the Go code: HKDF-SHA256 by hand from RFC 5869 on top of Python's hmac/hashlib, AES-256-GCM and
Argon2id from the `cryptography` package (pyca, OpenSSL-backed). The Go test stc/kat_test.go
loads the JSON and checks every value against package stc.

Usage:  python3 stc/testdata/gen_kat.py > stc/testdata/kat.json
Needs:  python3 >= 3.8, cryptography >= 44 (for Argon2id; tested with 48.0.0).
"""
import hashlib
import hmac
import json
import struct
import sys

import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id


# --- RFC 5869 HKDF with SHA-256, by hand -------------------------------------------------------

def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    if not salt:
        salt = b"\x00" * 32
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    assert length <= 255 * 32
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


# Self-check against RFC 5869 Appendix A.1 before trusting the implementation.
_a1_prk = hkdf_extract(bytes.fromhex("000102030405060708090a0b0c"), b"\x0b" * 22)
assert _a1_prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
assert hkdf_expand(_a1_prk, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42).hex() == (
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


# --- PROTOCOL.md §4 ----------------------------------------------------------------------------

def traffic(secret: bytes):
    return {
        "key": hkdf_expand(secret, b"stt1 key", 32),
        "iv": hkdf_expand(secret, b"stt1 iv", 12),
        "next": hkdf_expand(secret, b"stt1 key update", 32),
    }


def nonce(iv: bytes, pn: int) -> bytes:
    # salt XOR big-endian 64-bit pn in the last 8 bytes
    return iv[:4] + bytes(a ^ b for a, b in zip(iv[4:], struct.pack(">Q", pn)))


def chain(secret: bytes, gens: int):
    out = []
    for g in range(gens):
        t = traffic(secret)
        out.append({"generation": g, "secret": secret, "key": t["key"], "iv": t["iv"]})
        secret = t["next"]
    return out


def protected_header(phase: int, pn_len: int, session_id: bytes, pn: int) -> bytes:
    code = {1: 0, 2: 1, 4: 2, 8: 3}[pn_len]
    flags = (phase & 1) | (code << 1)
    trunc = (pn & ((1 << (8 * pn_len)) - 1)).to_bytes(pn_len, "big")
    return bytes([0x53, 0x12, flags]) + session_id + trunc


def hx(b: bytes) -> str:
    return b.hex()


def main():
    seed = bytes(range(0x00, 0x20))          # 32 bytes 00..1f
    nonce_i = bytes(range(0x40, 0x60))       # 32 bytes 40..5f
    nonce_r = bytes(range(0x60, 0x80))       # 32 bytes 60..7f

    prk_seed = hkdf_extract(b"stt1 seed", seed)
    k_hs = hkdf_expand(prk_seed, b"stt1 handshake mac", 32)
    k_export = hkdf_expand(prk_seed, b"stt1 session export", 32)
    node_ids = [{"instance": hx(inst), "id": hx(hkdf_expand(prk_seed, b"stt1 node id" + inst, 8))}
                for inst in (b"", b"node-a", b"node-b")]

    prk_s = hkdf_extract(nonce_i + nonce_r, seed)
    sid = hkdf_expand(prk_s, b"stt1 session id", 8)
    i2r = hkdf_expand(prk_s, b"stt1 traffic i2r", 32)
    r2i = hkdf_expand(prk_s, b"stt1 traffic r2i", 32)
    resumption = hkdf_expand(prk_s, b"stt1 resumption", 32)

    chains = {"i2r": chain(i2r, 4), "r2i": chain(r2i, 4)}

    seals = []
    cases = [
        # direction, generation, pn, pn length on the wire, plaintext
        ("r2i", 0, 0, 4, bytes.fromhex("0400") + bytes.fromhex("1307")),
        ("i2r", 0, 0x0102030405060708, 8, bytes((i * 7 + 3) & 0xFF for i in range(100))),
        ("i2r", 1, 4242, 2, b""),
        ("i2r", 2, 0x3FFFFFFFFFFFFFF0, 8, bytes((i * 13 + 1) & 0xFF for i in range(1200 - 19 - 16))),
        ("r2i", 3, 1 << 40, 4, b"hello, stt"),
    ]
    for d, g, pn, plen, pt in cases:
        c = chains[d][g]
        hdr = protected_header(g & 1, plen, sid, pn)
        n = nonce(c["iv"], pn)
        sealed = AESGCM(c["key"]).encrypt(n, pt, hdr)
        seals.append({"direction": d, "generation": g, "secret": hx(c["secret"]), "header": hx(hdr),
                      "pn": pn, "plaintext": hx(pt), "nonce": hx(n), "sealed": hx(sealed)})

    # A handshake MAC: HMAC-SHA256(K_hs, header ‖ body), full 32 bytes.
    hs_header = bytes([0x53, 0x11, 0x00]) + nonce_i[:8] + b"\x00"
    hs_body = bytes.fromhex("01") + b"\x01" + nonce_i + bytes(8) + b"\x00" + bytes(20)
    mac = hmac.new(k_hs, hs_header + hs_body, hashlib.sha256).digest()

    passphrase = b"correct horse battery staple"
    pp_salt = b"stt1 passphrase seed"
    pp_seed = Argon2id(salt=pp_salt, length=32, iterations=3, lanes=4, memory_cost=64 * 1024).derive(passphrase)
    pp_prk = hkdf_extract(b"stt1 seed", pp_seed)

    hashes = [{"input": hx(m), "sha256": hx(hashlib.sha256(m).digest())}
              for m in (b"", b"abc", bytes(range(256)) * 4)]

    kat = {
        "comment": "Generated by gen_kat.py (independent Python implementation of docs/PROTOCOL.md §4); "
                   "checked by kat_test.go. Do not edit by hand.",
        "generator": {"python": sys.version.split()[0], "cryptography": cryptography.__version__},
        "seed": hx(seed),
        "prk_seed": hx(prk_seed),
        "handshake_key": hx(k_hs),
        "export_key": hx(k_export),
        "node_ids": node_ids,
        "session": {"nonce_i": hx(nonce_i), "nonce_r": hx(nonce_r), "prk_s": hx(prk_s), "id": hx(sid),
                    "i2r": hx(i2r), "r2i": hx(r2i), "resumption": hx(resumption)},
        "chains": {d: [{k: (hx(v) if isinstance(v, bytes) else v) for k, v in e.items()} for e in es]
                   for d, es in chains.items()},
        "seal": seals,
        "mac": {"parts": [hx(hs_header), hx(hs_body)], "mac": hx(mac)},
        "passphrase": {"passphrase": passphrase.decode(), "salt": pp_salt.decode(), "time": 3,
                       "memory_kib": 64 * 1024, "threads": 4, "seed": hx(pp_seed),
                       "handshake_key": hx(hkdf_expand(pp_prk, b"stt1 handshake mac", 32))},
        "hash": hashes,
    }
    json.dump(kat, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
