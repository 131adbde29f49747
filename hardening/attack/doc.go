// Package attack is sttfast's hostile-network test kit (issue 6): an attacker library, the
// sttattack command built on it, and the tests that run both against a real listener.
//
// The library plays an attacker who can send anything to a listener's UDP port (or open TCP
// connections to its WebSocket port), capture and replay what a real peer sends (through a small
// UDP forwarder it places on the path), and, for the handshake flood, also hold the seed. Every scenario measures the listener from outside:
// its /metrics (drops by reason, handshake refusals), its /proc entries (RSS, CPU time, the
// kernel's drop counter of its socket) and what comes back on the wire.
//
//   - [RunHostile]: random, truncated, oversize and malformed datagrams, garbage under live and
//     unknown session ids, HELLO-kind garbage, replayed and bit-flipped captures, at full rate,
//     while a legitimate transfer runs through the forwarder and is checked byte for byte.
//   - [RunReplay]: a real session's packets, both directions, replayed shuffled many times, live,
//     while the session drains after its peer closed it, and after it is gone.
//   - [RunFlood]: HELLOs with bad MACs, a captured HELLO replayed, and seed-built HELLOs whose
//     nonces repeat, at a target rate, while legitimate dials are timed.
//   - WebSocket attacks (issue 12) against a ws:// listener: [WSGarbage], [WSSlowloris],
//     [WSHugeFrame], [WSUnmasked], [WSPingFlood], [WSBinaryFlood] and [OpenHalfOpen]; the tests
//     (ws_hostile_test.go) run each against an in-process node beside a legitimate ws:// transfer.
//
// docs/RELIABILITY.md lists the figures and the commands that reproduce them.
package attack
