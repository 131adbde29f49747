package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// Helpers shared by the *_feature_test.go and *_fuzz_test.go files of this package, on top of the
// hand-driven pair of harness_test.go (a is the initiator at pairAddrA, b the responder at pairAddrB, the
// session keys are the fixed pairSecrets).

var (
	pairAddrA = netip.MustParseAddrPort("10.0.0.1:1000")
	pairAddrB = netip.MustParseAddrPort("10.0.0.2:2000")
	pairID    = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
)

// pairSecrets returns the traffic secrets newPair installs.
func pairSecrets() (i2r, r2i stc.Secret) {
	for i := range i2r {
		i2r[i], r2i[i] = byte(i), byte(100+i)
	}
	return i2r, r2i
}

// datagram is a copy of one packet on the wire.
type capturedDG struct {
	b    []byte
	from netip.AddrPort
}

// takeCopies empties x's outbox and returns copies of its datagrams with their destinations.
func takeCopies(x *side) (dgs []capturedDG, to []netip.AddrPort) {
	to = append(to, x.conn.to...)
	for _, m := range x.conn.take() {
		it := m.Datagrams()
		for d, ok := it.Next(); ok; d, ok = it.Next() {
			dgs = append(dgs, capturedDG{b: append([]byte(nil), d...), from: m.Addr})
		}
	}
	return dgs, to
}

// inject hands datagrams to x's RX loop as one batch (the slices are copied: the RX path opens
// packets in place).
func inject(x *side, dgs ...capturedDG) {
	if len(dgs) == 0 {
		return
	}
	msgs := make([]batchio.Message, len(dgs))
	for i, d := range dgs {
		buf := make([]byte, len(d.b), len(d.b)+64)
		copy(buf, d.b)
		msgs[i] = batchio.Message{Buf: buf, N: len(d.b), Addr: d.from}
	}
	x.rx.batch(msgs)
}

// pumpUntil runs both TX loops and delivers everything both ways until cond holds. tap, if set,
// sees (and may keep) every datagram from a to b before it is delivered. Time is real (timers
// use recovery.Now), so the loop also waits out ACK delays; the deadline only guards hangs.
func pumpUntil(t testing.TB, a, b *side, tap func(capturedDG), cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("pumpUntil: condition not reached")
		}
		if exchangeRound(a, b, tap) == 0 {
			time.Sleep(100 * time.Microsecond) // nothing in flight: let a timer come due
		}
	}
}

// pumpUntilDone pumps a and b until a writer running on its own goroutine reports on done, and
// fails the test if it reports an error.
func pumpUntilDone(t testing.TB, a, b *side, done <-chan error) {
	t.Helper()
	pumpUntil(t, a, b, nil, func() bool { return reported(t, done) })
}

// reported reports whether a goroutine has reported on done, and fails the test if it reported
// an error.
func reported(t testing.TB, done <-chan error) bool {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		return true
	default:
		return false
	}
}

// drainEvents pops every queued event of e.
func drainEvents(e *Engine) []Event {
	var evs []Event
	for {
		ev, ok := e.events.Pop()
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func hasEvent(evs []Event, k EventKind) bool {
	for _, ev := range evs {
		if ev.Kind == k {
			return true
		}
	}
	return false
}

// forger seals packets under one direction's generation-0 key, as the peer holding that key
// would: authentic packets with contents of the test's choosing.
type forger struct {
	aead *stc.AEAD
	id   [8]byte
	pn   uint64
}

func newForger(t testing.TB, secret stc.Secret, id [8]byte, firstPN uint64) *forger {
	t.Helper()
	a, err := stc.NewAEAD(&secret)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{aead: a, id: id, pn: firstPN}
}

// seal returns a protected packet with the next packet number carrying payload (frames).
func (f *forger) seal(payload []byte) []byte {
	h := frame.Header{Kind: frame.KindProtected, SessionID: f.id, PacketNumber: f.pn, PNLen: 4}
	b := frame.AppendHeader(make([]byte, 0, 32+len(payload)), &h)
	hdr := len(b)
	b = append(b, payload...)
	b = f.aead.Seal(b, hdr, f.pn)
	f.pn++
	return b
}

// dropsOf returns e's drop counters.
func dropsOf(e *Engine) [numDropReasons]uint64 { return e.Stats().Drops }

// newLightPair is newPair with small buffers (a few datagrams between takes, 4-message batches),
// cheap enough to build one per fuzz input.
func newLightPair(t testing.TB, cfg Config) (a, b *side) {
	t.Helper()
	cfg.BatchSize = 4
	return newPairOn(t, cfg, func(local netip.AddrPort) *memConn { return newMemConnSize(local, 64, 2048) })
}
