package dataplane

import "github.com/sttfast/sttfast/dataplane/recovery"

// timerHeap orders sessions by their next deadline so the TX loop arms a single timer for all of
// them. It is intrusive (each session stores its index), owned by the TX loop, and allocates only
// when it grows past its largest size so far.
type timerHeap struct {
	s []*Session
}

func (h *timerHeap) len() int { return len(h.s) }

// min returns the earliest deadline, or 0 when the heap is empty.
func (h *timerHeap) min() recovery.Time {
	if len(h.s) == 0 {
		return 0
	}
	return h.s[0].deadline
}

func (h *timerHeap) peek() *Session { return h.s[0] }

// set puts s in the heap at deadline d, moves it, or removes it when d is 0.
func (h *timerHeap) set(s *Session, d recovery.Time) {
	if d == 0 {
		h.remove(s)
		return
	}
	s.deadline = d
	if s.heapIdx < 0 {
		s.heapIdx = len(h.s)
		h.s = append(h.s, s)
		h.up(s.heapIdx)
		return
	}
	if !h.up(s.heapIdx) {
		h.down(s.heapIdx)
	}
}

func (h *timerHeap) remove(s *Session) {
	i := s.heapIdx
	if i < 0 {
		return
	}
	last := len(h.s) - 1
	if i != last {
		h.swap(i, last)
	}
	h.s[last] = nil
	h.s = h.s[:last]
	s.heapIdx = -1
	s.deadline = 0
	if i < last {
		if !h.up(i) {
			h.down(i)
		}
	}
}

func (h *timerHeap) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].heapIdx = i
	h.s[j].heapIdx = j
}

func (h *timerHeap) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if h.s[p].deadline <= h.s[i].deadline {
			break
		}
		h.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (h *timerHeap) down(i int) {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.s[r].deadline < h.s[l].deadline {
			m = r
		}
		if h.s[i].deadline <= h.s[m].deadline {
			return
		}
		h.swap(i, m)
		i = m
	}
}
