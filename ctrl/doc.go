// Package ctrl is sttfast's control API: nodes that listen and dial, the four-message
// handshake that authenticates peers with the pre-shared seed, session acceptance, broadcast
// (SendToAll, SendToSessions), application frame handlers, events and statistics.
//
// It is deliberately thin. Everything that happens per packet lives in package dataplane; ctrl
// runs only on the rare paths: handshakes (one goroutine per socket, fed through a ring by the
// RX loop), events (one goroutine per socket), and the calls an application makes. Sessions and
// streams are the data plane's own types, re-exported here as aliases.
//
// # Conventions
//
// Closing: a Close that takes a context is graceful and waits, within the context, for the peer
// (Session.Close waits until every written byte is acknowledged; Node.Shutdown closes every
// session that way). A Close without one returns at once: Stream.Close ends our side after
// the data already written (the session delivers it), Node.Close drops every session.
// CloseWithError ends a session or stream at once with a code the peer reads.
//
// Addresses: an address the application names is a string with a transport scheme,
// "udp://HOST:PORT" or "ws://HOST:PORT/PATH" (Config.Addr, Node.Dial), because it chooses a
// transport and may need a name resolved; an address the node reports is a netip.AddrPort (Node.Addr, Session.Peer):
// resolved, comparable, free to copy. "udp://" + addr.String() turns one into the other.
//
// Several addresses: a node listens on Config.Addr and every entry of Config.Addrs at once,
// one session table for all (Node.Addrs lists them as bound); a dial leaves from the address
// that can reach the peer. Node.DialAny takes a list and tries it in order in the manner of
// Happy Eyeballs (RFC 8305): the next address when the previous has failed or stayed silent for
// Config.DialStagger (250 ms), the first handshake to complete winning and the others cancelled
// without a trace (no dial state, no half-open session). Dial is DialAny with one address.
//
// WebSocket: where UDP is blocked, the same packets go over TCP as WebSocket messages (package
// batchio/wspath). "ws://HOST:PORT/PATH" (PATH "/stt" when none is given, DefaultWSPath) can be
// listened on, beside UDP addresses, and dialed; "wss://" can only be dialed (a node behind a
// TLS-terminating reverse proxy): a node does not listen with TLS. A ws listener is one engine
// over the WebSocket server on the node's table, or, when the node also listens on UDP, a path
// of its first UDP engine, so that sessions can move between the two. A ws dial opens a TCP connection of its own and
// runs the handshake through an engine over it; connection and engine last as long as the
// session (and end it at once if the connection dies). Over either, the engine runs in
// reliable-path mode: no loss timers or congestion window over TCP's own (dataplane.ReliableConn).
// DialAny mixes the transports: list the UDP address first and the ws one after, and a network
// that blocks UDP costs one stagger delay. When a client's connection to a ws listener ends, its
// session ends at once too (dataplane.CodePathClosed). NodeStats splits the data plane's
// counters by path kind (UDP, WS) and carries the WebSocket path's own (WebSocket).
//
// Resumption: the side that dialed a session can export its resumable state (ExportState:
// sealed under the seed, never a traffic key), and any node holding the seed can continue the
// session from it (OpenState, Resume): a RESUME proves the seed and the session's resumption
// secret, the peer switches the session to keys derived from that secret, fresh nonces of both
// sides and an epoch that only grows, and the streams go on. A state that cannot resume is a
// *ResumeError (ErrResumeRefused: expired, superseded, wrong seed). A node keeps a session it
// accepted alive through Config.ResumeWindow of silence (60 s by default) so that it can be.
//
// Session continuity: Node.DialPaths dials the same list and keeps the one session across all
// of it: when the path in use goes silent the session moves to the next (UDP to WebSocket), and
// back when a preferred one answers again; Session.Migrate moves by hand. Each move is an
// EventPathMigrated. A responder follows its dialer to a new address (NAT rebinding) once it
// has validated it. docs/PROTOCOL.md §10 has the rules.
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
//   - A RESUME is refused after one HMAC without the seed, and costs a bounded nonce-cache entry
//     and at most a rate-limited answer without the session's secret; only a RESUME proving
//     both derives keys, and only for an epoch above every epoch the session accepted.
//   - Secrets are compared in constant time.
//   - With Config.ForwardSecrecy, no session is made from the seed alone: a dial fails rather
//     than fall back, and a HELLO or AUTH_PROOF without KEY_SHARE is refused. X25519 work
//     starts only after the MAC (and, for AUTH_PROOF, the cookie) verified; ephemeral keys are
//     erased a handshake timeout after their second ends (fs.go).
package ctrl
