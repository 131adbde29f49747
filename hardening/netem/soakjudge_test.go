package netem

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// soakRow is one sample of the soak (one CSV line): both processes' memory and runtime numbers
// and the client's transfer counters.
type soakRow struct {
	UnixS         int64
	Elapsed       time.Duration
	RSSKiB        [2]int64  // server, client: VmRSS from /proc/PID/status
	Goroutines    [2]uint64 // server (/metrics go_goroutines), client (sttpeer stats)
	GCCycles      [2]uint64
	HeapBytes     [2]uint64
	BulkVerified  int64   // bulk bytes echoed back and verified so far
	GoodputMbps   float64 // bulk verified over the last interval (one direction)
	SmallVerified int64
	SmallMaxMs    float64 // round trip of the small messages, worst in the interval
	SRTTms        float64
	PacketsLost   uint64
	KeyUpdates    uint64
	Sessions      int64 // server's live sessions
	Errors        int64 // server drops and refused handshakes since the first sample
}

// soakCriteria are the pass criteria of a soak.
type soakCriteria struct {
	// Warmup: samples before it are not judged (buffers, pools and the GC's heap goal settle).
	Warmup time.Duration
	// RSSGrowth bounds the growth of mean RSS from the first to the last quarter of the judged
	// samples, as a fraction of the first (0.05: 5%), plus RSSAllowanceKiB.
	RSSGrowth float64
	// RSSAllowanceKiB is added to the RSS bound for short runs: a process without a leak still
	// raises its RSS to the high-water mark of what it had to buffer during the worst scheduling
	// stall so far, and in two minutes that mark is still climbing (see loadSoakConfig).
	RSSAllowanceKiB float64
	// HeapGrowth bounds the growth of the heap's floor (the lowest sample of a quarter, i.e. the
	// live heap between transient backlogs) from the first to the last quarter.
	HeapGrowth float64
	// GoroutineSlack: the last quarter's highest goroutine count may exceed the first quarter's
	// highest by this much (a transient goroutine alive at sampling time, e.g. the runtime's or
	// net/http's own), no more.
	GoroutineSlack uint64
}

// soakSummary is what a judged soak reports.
type soakSummary struct {
	Judged                 int          // samples after the warm-up
	Quarter                int          // samples in each compared quarter
	RSSFirst, RSSLast      [2]float64   // mean KiB of the first and last quarter
	RSSGrowth              [2]float64   // (last - first) / first
	HeapFloor              [2][2]uint64 // lowest heap sample of the first and of the last quarter
	HeapGrowth             [2]float64
	GorFirstMax, GorLastMx [2]uint64
	GCCycles               [2]uint64 // during the judged window
	MeanGoodputMbps        float64
	MaxSmallMs             float64
}

