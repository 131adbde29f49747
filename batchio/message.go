package batchio

import "net/netip"

// Message is one buffer of a batch: the unit recvmmsg/sendmmsg work on.
// It may hold one datagram or, with Seg, several equal-size datagrams that
// travel through the kernel as a single GSO send or GRO receive.
type Message struct {
	// Buf is the caller-owned buffer. On read the kernel fills up to
	// len(Buf) bytes; on write Buf[:N] is sent. batchio never keeps it.
	Buf []byte
	// N is the number of valid bytes in Buf: set by ReadBatch, read by
	// WriteBatch.
	N int
	// Addr is the source on read (IPv4-mapped addresses are unmapped) and
	// the destination on write.
	Addr netip.AddrPort
	// Seg describes how Buf[:N] is cut into datagrams. On write, if
	// 0 < Seg < N, Buf[:N] is several datagrams of Seg bytes (the last may
	// be shorter) to Addr, sent with GSO when available and split
	// otherwise. On read, Seg > 0 means the kernel coalesced (GRO) Buf[:N]
	// from datagrams of Seg bytes (the last may be shorter). 0 means one
	// datagram.
	Seg int
}

// segSize returns the datagram size Seg implies for Buf[:N]; a value of N
// means the message is a single datagram.
func (m *Message) segSize() int {
	if m.Seg <= 0 || m.Seg >= m.N {
		return m.N
	}
	return m.Seg
}

// NumDatagrams returns how many datagrams Buf[:N] holds, so receive loops
// can count packets without walking them. An empty message (N == 0) is
// one empty datagram.
func (m *Message) NumDatagrams() int {
	s := m.segSize()
	if s == m.N {
		return 1
	}
	return (m.N + s - 1) / s
}

// Datagrams returns an iterator over the datagrams of Buf[:N]. The
// iterator is a plain value and yields views into Buf, so walking a GRO
// batch neither allocates nor copies.
func (m *Message) Datagrams() DatagramIter {
	return DatagramIter{rest: m.Buf[:m.N], seg: m.segSize()}
}

// DatagramIter walks the datagrams of a Message; see [Message.Datagrams].
// Use it as:
//
//	it := m.Datagrams()
//	for d, ok := it.Next(); ok; d, ok = it.Next() { ... }
type DatagramIter struct {
	rest []byte
	seg  int
	done bool
}

// Next returns the next datagram as a view into the message buffer (its
// capacity is clipped so an append cannot overwrite the next datagram),
// and false when there are no more.
func (it *DatagramIter) Next() ([]byte, bool) {
	if it.done {
		return nil, false
	}
	if len(it.rest) <= it.seg {
		it.done = true
		return it.rest[:len(it.rest):len(it.rest)], true
	}
	d := it.rest[:it.seg:it.seg]
	it.rest = it.rest[it.seg:]
	return d, true
}

// Slab is one preallocated allocation carved into n fixed-size buffers,
// with the Messages that point at them. A receive or transmit loop
// allocates a Slab once and reuses its Messages forever, which is what
// keeps the data plane free of per-packet allocation and GC pressure.
type Slab struct {
	mem  []byte
	size int
	msgs []Message
}

// NewSlab allocates n buffers of size bytes in one block. Use size >=
// [GROBufferSize] for read slabs when GRO is on. It panics if n or size is
// not positive, as that is a programming error.
func NewSlab(n, size int) *Slab {
	if n <= 0 || size <= 0 {
		panic("batchio: NewSlab needs n > 0 and size > 0")
	}
	s := &Slab{mem: make([]byte, n*size), size: size, msgs: make([]Message, n)}
	s.Reset()
	return s
}

// Messages returns the slab's n Messages. Each Buf is a view into the
// slab with len == cap == size, so an append cannot spill into a
// neighbour. The same slice is returned on every call (no allocation).
func (s *Slab) Messages() []Message { return s.msgs }

// Reset restores every Message to its full-size buffer and clears N, Seg
// and Addr, for callers that resliced Buf or want a clean batch.
func (s *Slab) Reset() {
	for i := range s.msgs {
		lo, hi := i*s.size, (i+1)*s.size
		s.msgs[i] = Message{Buf: s.mem[lo:hi:hi]}
	}
}

// Len returns the number of buffers in the slab.
func (s *Slab) Len() int { return len(s.msgs) }

// Size returns the size in bytes of each buffer.
func (s *Slab) Size() int { return s.size }
