package wspath

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio"
)

// recordHeader is the size of a record's header in the read queue: the payload length (4
// bytes), the peer's address as 16 bytes and its port (2), the address family (1) and the
// record's kind (1).
const recordHeader = 24

// Record kinds (header byte 23).
const (
	recPacket   = 0 // a received packet
	recPeerGone = 1 // the peer's connection ended; the payload says why
)

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
	// gone holds the end notices that found no room in the ring; pop hands them over once the
	// ring is empty, i.e. after every packet received before them.
	gone []batchio.PeerGone
}

func newReadQueue(size int) *readQueue {
	return &readQueue{buf: make([]byte, size), ready: make(chan struct{}, 1)}
}

// push appends one packet from peer, or drops it (false) when the queue lacks room.
func (q *readQueue) push(peer netip.AddrPort, p []byte) bool {
	if !q.pushRecord(recPacket, peer, p) {
		q.drops.Add(1)
		return false
	}
	return true
}

// pushGone queues the notice that peer's connection ended, behind every packet received from it:
// in the ring when it has room, else aside until the ring has drained. It never drops one, and
// holds at most one per connection that ended.
func (q *readQueue) pushGone(peer netip.AddrPort, why string) {
	if q.pushRecord(recPeerGone, peer, []byte(why)) {
		return
	}
	q.mu.Lock()
	q.gone = append(q.gone, batchio.PeerGone{Peer: peer, Why: why})
	q.mu.Unlock()
	q.signal()
}

// pushRecord appends one record of kind, or reports false when the ring lacks room for it.
func (q *readQueue) pushRecord(kind byte, peer netip.AddrPort, p []byte) bool {
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(p)))
	a16 := peer.Addr().As16()
	copy(hdr[4:20], a16[:])
	binary.LittleEndian.PutUint16(hdr[20:22], peer.Port())
	if peer.Addr().Is4() {
		hdr[22] = 4
	}
	hdr[23] = kind
	need := recordHeader + len(p)
	q.mu.Lock()
	if q.used+need > len(q.buf) {
		q.mu.Unlock()
		return false
	}
	tail := (q.head + q.used) % len(q.buf)
	tail = q.put(tail, hdr[:])
	q.put(tail, p)
	q.used += need
	q.mu.Unlock()
	q.signal()
	return true
}

// signal leaves a token for a ReadBatch waiting on ready.
func (q *readQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
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
// many. A packet longer than its Buf is truncated, as a UDP read would. End notices that follow
// those packets are appended to gone, and pop stops after them: a packet queued behind a notice
// is left for the next call, so whoever acts on the notices after handling the packets acts in
// the order things happened. pop allocates only for a notice's text.
func (q *readQueue) pop(msgs []batchio.Message, gone []batchio.PeerGone) (int, []batchio.PeerGone) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for q.used > 0 {
		var hdr [recordHeader]byte
		off := q.get(q.head, hdr[:])
		n := int(binary.LittleEndian.Uint32(hdr[0:4]))
		var a16 [16]byte
		copy(a16[:], hdr[4:20])
		addr := netip.AddrFrom16(a16)
		if hdr[22] == 4 {
			addr = addr.Unmap()
		}
		peer := netip.AddrPortFrom(addr, binary.LittleEndian.Uint16(hdr[20:22]))
		if hdr[23] == recPeerGone {
			why := make([]byte, n)
			q.get(off, why)
			gone = append(gone, batchio.PeerGone{Peer: peer, Why: string(why)})
		} else {
			if i == len(msgs) || len(gone) > 0 {
				break
			}
			m := &msgs[i]
			m.Addr = peer
			m.Seg = 0
			m.N = min(n, len(m.Buf))
			q.get(off, m.Buf[:m.N])
			i++
		}
		q.head = q.skip(off, n)
		q.used -= recordHeader + n
	}
	if q.used == 0 {
		q.head = 0
		if len(q.gone) > 0 {
			gone = append(gone, q.gone...)
			clear(q.gone)
			q.gone = q.gone[:0]
		}
	}
	return i, gone
}
