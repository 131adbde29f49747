package attack

import (
	"context"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// MemReport is the listener's resident memory around an attack, from /proc/PID/status.
type MemReport struct {
	BeforeRSS uint64 `json:"before_rss"`
	PeakRSS   uint64 `json:"peak_rss"` // largest sample during the attack and until it settled
	AfterRSS  uint64 `json:"after_rss"`
	AfterHWM  uint64 `json:"after_hwm"` // the kernel's peak RSS since the process started
	Samples   int    `json:"samples"`
}

// memReport ends the RSS sampling and reports the listener's memory from before the attack
// (p0) to after it settled (p1).
func memReport(p0, p1 ProcSample, rss *rssSampler) MemReport {
	m := MemReport{BeforeRSS: p0.RSS, AfterRSS: p1.RSS, AfterHWM: p1.HWM}
	m.PeakRSS, m.Samples = rss.finish()
	m.PeakRSS = max(m.PeakRSS, p1.RSS)
	return m
}

// Growth is how far RSS rose above its level before the attack.
func (m MemReport) Growth() uint64 {
	if m.PeakRSS < m.BeforeRSS {
		return 0
	}
	return m.PeakRSS - m.BeforeRSS
}

// rssSampler reads a process's RSS periodically and keeps the peak.
type rssSampler struct {
	pid  int
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
	n    int
}

// sampleRSS starts sampling pid every period (pid 0: nothing is sampled).
func sampleRSS(pid int, period time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{})}
	if pid == 0 {
		return s
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if p, err := ReadProc(pid); err == nil {
				s.peak = max(s.peak, p.RSS)
				s.n++
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak and the number of samples.
func (s *rssSampler) finish() (uint64, int) {
	close(s.stop)
	s.wg.Wait()
	return s.peak, s.n
}

// Settle waits until the listener has finished with what it was sent: its datagram counter
// stops moving across two reads period apart (bounded by ctx). It returns the final counters.
func Settle(ctx context.Context, a *Admin, period time.Duration) (Counters, error) {
	prev, err := a.Counters(ctx)
	if err != nil {
		return prev, err
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-t.C:
		}
		c, err := a.Counters(ctx)
		if err != nil {
			return c, err
		}
		if c.RxDatagrams == prev.RxDatagrams && c.DropsTotal() == prev.DropsTotal() && c.RefusedTotal() == prev.RefusedTotal() {
			return c, nil
		}
		prev = c
	}
}

// Durations summarises a set of measurements (dial latencies).
type Durations struct {
	N      int     `json:"n"`
	MinMs  float64 `json:"min_ms"`
	MedMs  float64 `json:"median_ms"`
	P90Ms  float64 `json:"p90_ms"`
	MaxMs  float64 `json:"max_ms"`
	AllMs  []int64 `json:"all_ms"`
	Failed int     `json:"failed"`
}

// summarize computes the quantiles of ds.
func summarize(ds []time.Duration, failed int) Durations {
	out := Durations{N: len(ds), Failed: failed}
	if len(ds) == 0 {
		return out
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	out.MinMs, out.MaxMs = ms(s[0]), ms(s[len(s)-1])
	out.MedMs = ms(s[len(s)/2])
	out.P90Ms = ms(s[min(len(s)-1, len(s)*9/10)])
	for _, d := range ds {
		out.AllMs = append(out.AllMs, d.Milliseconds())
	}
	return out
}

// Target describes the listener under attack.
type Target struct {
	Addr  netip.AddrPort // its UDP address
	Admin *Admin         // its admin endpoint
	PID   int            // its process id, for /proc measurements (0: none)
}

// URL is the address as Dial takes it.
func (t *Target) URL() string { return "udp://" + t.Addr.String() }

// kernelDrops reads the socket drop counter of the target (0, false without a PID).
func (t *Target) kernelDrops() (uint64, bool) {
	if t.PID == 0 {
		return 0, false
	}
	d, ok, err := SocketDrops(t.PID, t.Addr.Port())
	return d, ok && err == nil
}

// procSample reads the target's /proc entries (zero without a PID).
func (t *Target) procSample() ProcSample {
	if t.PID == 0 {
		return ProcSample{}
	}
	p, _ := ReadProc(t.PID)
	return p
}
