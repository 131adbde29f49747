// Package stc is STC, the crypto suite of STT: seeds, key derivation, the handshake MAC, the
// packet AEAD, key update chains, the anti-replay window and content hashing. It is built only
// from vetted primitives (HKDF-SHA256, HMAC-SHA256, AES-256-GCM, Argon2id, SHA-256 from the Go
// standard library and golang.org/x/crypto); it defines no cipher of its own. docs/PROTOCOL.md §3
// and §4 specify every derivation; testdata/kat.json pins each of them with values computed by an
// independent implementation (testdata/gen_kat.py).
//
// # Key schedule
//
//	PRK_seed   = HKDF-Extract(salt="stt1 seed", IKM=seed)
//	K_hs       = Expand(PRK_seed, "stt1 handshake mac", 32)      Seed.HandshakeKey
//	K_export   = Expand(PRK_seed, "stt1 session export", 32)     Seed.ExportKey
//	node id    = Expand(PRK_seed, "stt1 node id" ‖ instance, 8)  Seed.NodeID
//	PRK_s      = HKDF-Extract(salt=nonce_i ‖ nonce_r, IKM=seed)  Seed.DeriveSession
//	  id, i2r, r2i, resumption = Expand(PRK_s, "stt1 session id"/"stt1 traffic i2r"/...)
//	with forward secrecy (opt-in): dh = X25519(e_i, E_r), th = SHA-256(roles, node ids, keys)
//	PRK_fs     = HKDF-Extract(salt=nonce_i ‖ nonce_r ‖ th, IKM=seed ‖ dh)  Seed.DeriveSessionFS
//	  id, i2r, r2i, resumption = Expand(PRK_fs, "stt1 fs session id"/"stt1 fs traffic i2r"/...)
//	traffic secret S: key = Expand(S,"stt1 key",32), salt = Expand(S,"stt1 iv",12)   NewAEAD
//	                  next generation = Expand(S,"stt1 key update",32)              KeyChain
//
// # Invariants
//
// Nonce uniqueness. A traffic key belongs to one direction of one session at one generation, and
// the GCM nonce is its salt XOR the full 64-bit packet number, which that direction never
// repeats; so no (key, nonce) pair is ever used twice. The proof is next to the AEAD type. The
// package cannot see packet numbers across calls; its callers keep the premises: a per-direction
// counter that never resets or wraps, one sealer per key, and never re-deriving a session from a
// nonce pair that was already used.
//
// Constant time. Every comparison of a secret or secret-derived value (MACs, tags, seeds,
// cookies) goes through crypto/subtle (Equal, MACKey.Verify, MAC.Verify, Seed.Equal, and GCM's
// own tag check). Lengths, which are public, may be compared early.
//
// Replay. A ReplayWindow is checked before decryption and updated only after a packet
// authenticates, so forged packets cannot move it.
//
// Hot path. AEAD.Seal and AEAD.Open work in place on the packet buffer and, like the
// ReplayWindow, HashSessionID and the KeyChain lookups, never allocate; Open reports any failure
// with the ErrAuth sentinel itself.
//
// # Erasure and its limits
//
// Every secret this package holds in its own memory (seed bytes, PRKs, traffic secrets, expanded
// keys, nonce salts, temporary buffers) is overwritten with zeros as soon as it is no longer
// needed: Seed.Destroy, Secret.Erase, SessionKeys.Erase, MACKey.Erase, AEAD.Erase, and
// KeyChain.Advance/DropPrevious/Erase for superseded key generations. That is as far as Go lets
// a library go, and it is not a guarantee that no copy survives:
//
//   - crypto/aes and crypto/hmac keep the expanded key schedule and the HMAC pads inside the
//     standard library, where they cannot be zeroed from outside. Erase drops the last reference;
//     the memory is reclaimed, not wiped, by the garbage collector.
//   - the Go runtime may copy values (stack growth moves stacks, append moves arrays), and
//     strings (Seed.Hex, passphrases read as strings) are immutable.
//   - nothing here locks memory, so secrets may reach swap or core dumps.
//
// Treat erasure as damage limitation (a later memory disclosure finds fewer keys), not as a
// forward-secrecy mechanism. STT's base model has no forward secrecy: anyone who obtains the seed
// and recorded handshakes can derive every session key. Sessions made with DeriveSessionFS (an
// Ephemeral X25519 exchange, PROTOCOL.md §3) are the exception: once both ephemeral keys are
// gone, the seed and the handshake no longer give their keys. The same limit applies to those
// private keys, which crypto/ecdh holds: Ephemeral.Erase drops the reference. A passphrase seed is only as strong as
// the passphrase: its Argon2id salt is fixed so that peers agree on the seed.
package stc
