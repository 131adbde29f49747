package impair

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// recorder is an inner PacketConn that records every datagram written to it, with the time it
// arrived, and lets a test wait for a number of them.
type recorder struct {
	mu     sync.Mutex
	recs   []rec
	segs   []int // Seg of each message as the wrapper passed it
	calls  int
	closed bool
	notify chan struct{}
}

type rec struct {
	id uint32
	n  int
	to netip.AddrPort
	at time.Time
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) WriteBatch(msgs []batchio.Message) (int, error) {
	now := time.Now()
	r.mu.Lock()
	r.calls++
	for i := range msgs {
		m := &msgs[i]
		r.segs = append(r.segs, m.Seg)
		var id uint32
		if m.N >= 4 {
			id = binary.BigEndian.Uint32(m.Buf[:4])
		}
		r.recs = append(r.recs, rec{id: id, n: m.N, to: m.Addr, at: now})
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return len(msgs), nil
}

func (r *recorder) ReadBatch([]batchio.Message) (int, error) { return 0, net.ErrClosed }
func (r *recorder) LocalAddr() netip.AddrPort                { return netip.MustParseAddrPort("127.0.0.1:1") }
func (r *recorder) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

func (r *recorder) snapshot() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// waitN waits until n datagrams were recorded; the deadline only guards against hangs.
func (r *recorder) waitN(t *testing.T, n int) []rec {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.recs)
		r.mu.Unlock()
		if got >= n {
			return r.snapshot()
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("recorded %d of %d datagrams", got, n)
		}
	}
}

var dst = netip.MustParseAddrPort("192.0.2.1:9")

