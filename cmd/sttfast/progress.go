package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// progress shows a dial's transfer on stderr: bytes, rate, and the ETA when the total is known
// (stdin a regular file). It updates twice a second on a terminal, once a second otherwise.
type progress struct {
	out     *readout
	total   int64 // -1: unknown
	count   *atomic.Uint64
	start   time.Time
	stop    chan struct{}
	stopped chan struct{}
}

// startProgress starts the display goroutine unless enabled is false (then every method is a
// no-op).
func startProgress(w io.Writer, enabled bool, total int64, count *atomic.Uint64) *progress {
	p := &progress{out: newReadout(w, !enabled), total: total, count: count, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if !enabled {
		close(p.stopped)
		return p
	}
	go p.loop()
	return p
}

// loop redraws the line until finish.
func (p *progress) loop() {
	defer close(p.stopped)
	every := time.Second
	if p.out.tty {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastN uint64
	lastT := p.start
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			n := p.count.Load()
			rate := float64(n-lastN) / now.Sub(lastT).Seconds()
			lastN, lastT = n, now
			p.out.line(p.format(n, rate, now.Sub(p.start)))
		}
	}
}

// format renders one status line.
func (p *progress) format(n uint64, rate float64, elapsed time.Duration) string {
	s := fmt.Sprintf("sent %s", humanBytes(n))
	if p.total >= 0 {
		pct := 100.0
		if p.total > 0 {
			pct = 100 * float64(n) / float64(p.total)
		}
		s += fmt.Sprintf(" of %s (%.0f%%)", humanBytes(uint64(p.total)), pct)
	}
	s += fmt.Sprintf("  %s  %s", humanRate(rate), elapsed.Truncate(time.Second))
	if p.total > 0 && rate > 0 && int64(n) < p.total {
		eta := time.Duration(float64(p.total-int64(n)) / rate * float64(time.Second))
		s += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
	}
	return s
}

// finish stops the display and prints the final tally with the given verb ("sent", "stopped").
func (p *progress) finish(verb string) {
	select {
	case <-p.stopped:
		if p.out.quiet {
			return
		}
	default:
		close(p.stop)
		<-p.stopped
	}
	n := p.count.Load()
	el := time.Since(p.start)
	p.out.line(fmt.Sprintf("%s %s in %s (%s)", verb, humanBytes(n), el.Round(time.Millisecond), humanRate(float64(n)/el.Seconds())))
	p.out.done()
}
