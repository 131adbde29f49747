package frame

// Range is an inclusive interval of packet numbers, Lo ≤ Hi.
type Range struct{ Lo, Hi uint64 }

// Ack is the body of a parsed ACK or NACK frame. Its ranges were fully validated by
// ParseFrame and stay encoded in the packet buffer, so an Ack is valid only as long as that
// buffer: Ranges decodes them again on demand, which costs less than copying them out and
// needs no storage.
type Ack struct {
	Largest uint64 // ACK: the largest packet number acknowledged
	Delay   uint64 // ACK: microseconds between receiving Largest and sending the ACK

	raw  []byte // ACK: first range, then gap/length pairs; NACK: first/count pairs
	n    int    // ranges encoded in raw
	nack bool
}

// Len returns the number of ranges.
func (a *Ack) Len() int { return a.n }

// Ranges returns an iterator over the ranges: from the highest down for an ACK, in wire order
// for a NACK.
func (a *Ack) Ranges() RangeIter {
	return RangeIter{raw: a.raw, left: a.n, lo: a.Largest, nack: a.nack}
}

// RangeIter iterates over the ranges of an Ack without allocating.
type RangeIter struct {
	raw     []byte
	i       int
	left    int
	lo      uint64 // ACK: lowest packet of the previous range; Largest before the first
	started bool
	nack    bool
}

// Next returns the next range, or false when there are none left.
func (it *RangeIter) Next() (Range, bool) {
	if it.left <= 0 {
		return Range{}, false
	}
	it.left--
	if it.nack {
		first, count := it.varint(), it.varint()
		return Range{Lo: first, Hi: first + count - 1}, true
	}
	hi := it.lo
	if it.started {
		hi = it.lo - it.varint() - 2
	}
	it.started = true
	it.lo = hi - it.varint()
	return Range{Lo: it.lo, Hi: hi}, true
}

// varint reads a varint that ParseFrame already validated.
func (it *RangeIter) varint() uint64 {
	v, i := varintAt(it.raw, it.i)
	it.i = i
	return v
}

// parseAck reads an ACK (RFC 9000 §19.3.1 ranges) and checks that no range reaches below
// packet 0, so that iterating the ranges later needs no checks.
func parseAck(b []byte, i int, a *Ack) int {
	var count, first uint64
	a.Largest, i = varintAt(b, i)
	a.Delay, i = varintAt(b, i)
	count, i = varintAt(b, i)
	if count > MaxAckRanges {
		return fail(i, failBadAck)
	}
	start := i
	first, i = varintAt(b, i)
	lo, ok := below(a.Largest, first, 0)
	for range count {
		var gap, length, hi uint64
		gap, i = varintAt(b, i)
		length, i = varintAt(b, i)
		hi, ok = below(lo, gap, 2)
		if ok {
			lo, ok = below(hi, length, 0)
		}
		if !ok || i < 0 {
			break
		}
	}
	if !ok {
		return fail(i, failBadAck)
	}
	if i >= 0 {
		a.raw, a.n, a.nack = b[start:i:i], int(count)+1, false
	}
	return i
}

// below returns x − d − k if that is not negative.
func below(x, d, k uint64) (uint64, bool) {
	if x < d+k { // d ≤ MaxVarint, so d+k cannot overflow
		return 0, false
	}
	return x - d - k, true
}

// parseNack reads a NACK: 1 to MaxNackRanges non-empty ranges, each within 0..MaxVarint.
func parseNack(b []byte, i int, a *Ack) int {
	count, i := varintAt(b, i)
	if count == 0 || count > MaxNackRanges {
		return fail(i, failBadAck)
	}
	start := i
	for range count {
		var first, n uint64
		first, i = varintAt(b, i)
		n, i = varintAt(b, i)
		if i < 0 {
			return i
		}
		if n == 0 || n-1 > MaxVarint-first {
			return failBadAck
		}
	}
	a.Largest, a.Delay = 0, 0
	a.raw, a.n, a.nack = b[start:i:i], int(count), true
	return i
}

// AppendAck appends an ACK of ranges, which must be sorted from the highest down, disjoint
// and non-adjacent (at least one missing packet between two ranges); delay is in
// microseconds. It keeps the highest ranges that fit in maxLen bytes and MaxAckRanges, and
// returns b unchanged if ranges is empty or even the first range does not fit. It panics on
// ranges that break the order it requires.
func AppendAck(b []byte, ranges []Range, delay uint64, maxLen int) []byte {
	if len(ranges) == 0 {
		return b
	}
	first := ranges[0]
	if first.Lo > first.Hi || first.Hi > MaxVarint {
		panic("frame: AppendAck: range with Lo > Hi or above 2^62-1")
	}
	size := 1 + VarintLen(first.Hi) + VarintLen(delay) + VarintLen(first.Hi-first.Lo)
	k := ackRangesThatFit(ranges, maxLen-size)
	if k < 0 {
		return b
	}
	b = append(b, byte(TypeAck))
	b = AppendVarint(b, first.Hi)
	b = AppendVarint(b, delay)
	b = AppendVarint(b, uint64(k))
	b = AppendVarint(b, first.Hi-first.Lo)
	lo := first.Lo
	for _, r := range ranges[1 : k+1] {
		b = AppendVarint(b, lo-r.Hi-2)
		b = AppendVarint(b, r.Hi-r.Lo)
		lo = r.Lo
	}
	return b
}

// ackRangesThatFit returns how many ranges after the first fit in room bytes along with the
// range count, or -1 if not even a count of zero does.
func ackRangesThatFit(ranges []Range, room int) int {
	if room < 1 {
		return -1
	}
	k, size := 0, 0
	lo := ranges[0].Lo
	for _, r := range ranges[1:min(len(ranges), MaxAckRanges+1)] {
		if r.Lo > r.Hi || r.Hi+2 > lo {
			panic("frame: AppendAck: ranges not descending, disjoint and non-adjacent")
		}
		size += VarintLen(lo-r.Hi-2) + VarintLen(r.Hi-r.Lo)
		if VarintLen(uint64(k+1))+size > room {
			break
		}
		k++
		lo = r.Lo
	}
	return k
}

// AppendNack appends a NACK naming the missing packets of ranges, in the given order. Only
// the first MaxNackRanges ranges are sent; b is returned unchanged if ranges is empty. It
// panics on a range with Lo > Hi or above MaxVarint.
func AppendNack(b []byte, ranges []Range) []byte {
	if len(ranges) == 0 {
		return b
	}
	ranges = ranges[:min(len(ranges), MaxNackRanges)]
	b = append(b, byte(TypeNack))
	b = AppendVarint(b, uint64(len(ranges)))
	for _, r := range ranges {
		if r.Lo > r.Hi || r.Hi > MaxVarint {
			panic("frame: AppendNack: range with Lo > Hi or above 2^62-1")
		}
		b = AppendVarint(b, r.Lo)
		b = AppendVarint(b, r.Hi-r.Lo+1)
	}
	return b
}
