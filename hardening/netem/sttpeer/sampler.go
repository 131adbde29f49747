package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// rttDist summarises the smoothed RTT sampled while data was in flight ("under load").
type rttDist struct {
	N        int     `json:"n"`
	MedianMs float64 `json:"median_ms"`
	P95Ms    float64 `json:"p95_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// sampler polls a session's stats on a ticker.
type sampler struct {
	stop_ chan struct{}
	done  chan rttDist
}

// startSampler samples s every interval until stop; with trace it prints each sample on stderr
// (elapsed ms, stream bytes sent, bytes in flight, window, srtt µs, packets lost, bytes
// retransmitted), which shows stalls and window collapses when a transfer is slow.
func startSampler(s *ctrl.Session, interval time.Duration, trace bool) *sampler {
	sm := &sampler{stop_: make(chan struct{}), done: make(chan rttDist, 1)}
	go func() {
		var srtt []float64
		t := time.NewTicker(interval)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-sm.stop_:
				sm.done <- summarise(srtt)
				return
			case <-t.C:
			}
			st := s.Stats()
			// MinRTT is 0 until the first RTT sample: before it SmoothedRTT is the 100 ms guess.
			if st.BytesInFlight > 0 && st.MinRTT > 0 {
				srtt = append(srtt, float64(st.SmoothedRTT)/1e6)
			}
			if st.MinRTT > 0 {
				lastSRTT.Store(st.SmoothedRTT) // for the next "path" event (send --paths)
			}
			if trace {
				fmt.Fprintf(os.Stderr, "trace %6d ms sent=%d inflight=%d window=%d srtt=%dus lost=%d retx=%d\n",
					time.Since(start).Milliseconds(), st.StreamBytesSent, st.BytesInFlight, st.Window,
					st.SmoothedRTT/1e3, st.PacketsLost, st.RetransmittedBytes)
			}
		}
	}()
	return sm
}

// stop ends sampling and returns the distribution.
func (sm *sampler) stop() rttDist {
	close(sm.stop_)
	return <-sm.done
}

// summarise computes the median, 95th percentile and maximum of v (nearest rank).
func summarise(v []float64) rttDist {
	if len(v) == 0 {
		return rttDist{}
	}
	slices.Sort(v)
	rank := func(p float64) float64 {
		i := int(p*float64(len(v))+0.5) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	return rttDist{N: len(v), MedianMs: rank(0.5), P95Ms: rank(0.95), MaxMs: v[len(v)-1]}
}
