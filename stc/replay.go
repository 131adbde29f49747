package stc

// ReplayWindowSize is the number of most recent packet numbers the replay window tracks: with h
// the largest number accepted, a number pn is acceptable iff it was not accepted before and
// pn > h-ReplayWindowSize (PROTOCOL.md §4).
const ReplayWindowSize = 2048

// replayBlocks is the ring length in 64-bit blocks. The window spans packet numbers
// [h-2047, h], which touch at most 33 consecutive blocks (h's block and the 32 before it), so a
// ring of 33 blocks holds any window position exactly; the constant modulo compiles to a multiply.
const replayBlocks = ReplayWindowSize/64 + 1

// ReplayWindow is the anti-replay filter of one direction: a sliding bitmap of the last
// ReplayWindowSize packet numbers kept as a ring of 64-bit blocks (as in WireGuard). Check and
// Accept are O(1) (advancing clears at most 33 blocks) and never allocate. The zero value is an
// empty window ready for use. Not safe for concurrent use.
//
// Use: Check(pn) before opening a packet (drop it if false: too old or already seen), Accept(pn)
// only after it authenticated (drop it if false: a duplicate raced in). A forged packet therefore
// never moves the window.
type ReplayWindow struct {
	top    uint64 // largest accepted packet number + 1; 0 while nothing was accepted
	blocks [replayBlocks]uint64
}

// Check reports whether Accept(pn) would succeed now: pn is at most MaxPacketNumber, inside the
// window and not yet accepted. It changes nothing.
func (w *ReplayWindow) Check(pn uint64) bool {
	if pn > MaxPacketNumber {
		return false
	}
	if pn >= w.top {
		return true
	}
	if w.top-1-pn >= ReplayWindowSize {
		return false
	}
	return w.blocks[(pn>>6)%replayBlocks]&(1<<(pn&63)) == 0
}

// Accept records pn as received. It returns false, and changes nothing, if pn is a duplicate,
// too old for the window, or above MaxPacketNumber. A number ahead of the window slides it
// forward, forgetting the numbers that fall out.
func (w *ReplayWindow) Accept(pn uint64) bool {
	if pn > MaxPacketNumber {
		return false
	}
	if pn >= w.top {
		if w.top != 0 {
			old := (w.top - 1) >> 6
			n := (pn >> 6) - old
			if n > replayBlocks {
				n = replayBlocks
			}
			for i := uint64(1); i <= n; i++ {
				w.blocks[(old+i)%replayBlocks] = 0
			}
		}
		w.top = pn + 1
	} else if w.top-1-pn >= ReplayWindowSize {
		return false
	}
	b := &w.blocks[(pn>>6)%replayBlocks]
	m := uint64(1) << (pn & 63)
	if *b&m != 0 {
		return false
	}
	*b |= m
	return true
}

// Largest returns the largest accepted packet number, the reference for decoding truncated packet
// numbers (RFC 9000 Appendix A.3); ok is false while nothing was accepted.
func (w *ReplayWindow) Largest() (pn uint64, ok bool) {
	if w.top == 0 {
		return 0, false
	}
	return w.top - 1, true
}

// Reset empties the window.
func (w *ReplayWindow) Reset() { *w = ReplayWindow{} }
