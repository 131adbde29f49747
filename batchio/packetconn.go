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

// PeerGone says that the connection to a peer has ended, on a path made of connections (the
// WebSocket path): its remote address and why it ended, in words for a log or a close reason.
type PeerGone struct {
	Peer netip.AddrPort
	Why  string
}

// PeerGoneNotifier is implemented by a PacketConn that learns when the connection to a peer
// ends (a WebSocket server whose client closed its TCP connection), so that the sessions it
// carried can end at once rather than at their idle timeout. f is called on the goroutine that
// calls ReadBatch, from within the ReadBatch call that returns the last packets received from
// that peer (or from one that returns 0 packets and no error): a reader that acts on the notice
// once it has handled that call's packets handles the peer's packets before its end.
type PeerGoneNotifier interface {
	OnPeerGone(f func(PeerGone))
}
