#!/usr/bin/env python3
"""Generate ctrl/testdata/handshake_kat.json: known-answer vectors for the STT handshake.

An independent implementation of docs/PROTOCOL.md §1 (handshake packet header), §2 (the HELLO,
CHALLENGE and AUTH_PROOF frames, QUIC varints with minimal encoding), §3 (padding, MACs, the
stateless cookie nonce_r) and §4 (K_hs and the session derivation), written from the document and
not from the Go code: HKDF-SHA256 by hand from RFC 5869 over Python's hmac/hashlib, self-checked
against RFC 5869 A.1. ctrl/kat_test.go loads the JSON and checks the Go builders, the parser,
cookieNonce and stc.Seed.DeriveSession against it.

Usage:  python3 ctrl/testdata/gen_handshake_kat.py > ctrl/testdata/handshake_kat.json
Needs:  python3 >= 3.8, standard library only. The output is deterministic.
"""
import hashlib
import hmac
import ipaddress
import json
import struct
import sys


# --- RFC 5869 HKDF with SHA-256, by hand -------------------------------------------------------

def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


_a1_prk = hkdf_extract(bytes.fromhex("000102030405060708090a0b0c"), b"\x0b" * 22)
assert _a1_prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
assert hkdf_expand(_a1_prk, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42).hex() == (
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


# --- PROTOCOL.md §1-§2: varints, headers, frames -----------------------------------------------

def varint(v: int) -> bytes:
    """QUIC variable-length integer, minimal encoding (RFC 9000 §16 + PROTOCOL.md's rule)."""
    assert 0 <= v < 1 << 62
    if v < 1 << 6:
        return bytes([v])
    if v < 1 << 14:
        return struct.pack(">H", v | 0x4000)
    if v < 1 << 30:
        return struct.pack(">I", v | 0x80000000)
    return struct.pack(">Q", v | 0xC000000000000000)


assert varint(37) == bytes.fromhex("25")
assert varint(15293) == bytes.fromhex("7bbd")          # RFC 9000 §A.1 examples
assert varint(494878333) == bytes.fromhex("9d7f3e7d")
assert varint(151288809941952652) == bytes.fromhex("c2197c5eff14e88c")

MAGIC = 0x53
VERSION = 1
KIND_HANDSHAKE = 1
HELLO_MIN_SIZE = 1200
MAC_SIZE = 32
T_PADDING, T_HELLO, T_CHALLENGE, T_AUTH_PROOF, T_CLOCK = 0x00, 0x01, 0x02, 0x03, 0x05


def hs_header(tag: bytes, attempt: int) -> bytes:
    # magic, version<<4|kind, flags exactly 0x00 (key phase 0, L = 0: 1-byte pn), tag, attempt
    assert len(tag) == 8 and 0 <= attempt <= 0xFF
    return bytes([MAGIC, VERSION << 4 | KIND_HANDSHAKE, 0x00]) + tag + bytes([attempt])


def mac(k_hs: bytes, *parts: bytes) -> bytes:
    return hmac.new(k_hs, b"".join(parts), hashlib.sha256).digest()


def hello(k_hs, nonce_i, node_i, ts_i, attempt):
    hdr = hs_header(nonce_i[:8], attempt)
    body = bytes([T_HELLO]) + varint(VERSION) + nonce_i + node_i + varint(ts_i)
    pad = HELLO_MIN_SIZE - MAC_SIZE - len(hdr) - len(body)   # the whole datagram is 1200 bytes
    body += bytes(pad)
    pkt = hdr + body
    return pkt + mac(k_hs, pkt)


def cookie(cookie_key, nonce_i, ts_r, addr, port):
    a = ipaddress.ip_address(addr)
    a16 = (ipaddress.IPv6Address("::ffff:" + str(a)) if a.version == 4 else a).packed
    return hmac.new(cookie_key, nonce_i + struct.pack(">Q", ts_r) + a16 + struct.pack(">H", port),
                    hashlib.sha256).digest()


def challenge(k_hs, tag, attempt, nonce_r, node_r, ts_r, hello_mac):
    pkt = hs_header(tag, attempt) + bytes([T_CHALLENGE]) + nonce_r + node_r + varint(ts_r)
    return pkt + mac(k_hs, pkt, hello_mac)


def clock(k_hs, tag, attempt, ts_clock, hello_mac):
    # §3 CLOCK: the responder's time answering a HELLO outside its clock window, MACed like a
    # CHALLENGE over header ‖ body ‖ hello MAC.
    pkt = hs_header(tag, attempt) + bytes([T_CLOCK]) + varint(ts_clock)
    return pkt + mac(k_hs, pkt, hello_mac)


def proof(k_hs, tag, attempt, nonce_i, ts_i, node_i, nonce_r, ts_r, node_r):
    pkt = (hs_header(tag, attempt) + bytes([T_AUTH_PROOF]) + nonce_i + varint(ts_i) + node_i
           + nonce_r + varint(ts_r) + node_r)
    return pkt + mac(k_hs, pkt)


def hx(b: bytes) -> str:
    return b.hex()


def vector(name, seed, cookie_key, nonce_i, node_i, node_r, ts_i, ts_r, attempt, addr, port, ts_clock):
    prk_seed = hkdf_extract(b"stt1 seed", seed)
    k_hs = hkdf_expand(prk_seed, b"stt1 handshake mac", 32)
    h = hello(k_hs, nonce_i, node_i, ts_i, attempt)
    hello_mac = h[-MAC_SIZE:]
    nonce_r = cookie(cookie_key, nonce_i, ts_r, addr, port)
    c = challenge(k_hs, nonce_i[:8], attempt, nonce_r, node_r, ts_r, hello_mac)
    p = proof(k_hs, nonce_i[:8], attempt, nonce_i, ts_i, node_i, nonce_r, ts_r, node_r)
    ck = clock(k_hs, nonce_i[:8], attempt, ts_clock, hello_mac)
    assert len(ck) < len(h)   # never more bytes than the HELLO it answers
    prk_s = hkdf_extract(nonce_i + nonce_r, seed)
    return {
        "name": name,
        "seed": hx(seed), "handshake_key": hx(k_hs), "cookie_key": hx(cookie_key),
        "nonce_i": hx(nonce_i), "node_i": hx(node_i), "ts_i": ts_i,
        "node_r": hx(node_r), "ts_r": ts_r, "attempt": attempt,
        "initiator_addr": addr, "initiator_port": port,
        "hello": hx(h), "hello_mac": hx(hello_mac),
        "nonce_r": hx(nonce_r), "challenge": hx(c), "auth_proof": hx(p),
        "ts_clock": ts_clock, "clock": hx(ck),
        # Not on the wire: how sttfast recognises a retransmitted AUTH_PROOF (ctrl.transcript).
        "transcript": hx(hashlib.sha256(nonce_i + nonce_r).digest()),
        "session": {
            "id": hx(hkdf_expand(prk_s, b"stt1 session id", 8)),
            "i2r": hx(hkdf_expand(prk_s, b"stt1 traffic i2r", 32)),
            "r2i": hx(hkdf_expand(prk_s, b"stt1 traffic r2i", 32)),
            "resumption": hx(hkdf_expand(prk_s, b"stt1 resumption", 32)),
        },
    }


def main():
    vectors = [
        vector("ipv4, Unix-ms clocks (8-byte varints), first attempt",
               seed=bytes(range(0x00, 0x20)), cookie_key=bytes(range(0x80, 0xA0)),
               nonce_i=bytes(range(0xA0, 0xC0)), node_i=bytes([0x11] * 8), node_r=bytes([0x22] * 8),
               ts_i=1700000000000, ts_r=1700000000250, attempt=0, addr="192.0.2.1", port=40000,
               ts_clock=1700003600250),
        vector("ipv6, 1- and 4-byte timestamps, attempt 3",
               seed=bytes(range(0x20, 0x40)), cookie_key=bytes(range(0xC0, 0xE0)),
               nonce_i=bytes((7 * i + 1) & 0xFF for i in range(32)), node_i=bytes(range(1, 9)),
               node_r=bytes(range(0xF0, 0xF8)), ts_i=0, ts_r=16384, attempt=3,
               addr="2001:db8::1", port=443, ts_clock=5),
        vector("attempt 255, 1- and 2-byte timestamps, port 1",
               seed=bytes([0x5A] * 32), cookie_key=bytes([0xA5] * 32),
               nonce_i=bytes(reversed(range(0x10, 0x30))), node_i=bytes(8), node_r=bytes([0xFF] * 8),
               ts_i=63, ts_r=64, attempt=255, addr="10.1.2.3", port=1, ts_clock=16383),
    ]
    out = {
        "comment": "Generated by gen_handshake_kat.py (independent Python implementation of "
                   "docs/PROTOCOL.md §1-§4); checked by ctrl/kat_test.go. Do not edit by hand.",
        "generator": {"python": sys.version.split()[0]},
        "vectors": vectors,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
