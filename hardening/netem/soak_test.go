package netem

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sttfast/sttfast/hardening/attack"
)

// shortRunRSSAllowanceKiB is the RSS a short soak may gain beyond 5% (see loadSoakConfig):
// what one session may buffer, 4 MiB of session window and 2 x 1 MiB of send buffers.
const shortRunRSSAllowanceKiB = 6 << 10

// soakConfig is a soak's shape, from the environment (make soak sets the long one).
type soakConfig struct {
	duration, interval, warmup time.Duration
	rate                       int64 // bulk bytes per second, each way (serve echoes)
	smallRate                  int   // 64-byte messages per second
	forceGC                    bool  // collect garbage in both processes before each sample
	csvPath                    string
	criteria                   soakCriteria
}

// loadSoakConfig reads STT_SOAK_DURATION (default 2m), STT_SOAK_INTERVAL (default 10s, 5s for
// runs under 10 minutes so that the quarters hold enough samples), STT_SOAK_WARMUP (default 1m,
// 30s for runs under 10 minutes), STT_SOAK_RATE (bulk bytes per second, default 4MiB),
// STT_SOAK_SMALL_RATE (default 100 messages per second), STT_SOAK_FORCE_GC (default 1 for
// runs under 10 minutes, else 0) and STT_SOAK_CSV (default: a file in the test's temporary
// directory).
//
// Why a short soak collects garbage before each sample: at these rates a process makes so
// little garbage that a GC cycle (GOGC=100 on a ~19 MB live heap) takes about two minutes, and
// RSS climbs for that long to the cycle's heap goal before it levels off; a two-minute run would
// judge that ramp, not a leak. A GC just before each sample (serve: GET
// /debug/pprof/heap?gc=1; sttpeer: "gc stats") lets RSS and the heap follow live memory, which is
// what a leak grows. The hour-long soak samples the processes as they run (quarters of 15
// minutes hold many GC cycles).
//
// Why a short soak allows RSS to grow by shortRunRSSAllowanceKiB beyond 5%: RSS also keeps the
// high-water mark of what a process had to buffer. When a process is descheduled, the data in
// flight piles up in its stream buffers, whose pages stay resident afterwards. In a two-minute
// run on this shared 2-core machine, small-message round trips of 107 ms and 204 ms each came
// with an RSS step of 0.3-0.8 MB in both processes (live heap flat): +12% between the quarters
// without a leak. What one session may buffer is bounded by its windows (library defaults: a
// 16 MiB session receive window and a 4 MiB send buffer for each of the two streams), hence the
// allowance; in an hour the mark saturates and the plain 5% applies. The leak detector of the
// short run is the heap floor (live heap after a GC, within 5%), which stalls do not move.
func loadSoakConfig(t *testing.T) soakConfig {
	c := soakConfig{duration: envDuration(t, "STT_SOAK_DURATION", 2*time.Minute)}
	short := c.duration < 10*time.Minute
	c.interval = envDuration(t, "STT_SOAK_INTERVAL", map[bool]time.Duration{true: 5 * time.Second, false: 10 * time.Second}[short])
	c.warmup = envDuration(t, "STT_SOAK_WARMUP", map[bool]time.Duration{true: 30 * time.Second, false: time.Minute}[short])
	c.rate = envSize(t, "STT_SOAK_RATE", 4<<20)
	c.smallRate = envInt(t, "STT_SOAK_SMALL_RATE", 100)
	c.forceGC = short
	if v := os.Getenv("STT_SOAK_FORCE_GC"); v != "" {
		c.forceGC = v == "1"
	}
	c.csvPath = os.Getenv("STT_SOAK_CSV")
	if c.csvPath == "" {
		c.csvPath = filepath.Join(t.TempDir(), "soak.csv")
	}
	c.criteria = soakCriteria{Warmup: c.warmup, RSSGrowth: 0.05, HeapGrowth: 0.05, GoroutineSlack: 2}
	if short {
		c.criteria.RSSAllowanceKiB = shortRunRSSAllowanceKiB
	}
	return c
}

