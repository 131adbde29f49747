package peerbench

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// Issue 12 asks what idle sessions cost over the WebSocket path: 10 000 of them, with the Go
// heap per session reported against a goal of 8 KiB (the kernel's socket buffers are not Go
// heap, and RSS is shown beside it). The idle workload measures it for sttfast-ws exactly as
// for sttfast over UDP (sttonly.go): the listener process's heap in use after a full
// collection, before the dialer starts and once every session is established and quiet,
// divided by the sessions. Over ws every session is also a TCP connection, and so a file
// descriptor in each process; the suite "wsidle" runs only this row, beside UDP's.

// wsIdleGoal is issue 12's bound on the listener's Go heap per idle WebSocket session.
const wsIdleGoal = 8 << 10

// contenderGoals are absolute targets of one contender, shown in the peers report's goals table
// beside the ratio goals.
var contenderGoals = []struct {
	contender string
	g         goal
}{
	{"sttfast-ws", goal{"idle sessions, listener heap per session", "idle", "<= 8 KiB",
		func(s *Sample) float64 { return s.Value },
		func(v float64) bool { return v <= wsIdleGoal }, func(v float64) string { return fmt.Sprintf("%.0f B", v) }}},
}

// contenderGoalRows writes the rows of contenderGoals that the run measured, and returns how many.
func contenderGoalRows(w io.Writer, rep *runReport, header func()) int {
	rows := 0
	for _, cg := range contenderGoals {
		ok, _ := collect(rep.Samples, cg.g.workload, cg.contender)
		st := summarize(ok, cg.g.f)
		if st.N == 0 {
			continue
		}
		header()
		rows++
		met := "yes"
		if !cg.g.met(st.Med) {
			met = "**no**"
		}
		what := cg.g.metric
		if b, ok := rep.Budgets[cg.g.workload]; ok && cg.g.workload == "idle" {
			what = fmt.Sprintf("%d %s", b.Sessions, what)
		}
		fmt.Fprintf(w, "| %s %s %s | %s | %s |\n", cg.contender, what, cg.g.target, cg.g.format(st.Med), met)
	}
	return rows
}

// tuneIdleWSListener makes the idle listener listen on ws:// with room for n connections.
func tuneIdleWSListener(c *ctrl.Config, e *Env, n int) {
	c.Addr = "ws://" + e.O.bindAddr() + sttWSPath
	c.WebSocket.MaxConns = n + 64
}

// tuneIdleWSDialer keeps the dialing node's n engines small: each dialed WebSocket session runs
// an engine of its own over its own connection (ctrl's design for a client, which dials one),
// so its batch buffers, read queue and outbound budget are cut to what an idle session needs.
// The listener, the side measured, keeps the defaults.
//
// The dialer's sessions also keep alive less often (IdleTimeout 5 min, a KEEP_ALIVE every
// 100 s instead of 10 s), so none falls in the seconds this workload lasts. With thousands of
// engines in one process on 2 cores, a round of keep-alives from all of them at once is answered
// later than their probe timeouts, whose probes then pile onto the machine until dialing
// crawls (measured: 2000 dialed sessions saturate both cores from the second round on). Ten
// thousand clients are ten thousand processes in use; the listener keeps its defaults, so its
// own keep-alives (and the dialers' ACKs) still run.
func tuneIdleWSDialer(c *ctrl.Config, n int) {
	c.MaxSessions = n + 64
	c.HandshakeTimeout = time.Minute // a hang guard: n connections and handshakes on 2 cores
	c.WebSocket = wspath.Config{MaxMessage: 16 << 10, ReadQueueBytes: 32 << 10, OutboundBudget: 64 << 10}
	c.Transport = dataplane.Config{BatchSize: 2, IdleTimeout: 5 * time.Minute}
}

// raiseFileLimit raises this process's RLIMIT_NOFILE to at least need descriptors (one per TCP
// connection, plus the process's own): the soft limit up to the hard one, and the hard one too
// where the process may (root). It returns the limit in force, and an error when that is below
// need.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max} // not root: as far as the hard limit
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, fmt.Errorf("RLIMIT_NOFILE %d: cannot raise it: %w", lim.Cur, err)
		}
	}
	if want.Cur < need {
		return want.Cur, fmt.Errorf("RLIMIT_NOFILE is %d (hard limit) and %d WebSocket sessions need %d descriptors: %w",
			want.Cur, need-fileLimitSlack, need, errors.ErrUnsupported)
	}
	return want.Cur, nil
}

