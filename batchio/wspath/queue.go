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
	recPad      = 2 // the ring's last bytes, skipped so that the next record starts at 0
)

// readQueue is the bounded queue between the connections (gnet event loops, a dialer's reader
// goroutine) and ReadBatch: one byte ring of records, so that memory is fixed at construction
// whatever the packet sizes, and a packet costs one copy in and, unless take lends it, one copy
// out, no allocation. When a packet does not fit, it is dropped and counted, as a full UDP socket
// buffer would.
//
// A record never wraps: one that does not fit before the ring's end goes at its start, and the
// bytes it skips are a pad record (or, when fewer than a header's worth, skipped by rule: no
// record starts within recordHeader bytes of the end). So every packet is one contiguous slice
// of buf, which is what lets take lend it.
type readQueue struct {
	mu   sync.Mutex
	buf  []byte
	head int // offset of the oldest record
	used int // bytes in use, lent ones included
	// lent is how many bytes from head the last take lent; the next take gives them back (moves
	// head past them). Only the reader touches it.
	lent int
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
	tail := (q.head + q.used) % len(q.buf)
	pad := 0
	if tail+need > len(q.buf) { // it goes at the start; the rest of the ring is skipped
		pad = len(q.buf) - tail
	}
	if q.used+pad+need > len(q.buf) {
		q.mu.Unlock()
		return false
	}
	if pad >= recordHeader {
		var ph [recordHeader]byte
		binary.LittleEndian.PutUint32(ph[0:4], uint32(pad-recordHeader))
		ph[23] = recPad
		copy(q.buf[tail:], ph[:])
	}
	at := (tail + pad) % len(q.buf)
	copy(q.buf[at:], hdr[:])
	copy(q.buf[at+recordHeader:], p)
	q.used += pad + need
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

// take moves as many packets as there are Messages into msgs without blocking and returns how
// many: copied into each Message's Buf (a packet longer than its Buf is truncated, as a UDP read
// would), or, with lend, handed over in place (Buf set to the packet's bytes in the ring, N =
// len(Buf)), the reader's until its next take, which gives them back. End notices that follow
// those packets are appended to gone, and take stops after them: a packet queued behind a notice
// is left for the next call, so whoever acts on the notices after handling the packets acts in
// the order things happened. take allocates only for a notice's text.
//
// It reads the records without the lock: take has one caller at a time (ReadBatch's contract),
// only take moves head, and push writes only past head+used, so the records it found under the
// lock stay as they are until take gives their bytes back (at its end when it copies, at the
// next call when it lends). An event loop pushing meanwhile waits for the lock only as long as
// the bookkeeping takes.
func (q *readQueue) take(msgs []batchio.Message, gone []batchio.PeerGone, lend bool) (int, []batchio.PeerGone) {
	q.mu.Lock()
	if poisonLent {
		q.poison(q.head, q.lent)
	}
	q.giveBack(q.lent)
	q.lent = 0
	head, used := q.head, q.used
	q.mu.Unlock()
	i, taken := 0, 0
	for taken < used {
		if len(q.buf)-head < recordHeader { // no record starts here: skip to the ring's start
			taken += len(q.buf) - head
			head = 0
			continue
		}
		hdr := q.buf[head : head+recordHeader]
		n := int(binary.LittleEndian.Uint32(hdr[0:4]))
		body := q.buf[head+recordHeader : head+recordHeader+n : head+recordHeader+n]
		switch hdr[23] {
		case recPad:
		case recPeerGone:
			gone = append(gone, batchio.PeerGone{Peer: recordPeer(hdr), Why: string(body)})
		default:
			if i == len(msgs) || len(gone) > 0 {
				return i, q.took(gone, taken, lend)
			}
			m := &msgs[i]
			m.Addr = recordPeer(hdr)
			m.Seg = 0
			if lend {
				m.Buf, m.N = body, n
			} else {
				m.N = copy(m.Buf, body)
			}
			i++
		}
		head = (head + recordHeader + n) % len(q.buf)
		taken += recordHeader + n
	}
	return i, q.took(gone, taken, lend)
}

// took records what take read: given back now (copied) or at the next call (lent). Once the
// reader has everything the ring held, the end notices kept aside for want of room follow.
func (q *readQueue) took(gone []batchio.PeerGone, taken int, lend bool) []batchio.PeerGone {
	q.mu.Lock()
	defer q.mu.Unlock()
	if lend {
		q.lent = taken
	} else {
		q.giveBack(taken)
	}
	if q.used == q.lent && len(q.gone) > 0 {
		gone = append(gone, q.gone...)
		clear(q.gone)
		q.gone = q.gone[:0]
	}
	return gone
}

// giveBack frees the n bytes at head; mu must be held. An empty ring starts again at 0.
func (q *readQueue) giveBack(n int) {
	q.head = (q.head + n) % len(q.buf)
	q.used -= n
	if q.used == 0 {
		q.head = 0
	}
}

// poisonByte is what poisonLent writes over bytes taken back from a lend.
const poisonByte = 0xA5

// poison overwrites the n bytes of the ring from off with poisonByte.
func (q *readQueue) poison(off, n int) {
	for n > 0 {
		b := q.buf[off:min(off+n, len(q.buf))]
		for i := range b {
			b[i] = poisonByte
		}
		off, n = 0, n-len(b)
	}
}

// recordPeer decodes the peer's address from a record's header.
func recordPeer(hdr []byte) netip.AddrPort {
	var a16 [16]byte
	copy(a16[:], hdr[4:20])
	addr := netip.AddrFrom16(a16)
	if hdr[22] == 4 {
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, binary.LittleEndian.Uint16(hdr[20:22]))
}
