package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/ring"
)

// rxBufSize is the size of one receive buffer: large enough for a GRO super-packet.
const rxBufSize = 64 << 10

// rxLoop is the engine's receive goroutine. Everything it needs per packet lives here and is
// reused, so the steady state allocates nothing.
type rxLoop struct {
	e    *Engine
	msgs []batchio.Message
	// read reads the next batch into msgs (batchio.BatchReader): with LendBatch when the conn
	// lends its packets in place (the WebSocket path's read queue, a MultiConn), as the loop is
	// done with a batch before it reads the next, saving a copy of every packet. Nothing may keep
	// a packet's bytes past its batch: they go back to the conn at the next read (and race builds
	// of wspath poison them there).
	read   func([]batchio.Message) (int, error)
	hdr    frame.Header
	walker frame.Walker
	f      frame.Frame
	ranges []recovery.Range
	now    recovery.Time
	// probing: the packet being processed carries only probing frames (PADDING, PATH_*), which
	// never make its source a path candidate (migrate.go)
	probing bool
	// talking: it carries a frame that says the peer is at work (not PADDING, ACK, NACK,
	// KEEP_ALIVE(_ACK) or PATH_*): what a dialer's liveness ping waits for (migrate.go)
	talking bool

	cur     *Session // session whose lock is held across consecutive datagrams
	wakes   []*ring.Waker
	touched []*Session
	later   []*Session // sessions that need the TX loop by a deadline, not now
	scratch []*Session // table snapshots for ending the sessions of gone peers
	stamp   uint64     // batch number, to de-duplicate touched sessions
}

func newRxLoop(e *Engine) *rxLoop {
	rx := &rxLoop{
		e:       e,
		wakes:   make([]*ring.Waker, 0, 64),
		ranges:  make([]recovery.Range, 0, frame.MaxAckRanges+1),
		touched: make([]*Session, 0, e.cfg.BatchSize),
		later:   make([]*Session, 0, e.cfg.BatchSize),
	}
	rx.read, rx.msgs = batchio.BatchReader(e.conn, e.cfg.BatchSize, rxBufSize)
	return rx
}

func (rx *rxLoop) run() {
	e := rx.e
	var fails int
	for {
		n, err := rx.read(rx.msgs)
		if err == nil {
			e.rxMu.Lock()
			rx.batch(rx.msgs[:n])
			e.rxMu.Unlock()
		}
		if len(e.gone) > 0 { // after the packets received before the ends
			rx.endGonePeers()
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-e.closing:
				return
			default:
			}
			// Transient errors (ICMP-induced ECONNREFUSED, ENOBUFS) must not end the loop, but
			// a persistent one must not spin: back off briefly after repeated failures.
			fails++
			if fails > 8 {
				time.Sleep(time.Millisecond)
			}
			e.cfg.Logger.Debug("rx read failed", "err", err)
			continue
		}
		fails = 0
	}
}

// batch processes one ReadBatch worth of datagrams.
func (rx *rxLoop) batch(msgs []batchio.Message) {
	rx.now = recovery.Now()
	rx.stamp++
	// Counted before any of it is delivered: a reader that reads the batch's last byte and
	// then the counters must find them there (TestWSPathCounters saw 2086699 of 2097152 bytes
	// once when they were added after the batch).
	datagrams, bytes := packetsIn(msgs)
	e := rx.e
	e.ctr.rxBatches.Add(1)
	e.ctr.rxDatagrams.Add(datagrams)
	e.ctr.rxBytes.Add(bytes)
	for i := range msgs {
		m := &msgs[i]
		b := m.Buf[:m.N]
		seg := m.Seg
		if seg <= 0 || seg >= len(b) {
			rx.datagram(b, m.Addr)
			continue
		}
		for len(b) > 0 {
			n := min(seg, len(b))
			rx.datagram(b[:n:n], m.Addr)
			b = b[n:]
		}
	}
	rx.release()
	for i, s := range rx.touched {
		s.e.notify(s) // the session's own engine: with SO_REUSEPORT it may differ from ours
		rx.touched[i] = nil
	}
	rx.touched = rx.touched[:0]
	for i, s := range rx.later {
		if s.rxStamp != rx.stamp {
			s.e.enqueue(s)
			s.e.tx.pullTimer(s.rxLaterAt)
		}
		rx.later[i] = nil
	}
	rx.later = rx.later[:0]
}

// datagram handles one packet.
func (rx *rxLoop) datagram(d []byte, from netip.AddrPort) {
	e := rx.e
	if err := frame.ParseHeader(d, &rx.hdr); err != nil {
		e.CountDrop(dropFor(err))
		return
	}
	switch rx.hdr.Kind {
	case frame.KindHandshake:
		rx.handshake(d, from)
	case frame.KindProtected:
		s := rx.lookup(rx.hdr.SessionID)
		if s == nil {
			e.CountDrop(DropUnknownSession)
			return
		}
		if r, ok := s.receive(rx, d, from); !ok {
			e.CountDrop(r)
		}
	default:
		e.CountDrop(DropBadKind)
	}
}

// lookup finds the session for id and takes its lock, keeping it across consecutive datagrams
// of the same session.
func (rx *rxLoop) lookup(id [8]byte) *Session {
	if rx.cur != nil {
		if rx.cur.id == id {
			return rx.cur
		}
		rx.release()
	}
	s := rx.e.table.Lookup(id)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.sink = &rx.wakes
	rx.cur = s
	return s
}

// release drops the lock on the current session, then wakes the readers and writers its
// packets made ready.
func (rx *rxLoop) release() {
	if rx.cur != nil {
		rx.cur.sink = nil
		rx.cur.mu.Unlock()
		rx.cur = nil
		flushWakes(&rx.wakes)
	}
}

// touch records that s needs the TX loop's attention at the end of the batch.
func (rx *rxLoop) touch(s *Session) {
	if s.rxStamp == rx.stamp {
		return
	}
	s.rxStamp = rx.stamp
	rx.touched = append(rx.touched, s)
}

// touchAt records that s needs the TX loop by deadline d (a delayed ACK): the session is queued
// without waking the loop, and the loop's timer is pulled in to d if it was later.
func (rx *rxLoop) touchAt(s *Session, d recovery.Time) {
	if s.rxLaterStamp == rx.stamp {
		if d < s.rxLaterAt {
			s.rxLaterAt = d
		}
		return
	}
	s.rxLaterStamp = rx.stamp
	s.rxLaterAt = d
	rx.later = append(rx.later, s)
}

// handshake copies a handshake datagram for the control plane.
func (rx *rxLoop) handshake(d []byte, from netip.AddrPort) {
	e := rx.e
	if len(d) > MaxHandshakeSize {
		e.CountDrop(DropOversize)
		return
	}
	dg := NewDatagram()
	dg.N = copy(dg.buf[:], d)
	dg.Addr = from
	dg.Engine = e
	if !e.hs.Push(dg) {
		dg.Free()
		e.CountDrop(DropHandshakeQueue)
	}
}

// dropFor maps a header parse error to its drop reason.
func dropFor(err error) DropReason {
	switch {
	case errors.Is(err, frame.ErrBadMagic):
		return DropBadMagic
	case errors.Is(err, frame.ErrBadVersion):
		return DropBadVersion
	case errors.Is(err, frame.ErrBadKind):
		return DropBadKind
	case errors.Is(err, frame.ErrBadHeader):
		return DropBadHeader
	case errors.Is(err, frame.ErrOversize):
		return DropOversize
	}
	return DropTruncated
}