// judgeSoak applies the criteria to rows. Definition: after dropping the samples taken before
// the warm-up, the n remaining are split into quarters of q = n/4 samples (n >= 4); for each
// process, mean RSS of the last q samples minus mean RSS of the first q samples must not exceed
// RSSGrowth times the latter plus RSSAllowanceKiB (shrinking is fine); the lowest heap sample of
// the last q must not exceed the lowest of the first q by more than HeapGrowth; the highest
// goroutine count of the last q samples
// must not exceed that of the first q by more than GoroutineSlack; every judged interval moved
// bulk data; the server held exactly one session and counted no errors in every sample.
func judgeSoak(rows []soakRow, c soakCriteria) (soakSummary, []string) {
	var s soakSummary
	var bad []string
	var judged []soakRow
	for _, r := range rows {
		if r.Elapsed >= c.Warmup {
			judged = append(judged, r)
		}
	}
	n := len(judged)
	s.Judged = n
	if n < 4 {
		return s, []string{fmt.Sprintf("only %d samples after the %v warm-up: at least 4 are needed to compare quarters", n, c.Warmup)}
	}
	q := n / 4
	s.Quarter = q
	first, last := judged[:q], judged[n-q:]
	names := [2]string{"server", "client"}
	for p := range 2 {
		s.HeapFloor[p] = [2]uint64{first[0].HeapBytes[p], last[0].HeapBytes[p]}
		for _, r := range first {
			s.RSSFirst[p] += float64(r.RSSKiB[p]) / float64(q)
			s.GorFirstMax[p] = max(s.GorFirstMax[p], r.Goroutines[p])
			s.HeapFloor[p][0] = min(s.HeapFloor[p][0], r.HeapBytes[p])
		}
		for _, r := range last {
			s.RSSLast[p] += float64(r.RSSKiB[p]) / float64(q)
			s.GorLastMx[p] = max(s.GorLastMx[p], r.Goroutines[p])
			s.HeapFloor[p][1] = min(s.HeapFloor[p][1], r.HeapBytes[p])
		}
		s.RSSGrowth[p] = s.RSSLast[p]/s.RSSFirst[p] - 1
		if s.RSSLast[p]-s.RSSFirst[p] > c.RSSGrowth*s.RSSFirst[p]+c.RSSAllowanceKiB {
			bad = append(bad, fmt.Sprintf("%s RSS grew %.1f%% (first-quarter mean %.0f KiB, last-quarter mean %.0f KiB), more than %.0f%% + %.0f KiB",
				names[p], 100*s.RSSGrowth[p], s.RSSFirst[p], s.RSSLast[p], 100*c.RSSGrowth, c.RSSAllowanceKiB))
		}
		s.HeapGrowth[p] = float64(s.HeapFloor[p][1])/float64(s.HeapFloor[p][0]) - 1
		if s.HeapGrowth[p] > c.HeapGrowth {
			bad = append(bad, fmt.Sprintf("%s heap floor grew %.1f%% (%d -> %d bytes), more than %.0f%%",
				names[p], 100*s.HeapGrowth[p], s.HeapFloor[p][0], s.HeapFloor[p][1], 100*c.HeapGrowth))
		}
		if s.GorLastMx[p] > s.GorFirstMax[p]+c.GoroutineSlack {
			bad = append(bad, fmt.Sprintf("%s goroutines grew from at most %d to %d", names[p], s.GorFirstMax[p], s.GorLastMx[p]))
		}
		s.GCCycles[p] = judged[n-1].GCCycles[p] - judged[0].GCCycles[p]
	}
	for _, r := range judged {
		s.MeanGoodputMbps += r.GoodputMbps / float64(n)
		s.MaxSmallMs = max(s.MaxSmallMs, r.SmallMaxMs)
		if r.GoodputMbps <= 0 {
			bad = append(bad, fmt.Sprintf("no bulk data verified in the interval ending at %v", r.Elapsed))
		}
	}
	for _, r := range rows {
		if r.Sessions != 1 || r.Errors != 0 {
			bad = append(bad, fmt.Sprintf("at %v the server had %d sessions and %d errors (want 1 and 0)", r.Elapsed, r.Sessions, r.Errors))
		}
	}
	return s, bad
}

// String renders the summary for the log and the report.
func (s soakSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples judged (quarters of %d)\n", s.Judged, s.Quarter)
	for p, name := range [2]string{"server", "client"} {
		fmt.Fprintf(&b, "%s: RSS %.0f -> %.0f KiB (%+.2f%%), heap floor %.2f -> %.2f MB (%+.2f%%), goroutines max %d -> %d, %d GC cycles\n",
			name, s.RSSFirst[p], s.RSSLast[p], 100*s.RSSGrowth[p], float64(s.HeapFloor[p][0])/1e6, float64(s.HeapFloor[p][1])/1e6,
			100*s.HeapGrowth[p], s.GorFirstMax[p], s.GorLastMx[p], s.GCCycles[p])
	}
	fmt.Fprintf(&b, "bulk goodput mean %.1f Mbit/s (echoed and verified), small-message round trip worst %.1f ms", s.MeanGoodputMbps, s.MaxSmallMs)
	return b.String()
}

