package batchio

import "net/netip"

// PacketConn is the batch datagram interface the transport runs over: a *Conn, an impaired link
// in tests, and later a WebSocket connection carrying the same packets. Each of ReadBatch and
// WriteBatch is called by one goroutine at a time.
type PacketConn interface {
	ReadBatch(msgs []Message) (int, error)
	WriteBatch(msgs []Message) (int, error)
	LocalAddr() netip.AddrPort
	Close() error
}

var _ PacketConn = (*Conn)(nil)
