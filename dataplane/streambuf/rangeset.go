package streambuf

// span is a half-open byte range [lo, hi) of absolute stream offsets.
type span struct{ lo, hi uint64 }

// spanSet is a sorted set of disjoint, non-touching spans (touching spans are merged, so
// [0,5) and [5,9) are stored as [0,9)). It backs the out-of-order acknowledgements of a
// SendBuffer and the out-of-order received ranges of a RecvBuffer. Its slice only grows (the
// callers bound its length), so after the first few uses adding and removing allocate nothing.
// It is touched by the transport side only.
type spanSet struct{ s []span }

// search returns the index of the first span with hi >= x: the first span that overlaps or
// touches anything starting at x. Spans are disjoint and sorted, so their his are sorted too.
func (r *spanSet) search(x uint64) int {
	lo, hi := 0, len(r.s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.s[m].hi < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// touching returns [i, j): the spans that overlap or touch [lo, hi).
func (r *spanSet) touching(lo, hi uint64) (i, j int) {
	i = r.search(lo)
	j = i
	for j < len(r.s) && r.s[j].lo <= hi {
		j++
	}
	return i, j
}

// replace merges [lo, hi) with spans [i, j) (as returned by touching) into one span.
func (r *spanSet) replace(i, j int, lo, hi uint64) {
	if i == j {
		r.s = append(r.s, span{})
		copy(r.s[i+1:], r.s[i:])
		r.s[i] = span{lo, hi}
		return
	}
	r.s[i] = span{min(lo, r.s[i].lo), max(hi, r.s[j-1].hi)}
	n := copy(r.s[i+1:], r.s[j:])
	r.s = r.s[:i+1+n]
}

// popPrefix removes the spans that start at or below p (they touch the prefix [.., p)) and
// returns the extended prefix end.
func (r *spanSet) popPrefix(p uint64) uint64 {
	k := 0
	for k < len(r.s) && r.s[k].lo <= p {
		p = max(p, r.s[k].hi)
		k++
	}
	if k > 0 {
		n := copy(r.s, r.s[k:])
		r.s = r.s[:n]
	}
	return p
}

// covers reports whether one span contains all of [lo, hi) (lo < hi).
func (r *spanSet) covers(lo, hi uint64) bool {
	i := r.search(hi)
	return i < len(r.s) && r.s[i].lo <= lo
}

func (r *spanSet) reset() { r.s = r.s[:0] }
