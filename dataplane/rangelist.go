package dataplane

// rangeList is a sorted set of disjoint half-open byte ranges [lo, hi), used for the parts of a
// stream that must be sent again. Its slice only grows, so after warm-up adding and taking ranges
// allocates nothing.
type rangeList struct {
	r []byteRange
}

type byteRange struct{ lo, hi uint64 }

func (l *rangeList) empty() bool { return len(l.r) == 0 }

func (l *rangeList) clear() { l.r = l.r[:0] }

// add inserts [lo, hi), merging with overlapping or touching ranges.
func (l *rangeList) add(lo, hi uint64) {
	if lo >= hi {
		return
	}
	// Find the first range that ends at or after lo.
	i := 0
	for i < len(l.r) && l.r[i].hi < lo {
		i++
	}
	j := i
	for j < len(l.r) && l.r[j].lo <= hi {
		lo = min(lo, l.r[j].lo)
		hi = max(hi, l.r[j].hi)
		j++
	}
	switch {
	case i == j:
		l.r = append(l.r, byteRange{})
		copy(l.r[i+1:], l.r[i:])
		l.r[i] = byteRange{lo, hi}
	default:
		l.r[i] = byteRange{lo, hi}
		n := copy(l.r[i+1:], l.r[j:])
		l.r = l.r[:i+1+n]
	}
}

// first returns the lowest range.
func (l *rangeList) first() (byteRange, bool) {
	if len(l.r) == 0 {
		return byteRange{}, false
	}
	return l.r[0], true
}

// trimBelow drops everything below off (bytes acknowledged since they were lost).
func (l *rangeList) trimBelow(off uint64) {
	i := 0
	for i < len(l.r) && l.r[i].hi <= off {
		i++
	}
	if i > 0 {
		n := copy(l.r, l.r[i:])
		l.r = l.r[:n]
	}
	if len(l.r) > 0 && l.r[0].lo < off {
		l.r[0].lo = off
	}
}

// take removes and returns up to n bytes from the front of the lowest range.
func (l *rangeList) take(n uint64) (lo, hi uint64, ok bool) {
	if len(l.r) == 0 || n == 0 {
		return 0, 0, false
	}
	r := &l.r[0]
	lo = r.lo
	hi = min(r.hi, lo+n)
	r.lo = hi
	if r.lo >= r.hi {
		k := copy(l.r, l.r[1:])
		l.r = l.r[:k]
	}
	return lo, hi, true
}

// remove deletes [lo, hi) from the set: bytes acknowledged after they were queued to be sent
// again (a loss the recovery layer found spurious). A range that holds [lo, hi) strictly inside
// is split in two.
func (l *rangeList) remove(lo, hi uint64) {
	for i := 0; i < len(l.r) && lo < hi; i++ {
		r := l.r[i]
		switch {
		case r.hi <= lo:
			continue
		case r.lo >= hi:
			return
		case lo <= r.lo && hi >= r.hi: // covers it
			l.r = append(l.r[:i], l.r[i+1:]...)
			i--
		case lo <= r.lo: // covers its start
			l.r[i].lo = hi
		case hi >= r.hi: // covers its end
			l.r[i].hi = lo
		default: // strictly inside: split
			l.r = append(l.r, byteRange{})
			copy(l.r[i+2:], l.r[i+1:])
			l.r[i] = byteRange{r.lo, lo}
			l.r[i+1] = byteRange{hi, r.hi}
			return
		}
	}
}
