package peerbench

import (
	"fmt"
	"strings"
	"time"
)

// suite is a named set of contenders and workloads.
type suite struct {
	name       string
	contenders []string
	workloads  []string
}

var suites = map[string]suite{
	// peers: everything, sttfast's own workloads included, so one run feeds both reports.
	"peers": {name: "peers",
		contenders: []string{"sttfast", "sttfast-9000", "sttfast-ws", "sttfast-fs", "sttfast-cli", "sttfast-batch", "quic-go", "kcp-go", "srt", "udp-ceiling", "tcp-ceiling", "aes-ceiling"},
		workloads:  []string{"bulk", "msg1200", "msg64", "rtt", "fanout", "fanout10", "fanout1000", "seal", "open", "handshake", "idle", "bulk10s"}},
	// stt: the numbers of issue 3, and issue 16's handshake rate with forward secrecy beside them.
	"stt": {name: "stt",
		contenders: []string{"sttfast", "sttfast-fs"},
		workloads:  []string{"bulk", "msg64", "rtt", "handshake", "idle", "bulk10s"}},
	// jitter: issue 10, a 64 MiB transfer through a delay line with and without jitter.
	"jitter": {name: "jitter",
		contenders: []string{"sttfast", "sttfast-bbr", "quic-go"},
		workloads:  []string{"jitter0", "jitter1", "jitter4"}},
	// wsidle: issue 12's idle WebSocket sessions (memory per session), beside UDP's, alone.
	"wsidle": {name: "wsidle",
		contenders: []string{"sttfast-ws", "sttfast"},
		workloads:  []string{"idle"}},
	// netns: issue 10, a 64 MiB transfer between two network namespaces (tbf bottleneck,
	// nftables random loss both ways); needs root. Links in order, so each is made once.
	"netns": {name: "netns",
		contenders: []string{"sttfast", "sttfast-bbr", "quic-go"},
		workloads:  []string{"ns100m0", "ns100m5", "ns100m20", "ns1g0", "ns1g5", "ns1g20"}},
}

// budget is how long and how often one workload runs. The defaults keep the peers suite under
// 10 minutes on a 2-core machine: 3 rounds of 1 s warm-up + 3 s window per contender for the
// stream and latency workloads, shorter fan-out and sealing, one 10 s window for the GC count.
type budget struct {
	Warmup, Duration time.Duration
	Rounds           int
	Receivers        int // fan-out width
	Sessions         int // idle sessions
	Concurrency      int // dials in flight
}

func budgetFor(w Workload, quick bool) budget {
	b := budget{Warmup: time.Second, Duration: 3 * time.Second, Rounds: 3, Receivers: 100, Sessions: 10000, Concurrency: 64}
	switch w.Kind {
	case kindFanout:
		b.Warmup, b.Duration = 500*time.Millisecond, 2*time.Second
	case kindSeal:
		b.Warmup, b.Duration = 300*time.Millisecond, time.Second
	case kindFanScale:
		// A second of warm-up: a thousand sessions' congestion windows grow from their start.
		b.Warmup, b.Duration = time.Second, 2*time.Second
	case kindIdle:
		b.Warmup, b.Duration = 0, 0
	case kindTransfer:
		// No warm-up (the transfer is timed from the accepted stream); the window is the limit a
		// crawling transfer gets before it is reported incomplete with its goodput so far.
		b.Warmup, b.Duration = 0, transferLimit
		if w.Net != nil {
			b.Duration = netnsTransferLimit
		}
	}
	if w.Name == "bulk10s" {
		b.Duration, b.Rounds = 10*time.Second, 1
	}
	if quick {
		b.Rounds = 1
		b.Warmup, b.Duration = min(b.Warmup, 300*time.Millisecond), min(b.Duration, time.Second)
		if w.Name == "bulk10s" {
			b.Duration = 2 * time.Second
		}
		b.Receivers, b.Sessions = 10, 1000
		if w.Kind == kindTransfer {
			b.Warmup, b.Duration = 0, 20*time.Second
		}
	}
	return b
}

// runItem is one pair of processes: a contender on a workload in one round.
type runItem struct {
	C     Contender
	W     Workload
	B     budget
	Round int
}

// plan expands the selection into the interleaved run order: for each workload, round after
// round, every contender once (A B C A B C ...), so that a slow minute on a shared machine hits
// every contender rather than one. Consecutive workloads of one Group are interleaved too, round
// by round (fanout10 then fanout1000 in round 1, then both in round 2, ...), because a goal
// compares them with each other.
func plan(cs []Contender, ws []Workload, budgets map[string]budget) []runItem {
	var items []runItem
	for i := 0; i < len(ws); {
		group := ws[i : i+groupLen(ws[i:])]
		rounds := 0
		for _, w := range group {
			rounds = max(rounds, budgets[w.Name].Rounds)
		}
		for r := 1; r <= rounds; r++ {
			for _, w := range group {
				b := budgets[w.Name]
				if r > b.Rounds {
					continue
				}
				for _, c := range cs {
					if c.Supports(w) {
						items = append(items, runItem{C: c, W: w, B: b, Round: r})
					}
				}
			}
		}
		i += len(group)
	}
	return items
}

// groupLen is how many workloads at the start of ws share the first one's Group (1 without one).
func groupLen(ws []Workload) int {
	n := 1
	for ws[0].Group != "" && n < len(ws) && ws[n].Group == ws[0].Group {
		n++
	}
	return n
}

// estimate is the expected wall time of a plan: the windows plus about a second of start-up and
// teardown per pair (more for the idle sessions, which are dialed one by one).
func estimate(items []runItem) time.Duration {
	var d time.Duration
	for _, it := range items {
		d += it.B.Warmup + it.B.Duration + time.Second
		if it.W.Kind == kindIdle {
			d += time.Duration(it.B.Sessions/5000+1) * time.Second
		}
	}
	return d
}

// estimateNote qualifies the estimate of a plan with transfers: they are counted at their limit.
func estimateNote(items []runItem) string {
	for _, it := range items {
		if it.W.Kind == kindTransfer {
			return " at most (each transfer counted at its time limit; most end far sooner)"
		}
	}
	return ""
}

// selectNames filters the suite's names by a comma-separated list (empty: all).
func selectNames(all []string, list string) ([]string, error) {
	if list == "" {
		return all, nil
	}
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty selection %q", list)
	}
	return out, nil
}
