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

// BatchLender is implemented by a PacketConn that can hand received packets over in place:
// LendBatch is ReadBatch with each Message's Buf set to the packet's bytes in the conn's own
// memory (exactly N long, writable), valid until the caller's next ReadBatch or LendBatch, which
// takes them back. A conn that queues packets in user space (the WebSocket path) saves the copy
// into the caller's buffers; a reader that keeps a packet past its next read must copy it.
type BatchLender interface {
	LendBatch(msgs []Message) (int, error)
}

// BatchReader returns how a reader that is done with each batch before it reads the next should
// read conn, and the Messages to read into: LendBatch into n Messages without buffers of their
// own when conn is a BatchLender (no copy per packet), else ReadBatch into n buffers of bufSize
// bytes. Nothing may keep a lent packet's bytes past the next read.
func BatchReader(conn PacketConn, n, bufSize int) (read func([]Message) (int, error), msgs []Message) {
	if l, ok := conn.(BatchLender); ok {
		return l.LendBatch, make([]Message, n)
	}
	return conn.ReadBatch, NewSlab(n, bufSize).Messages()
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
