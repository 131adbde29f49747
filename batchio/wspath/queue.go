package wspath

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio"
)

// recordHeader is the size of a packet record's header in the read queue: the payload length
// (4 bytes), the peer's address as 16 bytes and its port (2), and 2 bytes of padding.
const recordHeader = 24

// readQueue is the bounded queue between the connections (gnet event loops, a dialer's reader
// goroutine) and ReadBatch: one byte ring of records, so that memory is fixed at construction
// whatever the packet sizes, and a packet costs one copy in and one copy out, no allocation.
// When a packet does not fit, it is dropped and counted, as a full UDP socket buffer would.
type readQueue struct {
	mu   sync.Mutex
	buf  []byte
	head int // offset of the oldest record
	used int // bytes in use
	// ready holds a token whenever records may be waiting; ReadBatch waits on it.
	ready chan struct{}
	drops atomic.Uint64
}

func newReadQueue(size int) *readQueue {
	return &readQueue{buf: make([]byte, size), ready: make(chan struct{}, 1)}
}

// push appends one packet from peer, or drops it (false) when the queue lacks room.
func (q *readQueue) push(peer netip.AddrPort, p []byte) bool {
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(p)))
	a16 := peer.Addr().As16()
	copy(hdr[4:20], a16[:])
	binary.LittleEndian.PutUint16(hdr[20:22], peer.Port())
	if peer.Addr().Is4() {
		hdr[22] = 4
	}
	need := recordHeader + len(p)
	q.mu.Lock()
	if q.used+need > len(q.buf) {
		q.mu.Unlock()
		q.drops.Add(1)
		return false
	}
	tail := (q.head + q.used) % len(q.buf)
	tail = q.put(tail, hdr[:])
	q.put(tail, p)
	q.used += need
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// put copies b into the ring at off, wrapping at the end, and returns the offset after it.
func (q *readQueue) put(off int, b []byte) int {
	n := copy(q.buf[off:], b)
	if n < len(b) {
		n = copy(q.buf, b[n:])
		return n
	}
	return (off + n) % len(q.buf)
}

// get copies len(b) bytes from the ring at off into b and returns the offset after them.
func (q *readQueue) get(off int, b []byte) int {
	n := copy(b, q.buf[off:])
	if n < len(b) {
		n = copy(b[n:], q.buf)
		return n
	}
	return (off + n) % len(q.buf)
}

// skip returns the offset n bytes after off.
func (q *readQueue) skip(off, n int) int { return (off + n) % len(q.buf) }

// pop moves as many packets as there are Messages into msgs without blocking and returns how
// many. A packet longer than its Buf is truncated, as a UDP read would.
func (q *readQueue) pop(msgs []batchio.Message) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for ; i < len(msgs) && q.used > 0; i++ {
		var hdr [recordHeader]byte
		off := q.get(q.head, hdr[:])
		n := int(binary.LittleEndian.Uint32(hdr[0:4]))
		var a16 [16]byte
		copy(a16[:], hdr[4:20])
		addr := netip.AddrFrom16(a16)
		if hdr[22] == 4 {
			addr = addr.Unmap()
		}
		m := &msgs[i]
		m.Addr = netip.AddrPortFrom(addr, binary.LittleEndian.Uint16(hdr[20:22]))
		m.Seg = 0
		m.N = min(n, len(m.Buf))
		q.get(off, m.Buf[:m.N])
		q.head = q.skip(off, n)
		q.used -= recordHeader + n
	}
	if q.used == 0 {
		q.head = 0
	}
	return i
}
