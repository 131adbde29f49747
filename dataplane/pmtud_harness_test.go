package dataplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
)

// probeLink is the probe side of a hand-driven memConn path that carries at most limit bytes:
// it records the size of every probe and drops those above the limit. Data packets go through
// the memConn itself, at sizes only an acknowledged probe allowed.
type probeLink struct {
	c       *memConn
	limit   int
	sizes   []int
	dropped int
}

func (l *probeLink) WriteUnfragmented(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		l.sizes = append(l.sizes, msgs[i].N)
		if msgs[i].N > l.limit {
			l.dropped++
			continue
		}
		l.c.WriteBatch(msgs[i : i+1])
	}
	return len(msgs), nil
}

// withProbes turns discovery on for x's session, probing through a link of the given limit.
func withProbes(x *side, limit int) *probeLink {
	l := &probeLink{c: x.conn, limit: limit}
	x.e.unfrag = l
	x.e.cfg.MaxPayloadSize = DefaultMaxPayloadSize
	x.s.mu.Lock()
	x.s.startPMTU()
	x.s.mu.Unlock()
	return l
}

// A lost probe is not congestion and carries nothing to resend: over a path carrying 4000
// bytes, the search loses its probes above that, while a 2 MiB transfer runs beside it, and
// the session's window is never cut, no byte is sent twice, and the only packets lost are
// probes. Data packets grow to the discovered size, never beyond what a probe proved.
func TestPMTUProbeLossIsNotCongestion(t *testing.T) {
	const limit = 4000
	a, b := newPair(t, Config{})
	l := withProbes(a, limit)
	data := randomBytes(2<<20, 21)
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, st, append(frame.AppendVarint(nil, uint64(len(data))), data...))
	st.CloseWrite()
	deadline := time.Now().Add(20 * time.Second) // hang guard only, for the transfer and the search
	receiveWhole(t, a, b, data, time.Until(deadline), func() string {
		return fmt.Sprintf("(payload %d, probes %v)", a.s.payloadSize(), l.sizes)
	})
	// Let the search finish (its last probes may still be out).
	for a.s.pmtu.phase == pmtuSearching && time.Now().Before(deadline) {
		if exchangeRound(a, b, nil) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	ss := a.s.Stats()
	t.Logf("probes %v; path MTU %d; lost %d, congestion events %d, resent %d bytes", l.sizes, ss.PathMTU, ss.PacketsLost, ss.CongestionEvents, ss.RetransmittedBytes)
	if ss.PathMTU > limit || ss.PathMTU < limit-pmtuGranularity {
		t.Fatalf("path MTU %d, want within %d below %d", ss.PathMTU, pmtuGranularity, limit)
	}
	if l.dropped == 0 {
		t.Fatal("no probe was lost: the test did not exercise probe loss")
	}
	if ss.CongestionEvents != 0 {
		t.Fatalf("%d congestion events: a lost probe cut the window", ss.CongestionEvents)
	}
	if ss.RetransmittedBytes != 0 {
		t.Fatalf("%d bytes resent: a lost probe made data go again", ss.RetransmittedBytes)
	}
	if ss.PacketsLost > uint64(l.dropped) {
		// Loss detection declares the dropped probes it gets to (the probe timer may be first).
		t.Fatalf("%d packets lost, more than the %d dropped probes", ss.PacketsLost, l.dropped)
	}
	if ss.PMTUProbes != uint64(len(l.sizes)) || ss.PMTUBlackHoles != 0 {
		t.Fatalf("stats: %d probes (sent %d), %d black holes", ss.PMTUProbes, len(l.sizes), ss.PMTUBlackHoles)
	}
	if a.s.MaxFrameSize() != maxFrameSize(1200) {
		t.Fatalf("MaxFrameSize %d: application frames must stay within the base size", a.s.MaxFrameSize())
	}
}
