package wspath

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// Defaults for the zero values of Config.
const (
	// DefaultPath is the request path a Listener accepts when Config.Path is empty.
	DefaultPath = "/"
	// DefaultMaxMessage is the largest message (one STT packet) accepted, reassembled or sent:
	// 64 KiB, the largest UDP payload rounded up, so any packet the engine can build fits.
	DefaultMaxMessage = 64 << 10
	// DefaultOutboundBudget is how many bytes one connection may hold waiting to be sent (ours and
	// gnet's together) before further writes to it are dropped.
	DefaultOutboundBudget = 512 << 10
	// DefaultReadQueueBytes is the size of the queue between the connections and ReadBatch.
	DefaultReadQueueBytes = 4 << 20
	// DefaultMaxConns caps the connections of a Listener (upgraded or not).
	DefaultMaxConns = 10000
	// DefaultMaxPendingUpgrades caps the connections still waiting for their upgrade request
	// (see Config.MaxPendingUpgrades): a tenth of DefaultMaxConns, so that half-open connections
	// cannot take the room of upgraded ones.
	DefaultMaxPendingUpgrades = DefaultMaxConns / 10
	// DefaultUpgradeTimeout bounds the time a client has to send a complete upgrade request.
	DefaultUpgradeTimeout = 5 * time.Second
	// DefaultIdleTimeout closes a connection that sent nothing for this long.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxRequestBytes bounds the HTTP upgrade request (request line and headers).
	DefaultMaxRequestBytes = 8 << 10
)

// Config configures a Listener or a dialed Conn. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// Path is the request path the server accepts (other paths get 404). Default "/".
	Path string
	// AllowedOrigins, when not empty, is the list of Origin header values a server accepts (others
	// get 403). Requests without an Origin (non-browser clients) are accepted. Empty: any origin.
	AllowedOrigins []string
	// MaxMessage is the largest message accepted or sent, in bytes. Default DefaultMaxMessage.
	MaxMessage int
	// OutboundBudget is the most bytes one connection may have waiting to be sent; also the
	// socket's TCP_NOTSENT_LOWAT. Default DefaultOutboundBudget.
	OutboundBudget int
	// ReadQueueBytes sizes the queue of received packets waiting for ReadBatch (each packet costs
	// its length plus a 24-byte record header). Default DefaultReadQueueBytes.
	ReadQueueBytes int
	// MaxConns caps a Listener's connections. Default DefaultMaxConns.
	MaxConns int
	// MaxPendingUpgrades caps a Listener's connections that have not finished their upgrade
	// request, apart from (and below) MaxConns, so that half-open connections (slowloris, a
	// SYN-and-hold flood) cannot starve upgraded ones. A new connection beyond it, or beyond
	// MaxConns while some are pending, evicts the oldest pending one instead of being refused:
	// the flood then cannot lock new clients out either, since a client that sends its request
	// at once is evicted only if MaxPendingUpgrades newer connections arrive before it does.
	// Default min(DefaultMaxPendingUpgrades, MaxConns).
	MaxPendingUpgrades int
	// UpgradeTimeout bounds the upgrade request on a server and the whole handshake on Dial.
	// Default DefaultUpgradeTimeout.
	UpgradeTimeout time.Duration
	// IdleTimeout closes a server connection that has sent nothing for this long. Default
	// DefaultIdleTimeout; negative disables it.
	IdleTimeout time.Duration
	// MaxRequestBytes bounds the upgrade request's size. Default DefaultMaxRequestBytes.
	MaxRequestBytes int
	// EventLoops is the number of gnet event loops of a Listener. Default 1.
	EventLoops int
	// TLS configures wss:// on Dial (nil: a default tls.Config for the URL's host). A Listener
	// serves plain ws:// only; TLS is terminated in front of it (a reverse proxy).
	TLS *tls.Config
}

// withDefaults returns c with every zero field replaced by its default, or an error naming the
// field that is out of range.
func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Path[0] != '/' {
		return c, fmt.Errorf("wspath: Config.Path %q does not start with /: %w", c.Path, ErrConfig)
	}
	orDefault(&c.MaxMessage, DefaultMaxMessage)
	orDefault(&c.OutboundBudget, DefaultOutboundBudget)
	orDefault(&c.ReadQueueBytes, DefaultReadQueueBytes)
	orDefault(&c.MaxConns, DefaultMaxConns)
	orDefault(&c.MaxPendingUpgrades, min(DefaultMaxPendingUpgrades, c.MaxConns))
	orDefault(&c.UpgradeTimeout, DefaultUpgradeTimeout)
	orDefault(&c.IdleTimeout, DefaultIdleTimeout)
	orDefault(&c.MaxRequestBytes, DefaultMaxRequestBytes)
	orDefault(&c.EventLoops, 1)
	switch {
	case c.MaxMessage < 0 || c.MaxMessage > 1<<24:
		return c, fmt.Errorf("wspath: Config.MaxMessage %d not in 1..16 MiB: %w", c.MaxMessage, ErrConfig)
	case c.OutboundBudget < c.MaxMessage+maxFrameHeader:
		return c, fmt.Errorf("wspath: Config.OutboundBudget %d below one largest message: %w", c.OutboundBudget, ErrConfig)
	case c.ReadQueueBytes < c.MaxMessage+recordHeader:
		return c, fmt.Errorf("wspath: Config.ReadQueueBytes %d below one largest message: %w", c.ReadQueueBytes, ErrConfig)
	case c.MaxPendingUpgrades > c.MaxConns:
		return c, fmt.Errorf("wspath: Config.MaxPendingUpgrades %d over MaxConns %d: %w", c.MaxPendingUpgrades, c.MaxConns, ErrConfig)
	case c.MaxConns < 0, c.MaxPendingUpgrades < 0, c.EventLoops < 0, c.MaxRequestBytes < 256, c.UpgradeTimeout < 0:
		return c, fmt.Errorf("wspath: Config has a negative or too small limit: %w", ErrConfig)
	}
	return c, nil
}

// Sentinel errors, for errors.Is.
var (
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("wspath: invalid config")
	// ErrBadURL: Dial was given a URL that is not ws:// or wss://.
	ErrBadURL = errors.New("wspath: not a ws:// or wss:// URL")
	// ErrBadMessage: a Message.N is out of range or its Addr is not a valid address.
	ErrBadMessage = errors.New("wspath: Message.N out of range or Message.Addr invalid")
	// ErrProtocol: the peer broke RFC 6455 (close code 1002): an unmasked client frame, a masked
	// server frame, reserved bits or opcodes, a bad control frame, a stray continuation.
	ErrProtocol = errors.New("wspath: websocket protocol error")
	// ErrTextFrame: the peer sent a text message; the path carries binary packets only (1003).
	ErrTextFrame = errors.New("wspath: text message refused")
	// ErrMessageTooBig: a message was announced or reassembled larger than Config.MaxMessage (1009).
	ErrMessageTooBig = errors.New("wspath: message larger than MaxMessage")
	// ErrPeerClosed: the peer closed the WebSocket or the TCP connection.
	ErrPeerClosed = errors.New("wspath: peer closed the connection")
)

// orDefault sets *v to d when it is the zero value (the field was left unset).
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
