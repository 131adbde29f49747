package delayline

import "sync"

// packet is one datagram waiting for its due time.
type packet struct {
	due int64  // ns on the line clock
	seq uint64 // arrival order among accepted datagrams of its direction
	buf []byte // len is the datagram
}

// pktBufSize covers every datagram a 1500-byte MTU path carries, so steady-state traffic reuses
// pooled buffers; larger datagrams (loopback jumbo payloads) get a buffer of their own size,
// which then joins the pool.
const pktBufSize = 2048

var pktPool = sync.Pool{New: func() any { return &packet{buf: make([]byte, 0, pktBufSize)} }}

// newPacket copies d into a pooled packet.
func newPacket(d []byte, due int64, seq uint64) *packet {
	p := pktPool.Get().(*packet)
	if cap(p.buf) < len(d) {
		p.buf = make([]byte, 0, len(d))
	}
	p.buf = append(p.buf[:0], d...)
	p.due, p.seq = due, seq
	return p
}

func freePacket(p *packet) {
	p.buf = p.buf[:0]
	pktPool.Put(p)
}

// dueHeap is a min-heap of packets by due time, ties broken by arrival so that datagrams with
// equal due times (zero jitter) leave in the order they came. It is written out rather than
// built on container/heap to keep the interface conversions out of the per-datagram path.
type dueHeap []*packet

func (h dueHeap) less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}

func (h *dueHeap) push(p *packet) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *dueHeap) pop() *packet {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = nil
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// overtakes counts datagrams released while one that arrived before them is still waiting: the
// reordering the line introduced. It keeps a ring of released flags from the oldest unreleased
// sequence number on, which grows only as far as the reordering reaches.
type overtakes struct {
	base uint64 // lowest sequence number not yet released
	ring []bool // ring[seq & (len-1)] is true once seq is released; len is a power of two
}

// release records that seq left and reports whether it overtook an earlier datagram.
func (o *overtakes) release(seq uint64) bool {
	if len(o.ring) == 0 {
		o.ring = make([]bool, 64)
	}
	over := seq > o.base
	for seq-o.base >= uint64(len(o.ring)) {
		o.grow()
	}
	o.ring[seq&uint64(len(o.ring)-1)] = true
	mask := uint64(len(o.ring) - 1)
	for o.ring[o.base&mask] {
		o.ring[o.base&mask] = false
		o.base++
	}
	return over
}

func (o *overtakes) grow() {
	n := make([]bool, 2*len(o.ring))
	oldMask, newMask := uint64(len(o.ring)-1), uint64(len(n)-1)
	for s := o.base; s < o.base+uint64(len(o.ring)); s++ {
		n[s&newMask] = o.ring[s&oldMask]
	}
	o.ring = n
}
