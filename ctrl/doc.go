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
//     and never sends more bytes than it received before the initiator proves the seed. It
//     answers only a HELLO that proves the seed: with a CHALLENGE, or with its time (a CLOCK,
//     bounded per nonce and per second) when the HELLO's clock is outside the window.
//   - A dial fails at once when the network or the host says it cannot succeed (a port
//     unreachable quoting one of its HELLOs, a send refused), and otherwise says "no answer"
//     after the handshake timeout: a responder is silent to a wrong seed by design.
//   - A session id, once created, is remembered until its AUTH_PROOF could no longer be
//     accepted, so a replayed proof can never re-create a session (which would reuse nonces).
//   - Secrets are compared in constant time.
package ctrl