// soakStatsLine is sttpeer soak's "stats" and "result" line.
type soakStatsLine struct {
	UnixNs       int64   `json:"unix_ns"`
	Goroutines   uint64  `json:"goroutines"`
	GCCycles     uint64  `json:"gc_cycles"`
	HeapBytes    uint64  `json:"heap_bytes"`
	BulkSent     int64   `json:"bulk_sent"`
	BulkVerified int64   `json:"bulk_verified"`
	SmallSent    int64   `json:"small_sent"`
	SmallOK      int64   `json:"small_verified"`
	SmallMaxMs   float64 `json:"small_max_latency_ms"`
	SRTTms       float64 `json:"srtt_ms"`
	PacketsLost  uint64  `json:"packets_lost"`
	KeyUpdates   uint64  `json:"key_updates"`
}

// sample assembles one row: RSS from /proc, the server's /metrics, the client's stats line.
func sample(t *testing.T, srv, cli *proc, admin string, st, prev soakStatsLine, elapsed time.Duration) soakRow {
	t.Helper()
	m := scrape(t, admin)
	r := soakRow{
		UnixS: time.Now().Unix(), Elapsed: elapsed,
		Goroutines:   [2]uint64{uint64(m["go_goroutines"]), st.Goroutines},
		GCCycles:     [2]uint64{uint64(m["go_gc_cycles_total"]), st.GCCycles},
		HeapBytes:    [2]uint64{uint64(m["go_heap_objects_bytes"] + m["sttfast_stream_buffer_offheap_bytes"]), st.HeapBytes},
		BulkVerified: st.BulkVerified, SmallVerified: st.SmallOK, SmallMaxMs: st.SmallMaxMs,
		SRTTms: st.SRTTms, PacketsLost: st.PacketsLost, KeyUpdates: st.KeyUpdates,
		Sessions: int64(m["sttfast_sessions"]),
		Errors:   int64(m["sttfast_drops_total"] + m["sttfast_handshakes_failed_total"]),
	}
	for i, p := range []*proc{srv, cli} {
		ps, err := attack.ReadProc(p.pid())
		if err != nil {
			t.Fatalf("%s RSS: %v", p.name, err)
		}
		r.RSSKiB[i] = int64(ps.RSS >> 10)
	}
	if prev.UnixNs != 0 {
		r.GoodputMbps = float64(st.BulkVerified-prev.BulkVerified) * 8 / (float64(st.UnixNs-prev.UnixNs) / 1e9) / 1e6
	} else {
		r.GoodputMbps = float64(st.BulkVerified) * 8 / elapsed.Seconds() / 1e6
	}
	return r
}

// soakCSV writes the samples, one flushed line each (a crashed long soak keeps its data).
type soakCSV struct {
	f *os.File
	w *csv.Writer
}

// soakHeader names the CSV columns; s_ is the server (sttfast serve), c_ the client (sttpeer).
var soakHeader = []string{"unix_time", "elapsed_s", "s_rss_kib", "c_rss_kib", "s_goroutines", "c_goroutines",
	"s_gc_cycles", "c_gc_cycles", "s_heap_bytes", "c_heap_bytes", "bulk_verified_bytes", "bulk_goodput_mbps",
	"small_verified", "small_max_rtt_ms", "srtt_ms", "packets_lost", "key_updates", "s_sessions", "s_errors"}

// newSoakCSV creates path (and its directory) and writes the header.
func newSoakCSV(path string) (*soakCSV, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c := &soakCSV{f: f, w: csv.NewWriter(f)}
	c.w.Write(soakHeader)
	c.w.Flush()
	return c, c.w.Error()
}

// write appends one row.
func (c *soakCSV) write(r soakRow) error {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	c.w.Write([]string{i(r.UnixS), f(r.Elapsed.Seconds()), i(r.RSSKiB[0]), i(r.RSSKiB[1]), u(r.Goroutines[0]), u(r.Goroutines[1]),
		u(r.GCCycles[0]), u(r.GCCycles[1]), u(r.HeapBytes[0]), u(r.HeapBytes[1]), i(r.BulkVerified), f(r.GoodputMbps),
		i(r.SmallVerified), f(r.SmallMaxMs), f(r.SRTTms), u(r.PacketsLost), u(r.KeyUpdates), i(r.Sessions), i(r.Errors)})
	c.w.Flush()
	return c.w.Error()
}

// close closes the file.
func (c *soakCSV) close() { c.f.Close() }
