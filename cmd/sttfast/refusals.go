package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// refusalEvery is the least time between two lines about refused handshakes.
const refusalEvery = 10 * time.Second

// refusalLog tells the operator of a listening command (listen, relay, serve) that someone tried
// to connect and was refused: a peer with another seed (a HELLO whose MAC does not match), or
// with our seed but a clock off by more than the window. The first refusal is said at once, in
// the node's words (EventAuthFailed); then at most one line every refusalEvery, with how many
// more were refused since the last line, from the node's exact counters.
type refusalLog struct {
	log   func(format string, a ...any)
	every time.Duration
	now   func() time.Time
	stats func() refusalCounts // the node's counters

	mu       sync.Mutex
	last     time.Time     // when a line was last printed (zero: never)
	said     refusalCounts // the counters as of that line
	latest   string        // the node's description of the latest reported refusal
	reported bool          // latest is already in a line
}

// refusalCounts are the node's refusal counters that a line reports.
type refusalCounts struct {
	seed  uint64 // HELLOs with another seed's MAC, AUTH_PROOFs that do not answer our challenge
	clock uint64 // HELLOs with our seed but outside the clock window
}

func (c refusalCounts) total() uint64 { return c.seed + c.clock }

func countsOf(st ctrl.NodeStats) refusalCounts {
	return refusalCounts{
		seed:  st.Refused[ctrl.RefusedMAC] + st.Refused[ctrl.RefusedCookie],
		clock: st.Refused[ctrl.RefusedClock],
	}
}

// newRefusalLog returns the reporter; quiet (or a nil log) makes it nil, which reports nothing.
func newRefusalLog(log func(string, ...any), quiet bool) *refusalLog {
	if quiet || log == nil {
		return nil
	}
	return &refusalLog{log: log, every: refusalEvery, now: time.Now}
}

// onEvent is the node's Config.OnEvent (nil-safe: returns nil for a nil reporter).
func (r *refusalLog) onEvent() func(ctrl.Event) {
	if r == nil {
		return nil
	}
	return r.event
}

// watch reads node's counters from now on, and writes the summary lines until the node closes.
func (r *refusalLog) watch(node *ctrl.Node) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.stats = func() refusalCounts { return countsOf(node.Stats()) }
	r.said = r.stats()
	r.mu.Unlock()
	go func() {
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.tick()
			case <-node.Done():
				return
			}
		}
	}()
}

// event handles EventAuthFailed: said at once unless a line was printed within the period.
func (r *refusalLog) event(ev ctrl.Event) {
	if ev.Kind != ctrl.EventAuthFailed {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The node's own summary of what it did not report is redone here from its counters.
	reason, _, _ := strings.Cut(ev.Reason, " (and ")
	r.latest, r.reported = reason, false
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return // the next tick sums it up
	}
	r.last, r.reported = now, true
	// This line reports one refusal; the next tick the ones counted since.
	if ctrl.HandshakeRefusal(ev.Code) == ctrl.RefusedClock {
		r.said.clock++
	} else {
		r.said.seed++
	}
	r.log("%s", reason)
}

// tick prints how many handshakes were refused since the last line, if any and if the last line
// is old enough.
func (r *refusalLog) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats == nil {
		return
	}
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return
	}
	cur := r.stats()
	d := refusalCounts{seed: sub(cur.seed, r.said.seed), clock: sub(cur.clock, r.said.clock)}
	if d.total() == 0 {
		return
	}
	since := "since the last report"
	if !r.last.IsZero() {
		since = fmt.Sprintf("in the last %v", now.Sub(r.last).Round(time.Second))
	}
	line := fmt.Sprintf("refused %d more handshake%s %s", d.total(), plural(d.total()), since)
	switch {
	case d.clock == 0:
		line += " from a peer with another seed"
	case d.seed == 0:
		line += " from a peer whose clock is off (answered with our time)"
	default:
		line += fmt.Sprintf(": %d from a peer with another seed, %d from one whose clock is off", d.seed, d.clock)
	}
	if r.latest != "" && !r.reported {
		line += "; the latest: " + r.latest
		r.reported = true
	}
	r.log("%s", line)
	r.last, r.said = now, cur
}

// sub is a - b, or 0 below (an event counted once too often at the start).
func sub(a, b uint64) uint64 { return a - min(a, b) }

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// nodeEvents is the Config.OnEvent of a listening command: path MTU notices always, refused
// handshakes through refusals unless it is nil (--quiet).
func nodeEvents(stderr io.Writer, refusals *refusalLog) func(ctrl.Event) {
	path, refused := pathNotices(stderr), refusals.onEvent()
	return func(ev ctrl.Event) {
		path(ev)
		if refused != nil {
			refused(ev)
		}
	}
}
