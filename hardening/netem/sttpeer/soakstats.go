package main

import (
	"os"
	"runtime/metrics"
	"time"

	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/hardening/attack"
)

// soakStats is one "stats" (or the final "result") line of sttpeer soak.
type soakStats struct {
	Event        string  `json:"event"`
	UnixNs       int64   `json:"unix_ns"`
	Goroutines   uint64  `json:"goroutines"`
	GCCycles     uint64  `json:"gc_cycles"`
	HeapBytes    uint64  `json:"heap_bytes"`
	RSSKiB       int64   `json:"rss_kib"` // VmRSS of this process
	BulkSent     int64   `json:"bulk_sent"`
	BulkVerified int64   `json:"bulk_verified"` // echoed back and equal to what was sent
	SmallSent    int64   `json:"small_sent"`
	SmallOK      int64   `json:"small_verified"`
	SmallMaxMs   float64 `json:"small_max_latency_ms"`     // round trip, since the previous line
	SmallMaxAll  float64 `json:"small_max_latency_all_ms"` // round trip, whole run
	SRTTms       float64 `json:"srtt_ms"`
	PacketsSent  uint64  `json:"packets_sent"`
	PacketsLost  uint64  `json:"packets_lost"`
	KeyUpdates   uint64  `json:"key_updates"`
}

// stats samples the runtime and the session.
func (k *soaker) stats() soakStats {
	rt := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	metrics.Read(rt)
	ss := k.s.Stats()
	return soakStats{
		Event:        "stats",
		UnixNs:       time.Now().UnixNano(),
		Goroutines:   rt[0].Value.Uint64(),
		GCCycles:     rt[1].Value.Uint64(),
		HeapBytes:    withStreamBuffers(rt[2].Value.Uint64()),
		RSSKiB:       selfRSS(),
		BulkSent:     k.bulkSent.Load(),
		BulkVerified: k.bulkVerified.Load(),
		SmallSent:    k.smallSent.Load(),
		SmallOK:      k.smallVerified.Load(),
		SmallMaxMs:   float64(k.smallMaxLatNs.Swap(0)) / 1e6,
		SmallMaxAll:  float64(k.smallMaxLatAllNs.Load()) / 1e6,
		SRTTms:       float64(ss.SmoothedRTT) / 1e6,
		PacketsSent:  ss.PacketsSent,
		PacketsLost:  ss.PacketsLost,
		KeyUpdates:   ss.KeyUpdates,
	}
}

// withStreamBuffers adds to a heap figure the stream buffers' chunks, which live outside the Go
// heap (streambuf.OffHeapBytes), so that a bound on the figure still covers them.
func withStreamBuffers(heap uint64) uint64 { return heap + uint64(streambuf.OffHeapBytes()) }

// selfRSS reads this process's VmRSS (KiB) the way the attack tools read a listener's; -1 when
// unavailable.
func selfRSS() int64 {
	p, err := attack.ReadProc(os.Getpid())
	if err != nil {
		return -1
	}
	return int64(p.RSS >> 10)
}
