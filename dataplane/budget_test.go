package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
)

// budgetConfig is small enough that a run without a session-wide bound would show at once (each
// of 1000 streams could hold its 64 KiB: 64 MiB against a budget of 256 KiB) without taking the
// machine's memory to prove it. The caps equal the starting sizes: the bound under test is a
// fixed one (auto-tuning would raise it as the send buffers grow).
func budgetConfig(streams int) Config {
	return Config{StreamWindow: 64 << 10, SessionWindow: 256 << 10, SendBuffer: 64 << 10, MaxStreams: streams,
		MaxSendBuffer: 64 << 10, MaxSessionSendBuffer: 256 << 10}
}

// noInline keeps writers on other goroutines from running TX iterations themselves (a write
// that finds the TX loop parked may): in a hand-driven pair only the test's pump sends.
func noInline(sides ...*side) {
	for _, x := range sides {
		x.e.inlineOff.Store(true)
	}
}

// budgetRun is what one run of sendMany saw.
type budgetRun struct {
	peakBuffered int64  // highest sum over streams of written-but-unacknowledged bytes, sampled
	peakHeap     uint64 // highest HeapInuse sampled during the run, above what it was before the writes
	peakChunks   int64  // highest number of pooled chunks in use (both sides), sampled
	stats        SessionStats
}

// sendMany has n streams of a write concurrently through a hand-driven pair, each perStream
// bytes in 4 KiB messages, while b reads them all. Between rounds of the pump it sums what the
// sending streams hold (End - Acked, under the session lock: the buffers' own positions, not the
// budget's counters) and fails as soon as the sum exceeds the budget.
func sendMany(t testing.TB, n, perStream int) budgetRun {
	return sendManyWith(t, budgetConfig(n), n, perStream, 4<<10)
}

func sendManyWith(t testing.TB, cfg Config, n, perStream, msgSize int) budgetRun {
	a, b := newPair(t, cfg)
	noInline(a, b)
	limit := int64(a.e.cfg.SessionSendBuffer)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard only
	defer cancel()

	var received atomic.Int64
	var readers sync.WaitGroup
	readers.Add(n)
	readErr := make(chan error, n+1)
	go func() {
		for i := 0; i < n; i++ {
			st, err := b.s.AcceptStream(ctx)
			if err != nil {
				readErr <- err
				for ; i < n; i++ {
					readers.Done()
				}
				return
			}
			go func() {
				defer readers.Done()
				buf := make([]byte, 0, msgSize)
				for {
					m, err := st.ReadMessage(buf[:0])
					if err == io.EOF {
						st.Close()
						return
					}
					if err != nil {
						readErr <- err
						return
					}
					received.Add(int64(len(m)))
				}
			}()
		}
	}()

	streams := make([]*Stream, n)
	for i := range streams {
		st, err := a.s.OpenStream(ctx)
		if err != nil {
			t.Fatalf("open stream %d: %v", i, err)
		}
		streams[i] = st
	}
	var run budgetRun
	var ms runtime.MemStats
	rounds := 0
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var writers sync.WaitGroup
	writeErr := make(chan error, n)
	msg := make([]byte, msgSize)
	for _, st := range streams {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for sent := 0; sent < perStream; sent += len(msg) {
				if err := st.WriteMessage(msg); err != nil {
					writeErr <- err
					return
				}
			}
			st.CloseWrite()
		}()
	}

	want := int64(n * ((perStream + len(msg) - 1) / len(msg)) * len(msg))
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	allRead := false
	pumpUntil(t, a, b, nil, func() bool {
		var sum int64
		a.s.mu.Lock()
		for _, st := range a.s.streams {
			sum += int64(st.send.End() - st.send.Acked())
		}
		a.s.mu.Unlock()
		run.peakBuffered = max(run.peakBuffered, sum)
		if sum > limit {
			t.Fatalf("%d streams hold %d bytes for sending, the session's budget is %d", n, sum, limit)
		}
		inUse, _ := streambuf.PoolStats()
		run.peakChunks = max(run.peakChunks, inUse)
		if rounds%64 == 0 {
			runtime.ReadMemStats(&ms)
			run.peakHeap = max(run.peakHeap, ms.HeapInuse-min(ms.HeapInuse, base))
		}
		rounds++
		if allRead {
			return sum == 0 // and the sender has heard every acknowledgement
		}
		select {
		case err := <-writeErr:
			t.Fatalf("write: %v", err)
		case err := <-readErr:
			t.Fatalf("read: %v", err)
		case <-readersDone:
			allRead = true
		default:
		}
		return false
	})
	writers.Wait()
	if got := received.Load(); got != want {
		t.Fatalf("received %d bytes, want %d", got, want)
	}
	run.stats = a.s.Stats()
	return run
}