// TestJudgeSoak checks the soak criteria on made-up samples: flat memory, warm-up growth, a
// transient heap spike and (with a short run's allowance) an RSS step pass; an RSS leak, a
// live-heap leak, a goroutine leak, a stall and an error each fail; too short a run is refused.
func TestJudgeSoak(t *testing.T) {
	c := soakCriteria{Warmup: time.Minute, RSSGrowth: 0.05, HeapGrowth: 0.05, GoroutineSlack: 2}
	mk := func(n int, rss func(i int) int64, gor func(i int) uint64) []soakRow {
		var rows []soakRow
		for i := range n {
			h := uint64(1000 * rss(i)) // the heap follows RSS unless a case says otherwise
			rows = append(rows, soakRow{Elapsed: time.Duration(i*10) * time.Second,
				RSSKiB: [2]int64{rss(i), rss(i)}, Goroutines: [2]uint64{gor(i), gor(i)},
				HeapBytes: [2]uint64{h, h}, GoodputMbps: 30, Sessions: 1})
		}
		return rows
	}
	flat := func(int) int64 { return 20000 }
	steady := func(int) uint64 { return 12 }
	if _, bad := judgeSoak(mk(30, flat, steady), c); len(bad) != 0 {
		t.Errorf("flat run judged bad: %v", bad)
	}
	// Warm-up growth is not judged: RSS rises for the first minute, then stays.
	if _, bad := judgeSoak(mk(30, func(i int) int64 { return 10000 + 1000*int64(min(i, 6)) }, steady), c); len(bad) != 0 {
		t.Errorf("growth during the warm-up judged bad: %v", bad)
	}
	leak := func(i int) int64 { return 20000 + 100*int64(i) } // +0.5% per sample
	if _, bad := judgeSoak(mk(30, leak, steady), c); len(bad) == 0 {
		t.Error("an RSS leak passed")
	}
	// The allowance of a short run lets a buffering high-water mark pass, not a live-heap leak.
	short := c
	short.RSSAllowanceKiB = 6 << 10
	step := mk(30, func(i int) int64 { return 20000 + 2000*int64(i/20) }, steady)
	for i := range step {
		step[i].HeapBytes = [2]uint64{20e6, 20e6} // buffers touched once stay resident; live heap flat
	}
	if _, bad := judgeSoak(step, short); len(bad) != 0 {
		t.Errorf("an RSS step within the allowance judged bad: %v", bad)
	}
	heapLeak := mk(30, flat, steady)
	for i := range heapLeak {
		heapLeak[i].HeapBytes[0] = 20e6 + uint64(i)*100e3
	}
	if _, bad := judgeSoak(heapLeak, short); len(bad) == 0 {
		t.Error("a live-heap leak passed within the RSS allowance")
	}
	spiky := mk(30, flat, steady)
	spiky[27].HeapBytes[1] *= 2 // one sample caught a transient backlog
	if _, bad := judgeSoak(spiky, c); len(bad) != 0 {
		t.Errorf("a transient heap spike judged bad: %v", bad)
	}
	if _, bad := judgeSoak(mk(30, flat, func(i int) uint64 { return 12 + uint64(i/5) }), c); len(bad) == 0 {
		t.Error("a goroutine leak passed")
	}
	stall := mk(30, flat, steady)
	stall[20].GoodputMbps = 0
	if _, bad := judgeSoak(stall, c); len(bad) == 0 {
		t.Error("a stalled interval passed")
	}
	errs := mk(30, flat, steady)
	errs[25].Errors = 1
	if _, bad := judgeSoak(errs, c); len(bad) == 0 {
		t.Error("an error passed")
	}
	if _, bad := judgeSoak(mk(8, flat, steady), c); len(bad) == 0 {
		t.Error("a run shorter than warm-up plus four samples passed")
	}
}
