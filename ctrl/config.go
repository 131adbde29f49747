package ctrl

import (
	"io"
	"log/slog"
	"time"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// Config configures a Node. Seed is required; every other zero field takes the default in its
// comment.
type Config struct {
	// Seed is the pre-shared secret that authenticates peers and derives every key.
	Seed *stc.Seed
	// Addr is where the node listens, and where its UDP dials leave from (unless an address of
	// Addrs reaches the peer better): "udp://HOST:PORT" or "HOST:PORT", or "ws://HOST:PORT/PATH"
	// for the WebSocket path (ws dials open connections of their own) (default "udp://:0": every interface, IPv4 and IPv6 where the host has both,
	// and a free port, so that a node made to dial reaches any host). A server sets its port
	// ("udp://:9000"); "udp://127.0.0.1:PORT" keeps a node to this host: it can dial only this
	// host's addresses (a dial elsewhere fails at once with ErrSendFailed).
	Addr string
	// Addrs are more addresses to listen on, beside Addr, in the same form: the node listens on
	// Addr and on every entry of Addrs at once (say a LAN address and loopback,
	// "udp://10.0.0.2:9000" and "udp://127.0.0.1:9000"), with one session table: a session is the same whichever
	// address it came in on. Node.Addr stays Addr's; Node.Addrs lists them all. A dial leaves
	// from the address that can reach the peer (of its address family, a wildcard bind
	// preferred), else from Addr.
	Addrs []string
	// NodeID identifies this node in handshakes (default: random).
	NodeID [8]byte
	// Sockets is how many sockets (each with its own RX and TX loop) share the port through
	// SO_REUSEPORT, for each UDP address the node listens on (default 1; set it to the number
	// of cores for a busy server).
	Sockets int
	// MaxSessions bounds live sessions; beyond it handshakes are refused with FINAL status 6
	// (default 10000).
	MaxSessions int
	// AcceptQueue bounds sessions waiting for Accept (default 1024); beyond it new sessions are
	// refused the same way. A node that never calls Accept should set DiscardAccepted.
	AcceptQueue int
	// DiscardAccepted makes incoming sessions live without being queued for Accept (relays and
	// servers that find sessions through events or Sessions()).
	DiscardAccepted bool
	// HandshakeTimeout bounds a Dial, and the age of a CHALLENGE the responder still honours
	// (default 10 s).
	HandshakeTimeout time.Duration
	// DialStagger is how long DialAny waits for an answer from one address before it tries the
	// next as well (default 250 ms, RFC 8305's "connection attempt delay"): long enough for a
	// nearby node to answer, short enough that a dead first address costs little. An address
	// that fails before (nothing listens there, say) starts the next at once.
	DialStagger time.Duration
	// ClockWindow is how far a HELLO's timestamp may be from the responder's clock (default 30 s).
	// A HELLO outside it that proves the seed is answered with our time (a CLOCK), with which the
	// initiator tries again; a dialing node does that by itself.
	ClockWindow time.Duration
	// NonceCache bounds how many HELLO nonces are remembered for replay detection (default 32768).
	NonceCache int
	// RecvBuffer and SendBuffer size the socket buffers in bytes (default 8 MiB each; the
	// effective values are in NodeStats).
	RecvBuffer, SendBuffer int
	// DisableGSO and DisableGRO turn the kernel offloads off (for comparisons).
	DisableGSO, DisableGRO bool
	// WebSocket tunes the WebSocket path of ws:// listeners and of dials to ws:// and wss://
	// addresses (outbound budget, read queue, connection cap, timeouts, the Origin allow-list,
	// TLS for wss://); the zero value takes wspath's defaults. Its Path is ignored: the address
	// names it. Its EventLoops defaults to Sockets. Its UpgradeTimeout on a dial defaults to
	// HandshakeTimeout.
	WebSocket wspath.Config
	// WrapConn, when set, wraps each UDP socket before the data plane uses it: the hook for the
	// impairment link of tests and benchmarks (package dataplane/impair) and for instrumentation.
	WrapConn func(dataplane.PacketConn) dataplane.PacketConn
	// Transport tunes the data plane (windows, timeouts, MTU, congestion control).
	Transport dataplane.Config
	// OnEvent receives structured events (sessions and streams opened and closed, key rotations,
	// path changes, refused handshakes). It runs on the node's event goroutine, never on the data
	// path; events that arrive while it is slow queue up to a bound and are then counted and
	// dropped.
	OnEvent func(Event)
	// ForwardSecrecy makes every session of the node forward-secret: its dials offer an
	// ephemeral X25519 exchange inside the seed-authenticated handshake and fail
	// (ErrNoForwardSecrecy) if the peer does not take it up, and it refuses handshakes that do
	// not offer one (answering FS_REQUIRED, so the dialer fails with ErrPeerRequiresFS). The
	// seed then authenticates but no longer decrypts: a capture and the seed, even both,
	// do not give the session keys (docs/PROTOCOL.md §3). A node without it still agrees to
	// forward secrecy when a dialer asks. It costs two X25519 operations per side and handshake.
	ForwardSecrecy bool
	// KeyLog, when set, receives one line per traffic secret the node installs (each session's
	// two directions, and each key update's new generation), so that captures of its traffic
	// can be decrypted (sttfast pcap decrypt --keylog). For debugging only: whoever reads it
	// reads the traffic. When nil, the environment variable STTKEYLOGFILE (KeyLogEnv) names a
	// file to append to instead. Either way the node warns on stderr.
	KeyLog io.Writer
	// Logger receives events at debug level and failures at warn (default: discard).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "udp://:0"
	}
	if c.Sockets <= 0 {
		c.Sockets = 1
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.AcceptQueue <= 0 {
		c.AcceptQueue = 1024
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.DialStagger <= 0 {
		c.DialStagger = 250 * time.Millisecond
	}
	if c.ClockWindow <= 0 {
		c.ClockWindow = 30 * time.Second
	}
	if c.NonceCache <= 0 {
		c.NonceCache = 32768
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = 8 << 20
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 8 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Transport.Logger == nil {
		c.Transport.Logger = c.Logger
	}
}
