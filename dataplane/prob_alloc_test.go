//go:build !race

package dataplane

// Built without the race detector only: it drops sync.Pool items, so allocation counts under it
// mean nothing. make test runs this file in its allocation pass (-run 'Alloc|Footprint').

import (
	"errors"
	"testing"
	"time"
)

// probAllocRound is one steady-state round on a probabilistic stream: a high-entropy and a
// low-entropy message written (each classified, recorded, packed, sealed and sent), delivered
// unless dropped, read (or reported lost) by the peer, acknowledged back. It returns what it
// read and how many messages were reported lost.
type probAllocRound struct {
	a, b      *side
	st, pst   *Stream
	msgs      [2][]byte
	buf       []byte
	read, lst int
	round     int
	dropEvery int // drop a's packets every dropEvery rounds (0: never)
}

func (r *probAllocRound) run(t testing.TB) {
	for _, m := range r.msgs {
		if _, err := r.st.TryWriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	r.round++
	r.a.step()
	if r.dropEvery > 0 && r.round%r.dropEvery == 0 {
		r.a.conn.take()
	} else {
		deliver(r.a, r.b)
	}
	r.drain(t)
	r.b.step()
	deliver(r.b, r.a)
}

// drain reads every message the peer holds, counting the losses reported, until a read would
// wait: the stream's read deadline is in the past, so ReadMessage returns ErrTimeout instead.
func (r *probAllocRound) drain(t testing.TB) {
	for {
		var err error
		r.buf, err = r.pst.ReadMessage(r.buf[:0])
		switch {
		case err == nil:
			r.read++
		case errors.Is(err, ErrMessagesLost):
			r.lst++
		case errors.Is(err, ErrTimeout):
			return
		default:
			t.Fatal(err)
		}
	}
}

func newProbAllocRound(t *testing.T, dropEvery int) *probAllocRound {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStreamWith(t.Context(), OpenStreamOptions{Probabilistic: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &probAllocRound{a: a, b: b, st: st, dropEvery: dropEvery, buf: make([]byte, 0, 4096)}
	r.msgs[0] = randomBytes(900, 14) // high entropy: target 0.99
	r.msgs[1] = make([]byte, 120)    // all zeros: target 0.70
	if err := st.WriteMessage(r.msgs[1]); err != nil {
		t.Fatal(err)
	}
	a.step()
	deliver(a, b)
	if r.pst, err = b.s.AcceptStream(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.pst.SetReadDeadline(time.Unix(1, 0)) // reads never wait: drain stops at ErrTimeout
	if !r.pst.PeerOptions().Probabilistic {
		t.Fatal("accepted stream not probabilistic")
	}
	return r
}

// TestAllocsProbabilisticPath: the probabilistic write path in steady state (entropy class,
// message record, pack, seal, send) and its receiving side (open, deliver, ReadMessage) with
// acknowledgements back, over a live in-process session, without allocating per message.
func TestAllocsProbabilisticPath(t *testing.T) {
	r := newProbAllocRound(t, 0)
	round := func() { r.run(t) }
	warm(2000, round)
	if allocs := testing.AllocsPerRun(2000, round); allocs != 0 {
		t.Fatalf("probabilistic round (2 messages): %v allocations, want 0", allocs)
	}
	if r.read < 2*4000 || r.lst != 0 {
		t.Fatalf("read %d messages, %d losses reported; want at least %d and none", r.read, r.lst, 2*4000)
	}
	if c := r.st.ProbStats().Classes; c[0].Messages+c[len(c)-1].Messages == 0 {
		t.Fatalf("no message in the lowest or highest class: %+v", c)
	}
}

// TestAllocsProbabilisticLoss: the same with every 10th round's packets lost, so the sender
// counts losses, resends or abandons messages and announces abandonments with STREAM_SKIP, and
// the reader hears of them (ErrMessagesLost): still no allocation per message in steady state.
func TestAllocsProbabilisticLoss(t *testing.T) {
	r := newProbAllocRound(t, 10)
	round := func() { r.run(t) }
	warm(2000, round)
	if allocs := testing.AllocsPerRun(2000, round); allocs != 0 {
		t.Fatalf("probabilistic round with 10%% loss (2 messages): %v allocations, want 0", allocs)
	}
	stats := r.st.ProbStats()
	t.Logf("read %d, lost reports %d, stats %+v", r.read, r.lst, stats)
	var retrans, abandoned uint64
	for _, c := range stats.Classes {
		retrans += c.Retransmissions
		abandoned += c.Abandoned
	}
	if r.read == 0 || retrans == 0 || abandoned == 0 || r.lst == 0 {
		t.Fatalf("read %d, %d losses reported, %d retransmissions, %d abandoned: the loss paths were not exercised",
			r.read, r.lst, retrans, abandoned)
	}
}
