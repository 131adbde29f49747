// Package wspath carries STT packets over WebSocket (RFC 6455) on TCP, as a second
// [batchio.PacketConn] beside batch UDP, for networks that block UDP (corporate firewalls, captive
// portals, browsers). The engine above sees the same datagram interface: one STT packet is one
// binary WebSocket message, and a peer is named by its TCP address.
//
// # Why a datagram interface over a stream
//
// The data plane is written against [batchio.PacketConn]: batches of datagrams, each with a peer
// address. A WebSocket message keeps packet boundaries, so the engine, sessions, handshake and
// relay run over it unchanged. Reading returns whatever messages have arrived from any peer;
// writing frames each datagram (each GSO segment of a [batchio.Message] on its own) as one binary
// message to the connection whose remote address is Message.Addr. A write to an address with no
// connection, or to a connection over its outbound budget, is dropped and counted, like a UDP
// datagram the network lost: it never blocks the writer or delays other peers.
//
// Unlike UDP the path is reliable and ordered, and says so: [Conn.Reliable], [Conn.MaxPacket]
// and [Conn.Writable] make it a dataplane.ReliableConn. The engine then neither retransmits on
// its own timers nor runs a congestion window over TCP's (RFC 9298 §6), sends 16 KiB packets,
// and hands a connection only what Writable says its budget takes, so that a slow peer makes
// the data wait in the sender's buffers rather than be dropped here.
//
// # Server: gnet, parsed in the event loop
//
// [Listen] runs a gnet v2 engine. gnet calls OnTraffic with the bytes read so far and never
// blocks, so the HTTP/1.1 Upgrade and the frames are parsed from Peek/Discard views in place:
// nothing waits for more bytes, a partial request or frame simply stays in gnet's inbound buffer
// until the next read. gobwas/ws supplies the frame header codec (ws.ReadHeaderBuffer,
// ws.WriteHeaderBuffer), masking (ws.Cipher), the close-frame codec and the status codes; its
// Upgrader is not used because it reads from a blocking io.Reader. The accept key is the RFC's
// SHA-1 construction (gobwas does not export its own).
//
// Every rule of RFC 6455 that applies to a binary-only, extension-free endpoint is enforced: the
// request path must equal Config.Path and the Origin, when Config.AllowedOrigins is set, must be in
// it (404 and 403, no upgrade); client frames must be masked (close 1002), text frames are refused
// (1003), a message over Config.MaxMessage is refused as soon as its header announces it (1009,
// nothing is allocated for it, so a frame announcing 2^63 bytes costs nothing), fragmented messages
// are reassembled up to that size, pings are answered with pongs and a close frame is answered with
// a close frame before the TCP connection is closed.
//
// # Bounded memory whatever peers do
//
// gnet's buffers grow without limit by design, so the path bounds them itself:
//
//   - Inbound: a frame header over Config.MaxMessage closes the connection, so gnet holds at most
//     one incomplete message (plus one read) per connection; a fragmented message is reassembled
//     in one buffer of at most MaxMessage bytes. Delivered packets go to one queue of
//     Config.ReadQueueBytes shared by all connections; when the reader falls behind, packets are
//     dropped and counted, as a full UDP socket buffer would.
//   - Outbound: each connection has a budget (Config.OutboundBudget). A datagram that would take the
//     bytes waiting in our buffer plus those gnet still holds (OutboundBuffered, read in the event
//     loop after each flush) over the budget is dropped and counted. TCP_NOTSENT_LOWAT keeps the
//     kernel's unsent queue near the same size, so the budget is what a slow peer can pin. Pongs,
//     which answer anyone who pings, get MaxPongBacklog instead: a pong is dropped (and counted)
//     when that much already waits, so a ping flood from a peer that never reads pins 4 KiB.
//   - Connections: at most Config.MaxConns; an upgrade not finished within
//     Config.UpgradeTimeout (slowloris) and a connection silent for Config.IdleTimeout are closed.
//   - Half-open connections: at most Config.MaxPendingUpgrades may wait for their upgrade request,
//     below MaxConns, so that they cannot take the room of upgraded ones. A new connection beyond
//     that cap (or beyond MaxConns while some wait) evicts the oldest waiting one rather than
//     being refused: refusing it would let a flood of held connections lock every new client out
//     until the upgrade deadline, whereas with eviction a client that sends its request at once is
//     lost only if MaxPendingUpgrades newer connections arrive before its request does. The
//     waiting connections are kept in a list in order of arrival, so finding the oldest and the
//     expired costs nothing per connection. Only when every connection has upgraded is a new one
//     refused.
//
// Every refusal and close is counted in Stats (RefusedBy: request, conn_cap, evicted, deadline;
// ClosedProtocol, ClosedText, ClosedTooBig by the close code sent; ClosedIdle; DropPong), for
// metrics and for hardening/attack's hostile-input tests.
//
// # Writing without blocking and without allocating
//
// gnet's Conn may be written only from its event loop, and its cross-goroutine calls (AsyncWrite,
// Wake) allocate a closure per call. WriteBatch therefore appends frames to the connection's
// outbound buffer under a short lock and, when the connection was not already waiting for a flush,
// queues it on its event loop's waker: a loopback TCP connection from the listener to itself, one
// per event loop, recognised by a random token it sends first. One byte written to it makes gnet
// call OnTraffic on that loop, which hands every queued connection's bytes to gnet's Write. In
// steady state no step allocates. Should a connection land on a loop without a waker, its flushes
// fall back to gnet's Wake.
//
// # Dialing side
//
// [Dial] uses gobwas/ws's Dialer on a net.Conn (ws:// or wss:// with Config.TLS), takes over any
// bytes the Dialer's bufio.Reader already holds (the server may have sent the first frames with
// its 101), and runs two goroutines: a reader that parses frames into the same queue with the same
// parser (server frames must not be masked), and a writer that sends what WriteBatch buffered,
// masked with a fresh key per frame. A dialed Conn has exactly one peer, the server.
//
// # Ends of connections and counters
//
// A connection that ends after its upgrade (the client closed it or sent a close frame, it broke
// a rule, it idled out, the Listener closes) is reported to the function registered with
// [Conn.OnPeerGone] (the engine's, through batchio.PeerGoneNotifier), with why, in the read
// queue's order: from within the ReadBatch call that returns that connection's last packets, so
// a reader that handles those first never ends a session before its last packets. A notice that
// finds the queue full waits aside until the queue has drained: none is dropped. [Conn.Stats]
// counts upgrades and refusals (by [Refusal]), open, pending and closed connections, close
// frames received, idle closes, the connections closed by close code (1002, 1003, 1009) and
// every drop.
//
// # Memory and allocation
//
// Packets are copied once on each side: from gnet's (or the dialer's) read buffer into the read
// queue, a byte ring; on write from the caller's Messages into the connection's outbound buffer.
// ReadBatch copies each packet from the ring into the caller's Messages; LendBatch
// (batchio.BatchLender, what the engine's RX loop uses) hands it over in place instead, a slice
// of the ring the caller has until its next read, which is why a record never wraps round the
// ring's end. On a server the frame that straddles two of gnet's reads is peeked alone, so that
// gnet copies just that frame to join the two, not the whole read. The ring, the outbound
// buffers and the reassembly buffer are reused, so steady-state reads and writes allocate
// nothing.
package wspath
