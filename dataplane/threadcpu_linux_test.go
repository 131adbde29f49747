package dataplane

import "golang.org/x/sys/unix"

// threadCPU sums the CPU time of the calling OS thread (the caller locks it) over start/stop
// intervals, so a benchmark can report work rather than wall time on a shared machine.
type threadCPU struct {
	ok    bool
	t0    int64
	total int64
}

func threadNow() (int64, bool) {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0, false
	}
	return ts.Nano(), true
}

func (c *threadCPU) start() { c.t0, c.ok = threadNow() }

func (c *threadCPU) stop() {
	if t, ok := threadNow(); ok && c.ok {
		c.total += t - c.t0
	}
}

func (c *threadCPU) reset() { c.total = 0 }