// fileLimitSlack is what a process needs beyond one descriptor per connection (listeners,
// wakers, epoll, the pipes to the orchestrator).
const fileLimitSlack = 256

// wsIdleFiles raises the limit for n connections and records it, or says why it cannot.
func wsIdleFiles(e *Env, n int) error {
	lim, err := raiseFileLimit(uint64(n) + fileLimitSlack)
	e.Info("rlimit_nofile", strconv.FormatUint(lim, 10))
	return err
}

// writeWSIdleMarkdown is the report of the wsidle suite: idle memory per session for each
// contender run (sttfast-ws, and sttfast over UDP for comparison), and issue 12's goal.
func writeWSIdleMarkdown(w io.Writer, rep *runReport, jsonName string) error {
	writeHeader(w, rep, "Idle sessions over WebSocket (issue 12), "+rep.Started.Format("2006-01-02"), jsonName)
	b := rep.Budgets["idle"]
	fmt.Fprintf(w, "%s. The listener process holds %d sessions dialed from another process (%d dials in flight); "+
		"heap is HeapInuse after - before, divided by the sessions, each after runtime.GC and debug.FreeOSMemory, "+
		"2 s after the last handshake; RSS likewise (the kernel's socket buffers are in neither). The handshake "+
		"replay caches' entries for these sessions are counted. Over ws every session is also a TCP connection "+
		"(the listener's gnet connection and wspath's state), and the dialing node runs one engine per session.\n\n",
		plural(b.Rounds, "round"), b.Sessions, b.Concurrency)
	fmt.Fprint(w, "| contender | listener heap / session | min - max | listener RSS / session | dialer heap / session | handshakes/s while dialing | runs | goal (heap) | met |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range rep.contenders {
		ok, failed := collect(rep.Samples, "idle", c.Name())
		st := summarize(ok, func(s *Sample) float64 { return s.Value })
		if st.N == 0 {
			fmt.Fprintf(w, "| %s | not measured | - | - | - | - | %s | - | - |\n", c.Name(), runsCell(0, failed))
			continue
		}
		rss := summarize(ok, func(s *Sample) float64 { return s.RSSPerSession })
		dial := summarize(ok, func(s *Sample) float64 { return sendIdle(s).HeapPerSession })
		hs := summarize(ok, func(s *Sample) float64 { return sendIdle(s).HandshakesPerSec })
		goal, met := "-", "-"
		if c.Name() == "sttfast-ws" {
			goal, met = "<= 8 KiB", "yes"
			if st.Med > wsIdleGoal {
				met = "**no**"
			}
		}
		fmt.Fprintf(w, "| %s | **%.0f B** | %.0f - %.0f B | %.0f B | %.0f B | %.0f | %s | %s | %s |\n",
			c.Name(), st.Med, st.Min, st.Max, rss.Med, dial.Med, hs.Med, runsCell(st.N, failed), goal, met)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "## Configurations\n\n")
	for _, c := range rep.contenders {
		fmt.Fprintf(w, "- **%s** (%s): %s\n", c.Name(), c.Class(), c.Describe())
	}
	fmt.Fprintln(w)
	infoSection(w, rep)
	errorSection(w, rep)
	return nil
}

// sendIdle is the dialer's idle numbers of a sample (zero when it has none).
func sendIdle(s *Sample) IdleStats {
	if s.Send == nil || s.Send.Idle == nil {
		return IdleStats{}
	}
	return *s.Send.Idle
}

// wsDialerMemSnapshot reads the ws idle dialer's memory without the full collection and release
// that takeMemSnapshot does: over gigabytes of engines on a busy machine those outlast the
// harness's 15 s between STOP and RESULT. Its heap then includes what the dials left as garbage
// (the collector was off while dialing), so it is an upper bound, and says so.
func wsDialerMemSnapshot(e *Env) memSnapshot {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.Info("note", "dialer heap read without a full collection (garbage of the dials included: an upper bound)")
	return memSnapshot{HeapInuse: ms.HeapInuse, RSS: rssBytes(), Goroutines: runtime.NumGoroutine()}
}