// writeIDs writes datagrams numbered from..to-1 (the id in the first 4 bytes, 64 bytes each),
// batch at a time, and returns when each was handed to the wrapper.
func writeIDs(t *testing.T, c *Conn, from, to, batch int) []time.Time {
	t.Helper()
	at := make([]time.Time, to-from)
	msgs := make([]batchio.Message, 0, batch)
	for id := from; id < to; {
		msgs = msgs[:0]
		now := time.Now()
		for ; id < to && len(msgs) < batch; id++ {
			b := make([]byte, 64)
			binary.BigEndian.PutUint32(b, uint32(id))
			msgs = append(msgs, batchio.Message{Buf: b, N: len(b), Addr: dst})
			at[id-from] = now
		}
		if n, err := c.WriteBatch(msgs); err != nil || n != len(msgs) {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
	}
	return at
}

func ids(rs []rec) []uint32 {
	out := make([]uint32, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

// expected is how many datagrams reach the inner conn according to the wrapper's own stats.
func expected(s Stats) int { return int(s.Written - s.Dropped + s.Duplicated) }

func TestDeterministic(t *testing.T) {
	run := func(cfg Config) ([]uint32, Stats) {
		r := newRecorder()
		c := Wrap(r, cfg)
		defer c.Close()
		writeIDs(t, c, 0, 20000, 37)
		st := c.Stats()
		got := r.waitN(t, expected(st))
		return ids(got), st
	}
	// No delays: every decision shows in the order of what reaches the inner conn.
	cfg := Config{Seed: 42, Loss: 0.1, Duplicate: 0.1, BurstLen: 3}
	a, sa := run(cfg)
	b, sb := run(cfg)
	if !slices.Equal(a, b) || sa != sb {
		t.Fatalf("same seed, different sequences (%d vs %d datagrams, stats %+v vs %+v)", len(a), len(b), sa, sb)
	}
	cfg.Seed = 43
	c, _ := run(cfg)
	if slices.Equal(a, c) {
		t.Fatal("another seed gave the same sequence")
	}

	// With reordering the arrival order depends on timers, but the decisions do not: the same
	// datagrams (and copies) arrive and the counters agree.
	cfg = Config{Seed: 7, Loss: 0.05, Duplicate: 0.05, Reorder: 0.1, ReorderDelay: time.Millisecond}
	x, sx := run(cfg)
	y, sy := run(cfg)
	slices.Sort(x)
	slices.Sort(y)
	if !slices.Equal(x, y) || sx != sy {
		t.Fatalf("same seed, different decisions with reordering: stats %+v vs %+v", sx, sy)
	}
}

func TestRates(t *testing.T) {
	const n = 100_000
	cfg := Config{Seed: 2024, Loss: 0.05, Duplicate: 0.03, Reorder: 0.02, ReorderDelay: time.Millisecond}
	r := newRecorder()
	c := Wrap(r, cfg)
	defer c.Close()
	writeIDs(t, c, 0, n, 64)
	st := c.Stats()
	got := r.waitN(t, expected(st))
	if len(got) != expected(st) {
		t.Fatalf("inner got %d datagrams, stats say %d", len(got), expected(st))
	}
	if st.Written != n {
		t.Fatalf("written %d, want %d", st.Written, n)
	}
	// Binomial standard deviations at these rates are below 0.001; 0.004 is 4σ and more.
	within := func(name string, got, want float64) {
		if math.Abs(got-want) > 0.004 {
			t.Errorf("%s rate %.4f, want %.3f ± 0.004", name, got, want)
		}
	}
	survivors := float64(st.Written - st.Dropped)
	within("loss", float64(st.Dropped)/float64(st.Written), cfg.Loss)
	within("duplicate", float64(st.Duplicated)/survivors, cfg.Duplicate)
	within("reorder", float64(st.Reordered)/(survivors+float64(st.Duplicated)), cfg.Reorder)
	if st.Delayed != st.Reordered {
		t.Errorf("delayed %d, reordered %d: with no Delay/Jitter only reordered datagrams wait", st.Delayed, st.Reordered)
	}
	// What reached the inner conn agrees with the counters: each id at most twice, and exactly
	// Written-Dropped distinct ids.
	count := make(map[uint32]int)
	for _, x := range got {
		count[x.id]++
	}
	dups := 0
	for id, k := range count {
		if k > 2 || id >= n {
			t.Fatalf("id %d arrived %d times", id, k)
		}
		if k == 2 {
			dups++
		}
	}
	if len(count) != int(survivors) || dups != int(st.Duplicated) {
		t.Fatalf("%d distinct ids (%d twice); stats %+v", len(count), dups, st)
	}
	t.Logf("stats %+v", st)
}

func TestBurstLoss(t *testing.T) {
	const n, burst = 50_000, 5
	cfg := Config{Seed: 9, Loss: 0.1, BurstLen: burst}
	r := newRecorder()
	c := Wrap(r, cfg)
	defer c.Close()
	writeIDs(t, c, 0, n, 50)
	st := c.Stats()
	got := ids(r.waitN(t, expected(st)))
	// Gaps in the (ordered, lossy only) sequence are whole bursts, back to back at most.
	prev := -1
	runs := 0
	// (The tail after the last delivered datagram may be a burst cut short by the end of input.)
	for _, id := range got {
		if gap := int(id) - prev - 1; gap > 0 {
			runs++
			if gap%burst != 0 {
				t.Fatalf("a run of %d lost datagrams before %d; bursts are %d long", gap, id, burst)
			}
		}
		prev = int(id)
	}
	rate := float64(st.Dropped) / float64(st.Written)
	if rate < 0.08 || rate > 0.11 {
		t.Fatalf("burst loss rate %.4f, want about %.2f", rate, cfg.Loss)
	}
	t.Logf("%d runs, loss %.4f", runs, rate)
}

func TestDelay(t *testing.T) {
	t.Run("fixed-delay-keeps-order", func(t *testing.T) {
		const n, delay = 2000, 3 * time.Millisecond
		r := newRecorder()
		c := Wrap(r, Config{Seed: 1, Delay: delay})
		defer c.Close()
		sent := writeIDs(t, c, 0, n, 16)
		got := r.waitN(t, n)
		for i, x := range got {
			if x.id != uint32(i) {
				t.Fatalf("datagram %d arrived in position %d with a fixed delay", x.id, i)
			}
			if el := x.at.Sub(sent[x.id]); el < delay {
				t.Fatalf("datagram %d delivered after %v, before its %v delay", x.id, el, delay)
			}
		}
		if st := c.Stats(); st.Delayed != n || st.Dropped != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		const n, hold = 5000, 5 * time.Millisecond
		r := newRecorder()
		c := Wrap(r, Config{Seed: 3, Reorder: 0.2, ReorderDelay: hold})
		defer c.Close()
		sent := writeIDs(t, c, 0, n, 8)
		got := r.waitN(t, n)
		// A datagram that arrives after a later one was overtaken: it must have been held.
		maxSeen := -1
		overtaken := 0
		for _, x := range got {
			if int(x.id) < maxSeen {
				overtaken++
				if el := x.at.Sub(sent[x.id]); el < hold {
					t.Fatalf("datagram %d overtaken but held only %v", x.id, el)
				}
			}
			maxSeen = max(maxSeen, int(x.id))
		}
		st := c.Stats()
		if overtaken == 0 || overtaken > int(st.Reordered) {
			t.Fatalf("%d datagrams overtaken, %d reordered", overtaken, st.Reordered)
		}
		seen := make(map[uint32]bool)
		for _, x := range got {
			seen[x.id] = true
		}
		if len(seen) != n {
			t.Fatalf("%d of %d datagrams arrived", len(seen), n)
		}
	})
	t.Run("jitter", func(t *testing.T) {
		const n, delay, jitter = 2000, time.Millisecond, 2 * time.Millisecond
		r := newRecorder()
		c := Wrap(r, Config{Seed: 4, Delay: delay, Jitter: jitter})
		defer c.Close()
		sent := writeIDs(t, c, 0, n, 4)
		got := r.waitN(t, n)
		for _, x := range got {
			if el := x.at.Sub(sent[x.id]); el < delay {
				t.Fatalf("datagram %d delivered after %v, below the %v base delay", x.id, el, delay)
			}
		}
	})
}

func TestCloseStopsDelayLoop(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRecorder()
	c := Wrap(r, Config{Seed: 1, Delay: time.Hour})
	writeIDs(t, c, 0, 10, 10)
	if st := c.Stats(); st.Delayed != 10 {
		t.Fatalf("stats %+v", st)
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
	r.mu.Lock()
	closed, recorded := r.closed, len(r.recs)
	r.mu.Unlock()
	if !closed {
		t.Fatal("inner conn not closed")
	}
	if recorded != 0 {
		t.Fatalf("%d held datagrams written at Close; they are discarded", recorded)
	}
	// Close returned after the delay goroutine finished; it is gone from the runtime.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before Wrap", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
	// A second Close is harmless.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGSOMessagesSplit(t *testing.T) {
	r := newRecorder()
	c := Wrap(r, Config{Seed: 5})
	defer c.Close()
	buf := make([]byte, 350)
	for i := range buf {
		buf[i] = byte(i)
	}
	for k := 0; k < 4; k++ {
		binary.BigEndian.PutUint32(buf[k*100:], uint32(100+k))
	}
	msgs := []batchio.Message{
		{Buf: buf, N: 350, Seg: 100, Addr: dst},                                  // 4 datagrams: 100, 100, 100, 50
		{Buf: buf[:60], N: 60, Seg: 60, Addr: dst},                               // Seg >= N: one datagram
		{Buf: append([]byte{0, 0, 0, 9}, make([]byte, 40)...), N: 44, Addr: dst}, // plain
	}
	if n, err := c.WriteBatch(msgs); err != nil || n != len(msgs) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := r.waitN(t, 6)
	wantIDs := []uint32{100, 101, 102, 103, 100, 9}
	wantLen := []int{100, 100, 100, 50, 60, 44}
	for i, x := range got {
		if x.id != wantIDs[i] || x.n != wantLen[i] || x.to != dst {
			t.Fatalf("datagram %d: id %d, %d bytes to %v; want id %d, %d bytes", i, x.id, x.n, x.to, wantIDs[i], wantLen[i])
		}
	}
	r.mu.Lock()
	for i, s := range r.segs {
		if s != 0 {
			t.Fatalf("message %d passed on with Seg %d: the wrapper must split", i, s)
		}
	}
	r.mu.Unlock()
	if st := c.Stats(); st.Written != 6 {
		t.Fatalf("written %d, want 6 (one per datagram)", st.Written)
	}
	// Impairments apply per datagram, not per super-packet.
	r2 := newRecorder()
	c2 := Wrap(r2, Config{Seed: 11, Loss: 0.5})
	defer c2.Close()
	big := make([]byte, 100*64)
	for k := 0; k < 100; k++ {
		binary.BigEndian.PutUint32(big[k*64:], uint32(k))
	}
	c2.WriteBatch([]batchio.Message{{Buf: big, N: len(big), Seg: 64, Addr: dst}})
	st := c2.Stats()
	if st.Written != 100 || st.Dropped == 0 || st.Dropped == 100 {
		t.Fatalf("per-datagram loss on a GSO message: %+v", st)
	}
	if got := r2.waitN(t, expected(st)); len(got) != 100-int(st.Dropped) {
		t.Fatalf("%d datagrams passed, stats %+v", len(got), st)
	}
}

func TestReadAndAddrPassThrough(t *testing.T) {
	r := newRecorder()
	c := Wrap(r, Config{Seed: 1, Loss: 1})
	defer c.Close()
	if c.LocalAddr() != r.LocalAddr() {
		t.Fatal("LocalAddr not passed through")
	}
	if _, err := c.ReadBatch(make([]batchio.Message, 1)); err != net.ErrClosed {
		t.Fatalf("ReadBatch = %v, want the inner conn's error", err)
	}
	// Loss 1 drops everything.
	writeIDs(t, c, 0, 100, 10)
	if st := c.Stats(); st.Dropped != 100 {
		t.Fatalf("stats %+v", st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recs) != 0 {
		t.Fatalf("%d datagrams passed a link with Loss 1", len(r.recs))
	}
}
