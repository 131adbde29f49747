package dataplane

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// TestIdleTrimNotBusy: packets that are not ack-eliciting (ACKs) sent after an ack-eliciting one
// that was still unacknowledged stay in the packet history until the peer happens to
// acknowledge them, which a peer that sends nothing ack-eliciting back never does: then Trim
// cannot give the history back once idleTrim has passed since the last ack-eliciting packet. The
// trim deadline must move on rather than stay in the past, which brought the session back at
// every pass of the TX loop (a fan-out receiver's 1000 sessions made 1.4 million empty visits in
// a 3 s window).
func TestIdleTrimNotBusy(t *testing.T) {
	a, b := newPair(t, Config{})
	st := writeEach(t, []*Session{a.s}, 64<<10)[0]
	pumpUntil(t, a, b, nil, func() bool { return b.s.Stats().StreamBytesRecv >= 64<<10 })
	inFlight := func() int {
		b.s.mu.Lock()
		defer b.s.mu.Unlock()
		return b.s.sender.InFlightPackets()
	}
	pumpUntil(t, a, b, nil, func() bool { return inFlight() == 0 })
	// b sends P, ack-eliciting; a acknowledges it in an ACK of its own (held back for now).
	writeEach(t, []*Session{b.s}, 10)
	b.step()
	deliver(b, a)
	a.stepAt(recovery.Now() + recovery.Time(time.Second)) // the delayed ACK is due
	ackP, _ := takeCopies(a)
	// a sends data; b acknowledges it in an ACK packet tracked behind P, still outstanding.
	if _, err := st.Write(make([]byte, 2400)); err != nil {
		t.Fatal(err)
	}
	a.step()
	deliver(a, b)
	b.step()
	b.conn.take() // the ACK a never acknowledges
	inject(b, ackP...)
	now := recovery.Now()
	b.s.mu.Lock()
	b.s.lastSent = now - 2*recovery.Time(idleTrim) // P, long ago
	b.s.mu.Unlock()
	b.e.enqueue(b.s)
	b.step() // the visit runs the session's timers: Trim, which fails, then its next deadline
	b.s.mu.Lock()
	held := b.s.sender.HistoryCap()
	b.s.mu.Unlock()
	if held == 0 || inFlight() != 0 {
		t.Fatalf("history %d slots, %d packets in flight: the test needs a history that only an unacknowledged ACK holds", held, inFlight())
	}
	if d := b.tx.heap.min(); d <= now {
		t.Fatalf("after the visit the session's next deadline is %v before the visit: the TX loop would visit it at every pass", time.Duration(now-d))
	}
}
