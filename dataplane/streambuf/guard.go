package streambuf

import (
	"runtime"
	"sync/atomic"
)

// guard is the one word of shared state that makes two things safe which the offset protocol
// alone cannot: giving back the partly used chunk of an idle buffer, and Release while a side is
// still inside the buffer. Bits:
//
//	gApp      the application side (SendBuffer producer / RecvBuffer reader) is inside a call
//	gNet      the transport side is inside RecvBuffer.Insert
//	gBusy     someone is reclaiming the idle chunk (a few loads, one Swap, one pool Put)
//	gReleased Release was called: nobody may enter any more
//	gHold     an application caller that serializes itself with a lock of its own (the stream's)
//	          holds the application side, between and across its calls: a caller entering alone
//	          (tryAlone) stays out. It does not count as inside (reclaim and Release ignore it).
//
// All operations on the word are sequentially consistent (Go atomics), which the "nobody misses
// the idle reclaim" argument in reclaim below relies on.
type guard struct{ s atomic.Uint32 }

const (
	gApp      uint32 = 1
	gNet      uint32 = 2
	gBusy     uint32 = 4
	gReleased uint32 = 8
	gHold     uint32 = 16
	gActive          = gApp | gNet
)

// enter marks side (gApp or gNet) as inside the buffer. It fails once the buffer is released.
// While another side holds gBusy it yields and retries: that critical section is a handful of
// instructions with no blocking call, so the wait is bounded and short, and it happens only when
// a buffer goes idle and is touched again at the same instant.
func (g *guard) enter(side uint32) bool {
	// For the transport, nobody else inside is the common case: one compare-and-swap from 0
	// takes the word's cache line for writing at once, where a load first would fetch it shared
	// and then again to write it. An application call that is not alone comes from a holder
	// (gHold set, the line its own): a load and one compare-and-swap, not a failed one first.
	if side == gNet && g.s.CompareAndSwap(0, side) {
		return true
	}
	for {
		s := g.s.Load()
		if s&gReleased != 0 {
			return false
		}
		if s&gBusy != 0 {
			runtime.Gosched()
			continue
		}
		if g.s.CompareAndSwap(s, s|side) {
			return true
		}
	}
}

// tryAlone enters the application side for a caller that holds no lock of its own, excluding
// every other application caller: it fails, without waiting, while another is inside (gApp) or
// holds the side (gHold), while a reclaim runs and once the buffer is released. One
// compare-and-swap takes both the exclusion a stream lock gave and the guard's enter, so a
// small message's call pays one locked instruction where a lock and an enter paid two.
func (g *guard) tryAlone() bool {
	if g.s.CompareAndSwap(0, gApp) {
		return true
	}
	s := g.s.Load()
	return s&(gApp|gHold|gBusy|gReleased) == 0 && g.s.CompareAndSwap(s, s|gApp)
}

// hold marks the application side held by a caller already serialized with the other holders
// (the stream's lock), waiting out a caller that entered alone; that caller's calls are short
// and never block, so the wait is bounded. The holder's own calls still enter and exit.
func (g *guard) hold() {
	for {
		s := g.s.Load()
		if s&gApp != 0 {
			runtime.Gosched()
			continue
		}
		if g.s.CompareAndSwap(s, s|gHold) {
			return
		}
	}
}

// tryHold is hold that gives up instead of waiting. It fails only on a load that saw gApp or
// gHold: a caller that asked the holder-to-be for something before trying (a stream's reserve)
// can count on the one inside to see the request after it leaves.
func (g *guard) tryHold() bool {
	for {
		s := g.s.Load()
		if s&(gApp|gHold) != 0 {
			return false
		}
		if g.s.CompareAndSwap(s, s|gHold) {
			return true
		}
	}
}

// unhold ends a hold.
func (g *guard) unhold() { g.s.Add(^(gHold - 1)) }

// exit clears side and reports whether the caller must free every chunk: Release happened while
// the caller was inside and no other side is inside any more (the last one out frees).
func (g *guard) exit(side uint32) (freeAll bool) {
	s := g.s.Add(^(side - 1)) // subtract side
	return s&gReleased != 0 && s&gActive == 0
}

// release marks the buffer released and reports whether the caller must free every chunk now
// (nobody is inside). If someone is inside, its exit frees them. Exactly one of the two frees:
// the exits that see gReleased are those that were inside when Or ran, and Or saw them.
func (g *guard) release() (freeNow bool) {
	old := g.s.Or(gReleased)
	return old&gReleased == 0 && old&gActive == 0
}

// tryBusy takes the reclaim right. It succeeds only when nobody is inside, nobody else is
// reclaiming and the buffer is not released (a hold alone does not stop it: a holder between
// calls touches no chunk); entering sides then wait until endBusy. It fails only on a load or
// compare-and-swap that saw another bit set, which the argument below relies on.
func (g *guard) tryBusy() bool {
	if g.s.CompareAndSwap(0, gBusy) {
		return true
	}
	for {
		s := g.s.Load()
		if s&^gHold != 0 {
			return false
		}
		if g.s.CompareAndSwap(s, s|gBusy) {
			return true
		}
	}
}

func (g *guard) endBusy() { g.s.Add(^(gBusy - 1)) }

// lockOut takes gBusy as tryBusy does, but waits (yielding) while a side is inside instead of
// giving up, because a window that grows must swap the chunk table under it. It is called only
// by a side that is not inside itself (a holder may call it: a hold is not inside); the sides' calls are short and never block, so the wait
// is bounded. It fails once the buffer is released.
func (g *guard) lockOut() bool {
	for {
		s := g.s.Load()
		if s&gReleased != 0 {
			return false
		}
		if s&^gHold == 0 && g.s.CompareAndSwap(s, s|gBusy) {
			return true
		}
		runtime.Gosched()
	}
}

// Why no idle chunk is left behind (a Dekker argument). A buffer is idle when everything written
// is consumed (SendBuffer: acked == end; RecvBuffer: readOff == frontier == high). Each side, after
// storing the positions that can make it idle, clears its bit with exit and only then loads the
// other positions and, if idle, calls reclaim (tryBusy, re-check, Swap, endBusy). Take side A
// whose tryBusy fails:
//
//   - because B's bit is set: in the single total order of sequentially consistent operations,
//     A's position stores < A's load or CAS that saw the bit < B's exit < B's loads, so B sees
//     them, finds the buffer idle and reclaims (or defers to yet another try that the same
//     argument covers).
//   - because C holds gBusy: C's successful CAS read no side bit, so A was not inside then and
//     A's stores precede it (had A entered after it, A would have waited for endBusy). C's
//     re-check, which follows its CAS, therefore sees A's stores. The SendBuffer transport sets no bit, but the
//     store that makes acked == end is the only one that can; C saw it in its pre-check.
//
// A caller that entered alone (tryAlone) is a side like any other: its bit is gApp and it leaves
// through the same exit and check. gHold marks no side inside: a holder's calls each enter and
// exit gApp, and between them it touches no chunk, so reclaim and Release ignore it.
//
// Idleness can only end through an entered side, and entering waits for gBusy, so a re-check
// that finds the buffer idle stays true until the Swap is done.
