package peerbench

import (
	"math"
	"sort"
)

// stat summarises one number over the rounds of a (workload, contender) pair.
type stat struct {
	N             int
	Med, Min, Max float64
	Errors        int
}

// collect returns the successful samples of a pair, and how many failed.
func collect(samples []*Sample, workload, contender string) (ok []*Sample, failed int) {
	for _, s := range samples {
		if s.Workload != workload || s.Contender != contender {
			continue
		}
		if s.OK() {
			ok = append(ok, s)
		} else {
			failed++
		}
	}
	return ok, failed
}

// summarize takes the median, min and max of f over the samples.
func summarize(ss []*Sample, f func(*Sample) float64) stat {
	st := stat{N: len(ss)}
	if len(ss) == 0 {
		return st
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	sort.Float64s(v)
	st.Min, st.Max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		st.Med = v[len(v)/2]
	} else {
		st.Med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return st
}

// advantage is how many times better a is than b in the workload's direction (>1: a better).
func advantage(a, b float64, higher bool) float64 {
	if a <= 0 || b <= 0 {
		return math.NaN()
	}
	if higher {
		return a / b
	}
	return b / a
}