// TestSendBudgetHolds: however many streams write at once, what a session holds for sending
// stays within Config.SessionSendBuffer (by default the session window), measured both by the
// buffers' own positions and by the budget's counters, and every byte still arrives. Before the
// budget each stream could hold its own SendBuffer, so 1000 streams held 1000 of them.
func TestSendBudgetHolds(t *testing.T) {
	for _, n := range []int{1, 16, 256, 1000} {
		t.Run(fmt.Sprintf("streams=%d", n), func(t *testing.T) {
			perStream := max(8<<10, (1<<20)/n) // at least 1 MiB in all: several budgets' worth
			r := sendMany(t, n, perStream)
			st := r.stats
			t.Logf("%4d streams: send buffered peak %d KiB (budget %d KiB), pooled chunks peak %d (%d KiB, both sides), heap in use peak %.1f MiB",
				n, r.peakBuffered>>10, st.SendBudget>>10, r.peakChunks, r.peakChunks*streambuf.ChunkSize>>10, float64(r.peakHeap)/(1<<20))
			if st.SendBufferedPeak > st.SendBudget || st.SendBudget != 256<<10 {
				t.Fatalf("budget counter peaked at %d of %d", st.SendBufferedPeak, st.SendBudget)
			}
			if st.SendBufferedPeak < r.peakBuffered {
				t.Fatalf("the counter's peak %d is below what the buffers held (%d): bytes went uncounted", st.SendBufferedPeak, r.peakBuffered)
			}
			if st.SendBuffered != 0 {
				t.Fatalf("%d bytes still charged after every byte was acknowledged", st.SendBuffered)
			}
		})
	}
}

// BenchmarkSendMemoryStreams reports the heap a session's senders use against the number of
// streams writing at once (the budget keeps it flat): go test -run '^$' -bench SendMemory.
func BenchmarkSendMemoryStreams(b *testing.B) {
	for _, n := range []int{1, 16, 256, 1000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			var r budgetRun
			for i := 0; i < b.N; i++ {
				r = sendMany(b, n, max(8<<10, (1<<20)/n))
			}
			b.ReportMetric(float64(r.peakHeap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(r.peakBuffered)/(1<<10), "sendbuf-KiB")
			b.ReportMetric(float64(r.peakChunks*streambuf.ChunkSize)/(1<<20), "chunks-MiB")
		})
	}
}

// TestSendBudgetWaitsAndTimesOut: with the budget spent by one stream, a second stream's writer waits
// (it does not get around the bound) and goes ahead once acknowledgements free room; a write
// deadline ends the wait with ErrTimeout and leaves the stream usable.
func TestSendBudgetWaitsAndTimesOut(t *testing.T) {
	cfg := Config{StreamWindow: 64 << 10, SessionWindow: 256 << 10, SessionSendBuffer: 64 << 10, MaxSessionSendBuffer: 64 << 10}
	a, b := newPair(t, cfg)
	noInline(a, b)
	ctx := t.Context()
	s1, _ := a.s.OpenStream(ctx)
	s2, _ := a.s.OpenStream(ctx)
	big := make([]byte, 60<<10)
	if err := s1.WriteMessage(big); err != nil { // 60 KiB + prefix of the 64 KiB budget
		t.Fatal(err)
	}
	s2.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if err := s2.WriteMessage(make([]byte, 8<<10)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write beyond the session budget: %v, want ErrTimeout", err)
	}
	if got, want := a.s.Stats().SendBuffered, int64(len(frame.AppendVarint(nil, uint64(len(big))))+len(big)); got != want {
		t.Fatalf("charged %d bytes after the timed-out write, want %d (the first message only)", got, want)
	}
	s2.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { done <- s2.WriteMessage(make([]byte, 8<<10)) }()
	// Deliver until s1's bytes are acknowledged: the budget they held frees the waiting writer.
	pumpUntilDone(t, a, b, done)
	if p := a.s.Stats().SendBufferedPeak; p > 64<<10 {
		t.Fatalf("peak %d beyond the budget", p)
	}
}

// TestOpenStreamBeyondLimitEndsWithContext: an OpenStream past the peer's stream limit waits only
// as long as its context: a deadline and a cancel both end it with ctx.Err().
func TestOpenStreamBeyondLimitEndsWithContext(t *testing.T) {
	a, _ := newPair(t, Config{MaxStreams: InitialMaxStreams})
	for i := 0; i < InitialMaxStreams; i++ {
		if _, err := a.s.OpenStream(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := a.s.OpenStream(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open beyond the limit with a deadline: %v", err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() {
		_, err := a.s.OpenStream(cctx)
		res <- err
	}()
	ccancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("open beyond the limit, cancelled: %v", err)
		}
	case <-time.After(10 * time.Second): // hang guard
		t.Fatal("OpenStream did not return after its context was cancelled")
	}
}
