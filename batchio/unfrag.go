package batchio

// UnfragmentedWriter is implemented by a PacketConn that can send datagrams the IP layer must
// not fragment, whatever the socket's default: what a path MTU probe needs (RFC 8899,
// DPLPMTUD), since a probe that the sending kernel fragments and the receiver reassembles
// would prove a size the path does not carry. A datagram larger than the local link's MTU is
// refused (a *SizeError, EMSGSIZE) instead of fragmented; one that a router cannot forward is
// dropped there (the DF bit is set), which the prober sees as a lost probe.
//
// It is a separate interface, not a flag on every write, because the socket keeps letting the
// kernel fragment other datagrams: a handshake padded to 1200 bytes must still cross a link
// narrower than that (docs/PROTOCOL.md §1).
type UnfragmentedWriter interface {
	// WriteUnfragmented is WriteBatch with fragmentation forbidden. It is called by the
	// goroutine that calls WriteBatch, never at the same time.
	WriteUnfragmented(msgs []Message) (int, error)
}
