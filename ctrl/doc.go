// Package ctrl is sttfast's control API: nodes that listen and dial, the four-message
// handshake that authenticates peers with the pre-shared seed, session acceptance, broadcast
// (SendToAll, SendToSessions), application frame handlers, events and statistics.
//
// It is deliberately thin. Everything that happens per packet lives in package dataplane; ctrl
// runs only on the rare paths: handshakes (one goroutine per socket, fed through a ring by the
// RX loop), events (one goroutine per socket), and the calls an application makes. Sessions and
// streams are the data plane's own types, re-exported here as aliases.
//
// Invariants kept here:
//   - A responder does one HMAC before refusing a HELLO, keeps no state for it but its nonce,
//     and never sends more bytes than it received before the initiator proves the seed.
//   - A session id, once created, is remembered until its AUTH_PROOF could no longer be
//     accepted, so a replayed proof can never re-create a session (which would reuse nonces).
//   - Secrets are compared in constant time.
package ctrl
