package ctrl

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/impair"
	"github.com/sttfast/sttfast/dataplane/streambuf"
)

// TestOneStreamBeyondFixedWindowPerRTT: through a 300 ms round trip (an in-process delay of
// 150 ms each way), one stream carries more than the 4 MiB per round trip that its fixed window
// used to allow, because the receive window and the send buffer grow with the path
// (dataplane/autotune.go). It checks the bytes end to end (xxhash of everything written against
// everything read), that no window passed its cap, and that once the transfer is over the
// stream buffers hold no memory. The sender stops as soon as one round trip's worth above
// 5 MiB has been delivered, so the test lasts a few seconds of slow start and growth.
func TestOneStreamBeyondFixedWindowPerRTT(t *testing.T) {
	const (
		oneWay = 150 * time.Millisecond
		rtt    = 2 * oneWay
		goal   = 5 << 20 // delivered within one round trip: beyond the 4 MiB a fixed window allowed
		limit  = 256 << 20
	)
	baseChunks, _ := streambuf.PoolStats()
	l := link{"delay", impair.Config{Seed: 15, Delay: oneWay}}
	// The windows start at the 4 MiB they were fixed at (the defaults start at 8 MiB now), so
	// that more than 5 MiB per round trip needs both sides to grow.
	fixed := Config{Transport: dataplane.Config{StreamWindow: 4 << 20, SendBuffer: 4 << 20}}
	srv, _, s := pair(t, l, fixed, fixed)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	peer, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type sent struct {
		hash  uint64
		bytes int
		err   error
	}
	sentc := make(chan sent, 1)
	// The messages are 64 KiB slices of one seeded random block at varying offsets: cheap to
	// make even under the race detector, and any misplaced byte changes the hash.
	block := make([]byte, 8<<20+64<<10)
	rng := rand.New(rand.NewPCG(15, 42))
	for i := 0; i+8 <= len(block); i += 8 {
		binary.LittleEndian.PutUint64(block[i:], rng.Uint64())
	}
	go func() {
		h := xxhash.New()
		n := 0
		for i := 0; n < limit; i++ {
			select {
			case <-stop:
				sentc <- sent{h.Sum64(), n, st.CloseWrite()}
				return
			default:
			}
			off := (i * 40009) % (8 << 20)
			m := block[off : off+64<<10]
			if err := st.WriteMessage(m); err != nil {
				sentc <- sent{err: err}
				return
			}
			h.Write(m)
			n += len(m)
		}
		sentc <- sent{h.Sum64(), n, st.CloseWrite()}
	}()
	rs, err := peer.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Receive: remember when each byte count was reached, and find the most delivered within
	// any one round trip (the earliest sample still within rtt of the latest).
	type mark struct {
		at    time.Time
		bytes int
	}
	var marks []mark
	h := xxhash.New()
	var buf []byte
	got, from, best := 0, 0, 0
	stopped := false
	for {
		buf, err = rs.ReadMessage(buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		h.Write(buf)
		got += len(buf)
		now := time.Now()
		marks = append(marks, mark{now, got})
		for now.Sub(marks[from].at) > rtt {
			from++
		}
		if d := got - marks[from].bytes; d > best {
			best = d
		}
		if best > goal && !stopped {
			close(stop)
			stopped = true
		}
	}
	r := <-sentc
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.bytes != got || r.hash != h.Sum64() {
		t.Fatalf("sent %d bytes (hash %x), received %d (hash %x)", r.bytes, r.hash, got, h.Sum64())
	}
	sst, rst := s.Stats(), peer.Stats()
	t.Logf("lost %d pkts, retransmitted %d B, PTOs %d, cc events %d, spurious %d", sst.PacketsLost, sst.RetransmittedBytes, sst.PTOs, sst.CongestionEvents, sst.SpuriousLosses)
	t.Logf("%d MiB moved; most in one %v round trip: %.1f MiB; sender: window growths %d, send budget %d MiB, SRTT %v, cwnd %d KiB; receiver: window growths %d, session window %d MiB",
		got>>20, rtt, float64(best)/(1<<20), sst.WindowGrowths, sst.SendBudget>>20, time.Duration(sst.SmoothedRTT), sst.Window>>10, rst.WindowGrowths, rst.RecvWindow>>20)
	if best <= goal {
		t.Fatalf("at most %.1f MiB in one round trip, want more than %d MiB (%d MiB moved)", float64(best)/(1<<20), goal>>20, got>>20)
	}
	if rst.WindowGrowths == 0 || sst.WindowGrowths == 0 {
		t.Fatalf("no window grew: sender %d, receiver %d", sst.WindowGrowths, rst.WindowGrowths)
	}
	if rst.RecvWindow > 128<<20 || sst.SendBudget > 128<<20 {
		t.Fatalf("a window passed its cap: session window %d, send budget %d", rst.RecvWindow, sst.SendBudget)
	}
	// Idle again: every stream buffer chunk back in the pool, as before the transfer.
	pollUntil(t, "the sender's buffer to drain", func() bool { return s.Stats().SendBuffered == 0 })
	pollUntil(t, "stream buffers to give their chunks back", func() bool {
		n, _ := streambuf.PoolStats()
		return n <= baseChunks
	})
}
