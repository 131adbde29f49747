package netem

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// report gathers the rows of TestNetemTransfer, logs them as a table and, when
// STT_NETEM_RESULTS names a directory, writes netns-DATE.md and netns-DATE.json there.
type report struct {
	mu    sync.Mutex
	size  int64
	rows  []caseResult
	ratio float64 // goodput at 1% over loss-free, 100 Mbit/s (medians)
}

// add appends a row.
func (r *report) add(c caseResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, c)
}

// len is how many rows there are.
func (r *report) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rows)
}

// markdown renders the rows as a table with a legend.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sttfast over two network namespaces, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%d MiB per transfer, sttpeer send (ctrl API) -> sttfast listen --once; tbf queue 10 ms; loss by nftables in both directions.\n\n", r.size>>20)
	b.WriteString("| link | loss | cc | run | goodput Mbit/s | sender loss (lost/sent) | link drops data/ack | queue drops (pkts) | qdisc drops (tc) | RTT idle ping min/avg ms | session min RTT ms | loaded SRTT median/p95 ms | host stalls (n, sum/max ms) | byte-exact |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %.1f | %.2f%% (%d/%d) | %d/%d | %d | %d | %.3f/%.3f | %.3f | %.2f/%.2f | %d, %.0f/%.0f | %v |\n",
			c.Link, c.Loss, c.CC, c.Run, c.GoodputMbps, 100*c.SenderLoss, c.PacketsLost, c.PacketsSent,
			c.LinkDropsAB, c.LinkDropsBA, c.QueueDrops, c.QdiscDrops, c.PingMinMs, c.PingAvgMs,
			c.MinRTTms, c.LoadedMedMs, c.LoadedP95Ms, c.Stalls, c.StallSumMs, c.StallMaxMs, yesNo(c.ByteExact))
	}
	if r.ratio > 0 {
		fmt.Fprintf(&b, "\nGoodput at 1%% loss / loss-free, 100 Mbit/s, medians: %.0f%% (criterion >= %.0f%%).\n", 100*r.ratio, 100*minLossyRatio)
	}
	b.WriteString("\nqueue drops = packets the sender sent that never reached the receiver's nftables (the bottleneck's drops, in packets); " +
		"qdisc drops = tc's counter, where a GSO super-packet counts once. Loaded SRTT = the session's smoothed RTT sampled every 10 ms while data was in flight. " +
		"Host stalls = wake-ups of a goroutine sleeping 10 ms in the test process that came 100 ms or more late during the transfer (count, total and worst lateness): " +
		"where they add up to seconds, the machine was too loaded for the goodput to say much about the transport.\n")
	return b.String()
}

// finish logs the table and writes the files.
func (r *report) finish(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return
	}
	md := r.markdown()
	t.Logf("\n%s", md)
	dir := os.Getenv("STT_NETEM_RESULTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	base := filepath.Join(dir, "netns-"+time.Now().UTC().Format("2006-01-02"))
	js, _ := json.MarshalIndent(struct {
		SizeBytes int64        `json:"size_bytes"`
		Ratio     float64      `json:"goodput_ratio_1pct_100mbit"`
		Rows      []caseResult `json:"rows"`
	}{r.size, r.ratio, r.rows}, "", "  ")
	for path, data := range map[string][]byte{base + ".md": []byte(md), base + ".json": append(js, '\n')} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("report written to %s.{md,json}", base)
}

// yesNo renders a bool for tables.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
