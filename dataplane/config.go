package dataplane

import (
	"log/slog"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Config tunes an Engine and the sessions it carries. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// PayloadSize is the largest UDP payload a packet may have (default 1200, the path MTU every
	// IPv4/IPv6 path carries; up to 65507 on loopback). A session whose route turns out narrower
	// shrinks its packets to fit, down to frame.PayloadFloor, and ends below it
	// (docs/PROTOCOL.md §1).
	PayloadSize int
	// MaxPayloadSize is the largest UDP payload path MTU discovery (pmtud.go, RFC 8899) probes
	// for on a datagram path: sessions start at PayloadSize and raise their packets to what an
	// acknowledged probe proved (default DefaultMaxPayloadSize, 8972: a 9000-byte jumbo frame
	// over IPv4; at most frame.MaxPacketSize). Zero takes the default; a value not above
	// PayloadSize (or negative) turns discovery off. It needs a socket that can forbid
	// fragmentation (batchio.UnfragmentedWriter); over any other, and over a reliable path,
	// sessions keep PayloadSize.
	MaxPayloadSize int
	// StreamWindow is the receive window of one stream in bytes (default 8 MiB: a stream can
	// then run at 20 Gbit/s with 3 ms between the reader consuming and the sender hearing of it,
	// and ride out a reader or RX loop held off its core for a scheduler slice, which 4 MiB, 2.2 ms
	// at 15 Gbit/s, could not; at least the protocol's initial 64 KiB, which a peer may use
	// before it learns ours). Memory follows the data actually buffered, not the window.
	StreamWindow int
	// SessionWindow is the receive window of a whole session in bytes (default 16 MiB; at least
	// the protocol's initial 256 KiB). It bounds what one peer can make this node buffer.
	SessionWindow int
	// SendBuffer is how many unacknowledged bytes one stream may hold (default 8 MiB, at most
	// SessionSendBuffer). A Write blocks while the buffer is full; a message up to this size is
	// written whole or not at all.
	SendBuffer int
	// SessionSendBuffer is how many bytes all the streams of a session together may hold for
	// sending, written and not yet acknowledged (default SessionWindow, 16 MiB: what the peer
	// lets the session have in flight anyway). Writes wait, in arrival order, while it is spent,
	// so a session's send memory follows this bound, not the number of its streams. A stream
	// whose reader stops reading can pin up to SendBuffer of it. At least 16 KiB (a chunk).
	SessionSendBuffer int
	// NodeSendBuffer bounds what the sessions of all the engines of a node (engines sharing a
	// Table) hold for sending together, written and not yet acknowledged, as far as Broadcast
	// (Node.SendToAll, SendToSessions) is concerned: before it writes to a session it waits
	// while that much is held (default 64 MiB; negative: no bound). Without it a broadcast to
	// 1000 sessions congestion-limited to one receiver could fill 1000 send buffers. Other
	// writes are bounded per stream and per session as before and never wait for it.
	NodeSendBuffer int
	// PeerGroupMin is how many sessions of an engine to one peer address (one receiving socket)
	// make them share one congestion window (docs/RELIABILITY.md, "Sessions to one receiver";
	// default 64; negative: never). Below it they are parallel flows, each with its own window,
	// as parallel TCP connections to one host are: their minimum windows together (64 x 2
	// packets of at most 8972 bytes, about 1.1 MiB) stay far below a receive buffer, and a
	// shared window would only cost them goodput (20-40% at 10 sessions on loopback). A
	// thousand sessions' minimum windows together overrun a 16 MiB receive buffer: they share.
	PeerGroupMin int
	// MaxStreamWindow, MaxSessionWindow, MaxSendBuffer and MaxSessionSendBuffer cap how far the
	// windows above grow to follow the path's bandwidth-delay product (defaults 64 MiB, 128 MiB,
	// 64 MiB and MaxSessionWindow; never below the starting size). A receive window starts at
	// StreamWindow or SessionWindow and doubles whenever the application consumed half of it
	// within two (minimum) round trips; a send buffer doubles when it is full and emptied as
	// fast while the congestion window and the peer's credit would let more be in flight
	// (docs/RELIABILITY.md, "Windows that follow the path"). Windows never shrink, but memory still follows the data buffered, so
	// a grown window costs nothing while idle beyond its chunk table (8 to 16 bytes per 16 KiB). A cap
	// equal to the starting size keeps that window fixed. The caps bound what one stream and
	// one session can make this node buffer.
	MaxStreamWindow, MaxSessionWindow   int
	MaxSendBuffer, MaxSessionSendBuffer int
	// MaxStreams is how many concurrent streams the peer may open (default 256; at least the
	// protocol's initial 8). It is this side's limit, advertised to the peer in MAX_STREAMS: an
	// OpenStream beyond the peer's limit waits, as long as its context allows, for a stream to
	// end.
	MaxStreams int
	// MaxMessageSize is the largest message a stream accepts (default 64 MiB).
	MaxMessageSize int
	// IdleTimeout closes a session that received nothing authentic for this long (default 30 s).
	IdleTimeout time.Duration
	// KeepAlive is how long a session may stay silent before it sends KEEP_ALIVE (default
	// IdleTimeout/3).
	KeepAlive time.Duration
	// FailoverFloor is the least silence, besides three PTOs and two unanswered probes, after
	// which a session with another path fails over to it (default 100 ms; negative: no floor).
	// The floor keeps a pause of a loaded host (scheduler, GC) from moving a working session;
	// on a dedicated host, a lower floor lets failover take the 3 PTO + 1 RTT the PTO rule
	// gives, which on a sub-millisecond path is a few milliseconds (docs/RELIABILITY.md).
	FailoverFloor time.Duration
	// MaxAckDelay bounds how long the receiver holds back an ACK (default 1 ms).
	MaxAckDelay time.Duration
	// AckEvery sends an ACK at once after this many ack-eliciting packets (default 2; an RX batch
	// always ends with an ACK when one is pending, which is what thins ACKs under load).
	// MaxAckDelay and AckEvery apply to datagram paths; over a reliable path (ReliableConn) a
	// session acknowledges every 16 packets or 25 ms.
	AckEvery int
	// FlushDelay lets a stream with less than a packet of new data wait this long for more, so that
	// small messages coalesce (default 0: send at once; Stream.Flush forces a send).
	FlushDelay time.Duration
	// KeyUpdatePackets, KeyUpdateBytes and KeyUpdateInterval rotate the send key when any is
	// reached (defaults: 3·2^20 packets, 1 GiB, 10 minutes; the packet limit cannot exceed 2^22).
	KeyUpdatePackets  uint64
	KeyUpdateBytes    uint64
	KeyUpdateInterval time.Duration
	// Congestion selects the congestion controller (default CUBIC). Over a reliable path
	// (ReliableConn) there is none: the path's byte budget paces instead.
	Congestion recovery.Algorithm
	// DisablePacing sends congestion-window bursts unpaced.
	DisablePacing bool
	// ReliablePacketSize is the packet size over a reliable path (ReliableConn), where there is
	// no MTU to fit (default DefaultReliablePacketSize, 16 KiB; bounded by the path's MaxPacket
	// and 64 KiB). PayloadSize applies to datagram paths only.
	ReliablePacketSize int
	// ReadPoll is how long a reader that would wait during a request/response exchange (its
	// engine sent a message inline within the last 100 µs) receives on the UDP socket itself,
	// yielding its core between tries, before it parks (default DefaultReadPoll, 100 µs;
	// negative: never). It saves the hand-off from the RX loop's goroutine to the reader's on
	// the round trip; the cost is at most this much CPU per wait. UDP paths only.
	ReadPoll time.Duration
	// BatchSize is how many datagrams one recvmmsg/sendmmsg moves (default 64).
	BatchSize int
	// HandshakeQueue bounds handshake packets waiting for the control plane (default 1024);
	// beyond it they are dropped and counted.
	HandshakeQueue int
	// Logger receives engine events at debug level and failures at warn (default: discard).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.PayloadSize == 0 {
		c.PayloadSize = frame.DefaultPayloadSize
	}
	if c.PayloadSize < 256 {
		c.PayloadSize = 256
	}
	if c.PayloadSize > frame.MaxPacketSize {
		c.PayloadSize = frame.MaxPacketSize
	}
	if c.MaxPayloadSize == 0 {
		c.MaxPayloadSize = DefaultMaxPayloadSize
	}
	c.MaxPayloadSize = min(max(c.MaxPayloadSize, c.PayloadSize), frame.MaxPacketSize)
	if c.StreamWindow == 0 {
		c.StreamWindow = 8 << 20
	}
	if c.SessionWindow == 0 {
		c.SessionWindow = 16 << 20
	}
	// A peer may use the protocol's initial limits before it hears ours, so ours can never be
	// below them (docs/PROTOCOL.md §5).
	c.StreamWindow = max(c.StreamWindow, InitialMaxStreamData)
	c.SessionWindow = max(c.SessionWindow, InitialMaxData)
	if c.SessionWindow < c.StreamWindow {
		c.SessionWindow = c.StreamWindow
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 8 << 20
	}
	if c.SessionSendBuffer == 0 {
		c.SessionSendBuffer = c.SessionWindow
	}
	c.SessionSendBuffer = max(c.SessionSendBuffer, streambuf.ChunkSize)
	if c.NodeSendBuffer == 0 {
		c.NodeSendBuffer = 64 << 20
	}
	if c.PeerGroupMin == 0 {
		c.PeerGroupMin = DefaultPeerGroupMin
	}
	if c.PeerGroupMin == 1 {
		c.PeerGroupMin = 2 // a group has two members at least
	}
	c.SendBuffer = min(c.SendBuffer, c.SessionSendBuffer)
	c.setWindowCaps()
	if c.MaxStreams == 0 {
		c.MaxStreams = 256
	}
	c.MaxStreams = max(c.MaxStreams, InitialMaxStreams)
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = c.IdleTimeout / 3
	}
	switch {
	case c.FailoverFloor == 0:
		c.FailoverFloor = defaultFailoverFloor
	case c.FailoverFloor < 0:
		c.FailoverFloor = 0
	}
	if c.ReadPoll == 0 {
		c.ReadPoll = DefaultReadPoll
	}
	if c.MaxAckDelay == 0 {
		c.MaxAckDelay = time.Millisecond
	}
	if c.AckEvery == 0 {
		c.AckEvery = 2
	}
	if c.KeyUpdatePackets == 0 {
		c.KeyUpdatePackets = stc.DefaultKeyUpdatePackets
	}
	if c.KeyUpdatePackets > stc.MaxPacketsPerKey {
		c.KeyUpdatePackets = stc.MaxPacketsPerKey
	}
	if c.KeyUpdateBytes == 0 {
		c.KeyUpdateBytes = stc.DefaultKeyUpdateBytes
	}
	if c.KeyUpdateInterval == 0 {
		c.KeyUpdateInterval = stc.DefaultKeyUpdateInterval
	}
	if c.ReliablePacketSize <= 0 {
		c.ReliablePacketSize = DefaultReliablePacketSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.HandshakeQueue == 0 {
		c.HandshakeQueue = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// setWindowCaps defaults the auto-tuning caps and keeps each at least its starting size, and the
// stream caps within the session caps. The defaults carry 400 Mbit/s over a 300 ms round trip
// (a 15 MB bandwidth-delay product; credit returns every half window, so a window needs about
// twice the product) and bound what a peer can make one session buffer to 128 MiB.
func (c *Config) setWindowCaps() {
	if c.MaxStreamWindow == 0 {
		c.MaxStreamWindow = 64 << 20
	}
	if c.MaxSessionWindow == 0 {
		c.MaxSessionWindow = 128 << 20
	}
	c.MaxSessionWindow = max(c.MaxSessionWindow, c.SessionWindow)
	c.MaxStreamWindow = min(max(c.MaxStreamWindow, c.StreamWindow), c.MaxSessionWindow)
	if c.MaxSessionSendBuffer == 0 {
		c.MaxSessionSendBuffer = c.MaxSessionWindow
	}
	c.MaxSessionSendBuffer = max(c.MaxSessionSendBuffer, c.SessionSendBuffer)
	if c.MaxSendBuffer == 0 {
		c.MaxSendBuffer = 64 << 20
	}
	c.MaxSendBuffer = min(max(c.MaxSendBuffer, c.SendBuffer), c.MaxSessionSendBuffer)
}
