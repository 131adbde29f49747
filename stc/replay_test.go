package stc

import (
	mrand "math/rand/v2"
	"testing"
)

func accept(t *testing.T, w *ReplayWindow, pn uint64, want bool) {
	t.Helper()
	if c := w.Check(pn); c != want {
		t.Fatalf("Check(%d) = %v, want %v", pn, c, want)
	}
	if a := w.Accept(pn); a != want {
		t.Fatalf("Accept(%d) = %v, want %v", pn, a, want)
	}
}

func TestReplayBasics(t *testing.T) {
	var w ReplayWindow
	if _, ok := w.Largest(); ok {
		t.Fatal("empty window has a largest")
	}
	accept(t, &w, 0, true) // pn 0 on an empty window
	accept(t, &w, 0, false)
	for pn := uint64(1); pn < 10_000; pn++ { // in order, many ring wraps
		accept(t, &w, pn, true)
	}
	accept(t, &w, 9_999, false)
	accept(t, &w, 5_000, false)
	if l, ok := w.Largest(); !ok || l != 9_999 {
		t.Fatalf("Largest %d %v", l, ok)
	}
	// Check never changes state.
	for range 3 {
		if !w.Check(10_000) {
			t.Fatal("Check(10000)")
		}
	}
	if l, _ := w.Largest(); l != 9_999 {
		t.Fatal("Check moved the window")
	}
}

func TestReplayOutOfOrderAndEdges(t *testing.T) {
	var w ReplayWindow
	accept(t, &w, 10_000, true) // first packet far from 0
	// Exactly the window: [10000-2047, 10000] acceptable, 10000-2048 too old.
	accept(t, &w, 10_000-ReplayWindowSize, false)
	accept(t, &w, 10_000-ReplayWindowSize+1, true)
	accept(t, &w, 10_000-ReplayWindowSize+1, false)
	for pn := uint64(10_000 - 1); pn > 10_000-ReplayWindowSize+1; pn -= 7 {
		accept(t, &w, pn, true)
	}
	for pn := uint64(10_000 - 1); pn > 10_000-ReplayWindowSize+1; pn -= 7 {
		accept(t, &w, pn, false)
	}
	accept(t, &w, 10_002, true) // skip one
	accept(t, &w, 10_001, true) // late but in window
	accept(t, &w, 10_001, false)
	// Moving the top by one pushes the oldest out.
	accept(t, &w, 10_002-ReplayWindowSize, false)
	accept(t, &w, 10_004-ReplayWindowSize, true) // (10_003 - 2048 was accepted by the loop above)

	// A huge jump forgets everything before the new window, including stale ring bits.
	accept(t, &w, 1<<40, true)
	accept(t, &w, 10_002, false)
	accept(t, &w, 1<<40-1, true)
	accept(t, &w, 1<<40-ReplayWindowSize+1, true)
	accept(t, &w, 1<<40-ReplayWindowSize, false)
	// Jumps that land exactly one ring length (33 blocks) ahead must clear the reused slot.
	var v ReplayWindow
	accept(t, &v, 64, true)
	accept(t, &v, 64+64*replayBlocks, true) // same ring slot as 64
	accept(t, &v, 64+64*replayBlocks-ReplayWindowSize+1, true)
	accept(t, &v, 64+64*(replayBlocks-1), true) // slot of the previous lap, cleared
	// Limits.
	accept(t, &v, MaxPacketNumber+1, false)
	accept(t, &v, 1<<64-1, false)
	accept(t, &v, MaxPacketNumber, true)
	accept(t, &v, MaxPacketNumber, false)
	accept(t, &v, MaxPacketNumber-ReplayWindowSize+1, true)

	v.Reset()
	if _, ok := v.Largest(); ok {
		t.Fatal("Reset")
	}
	accept(t, &v, 0, true)
}

// refWindow is the obvious model: a set of every accepted number and the largest one.
type refWindow struct {
	seen    map[uint64]bool
	largest uint64
	any     bool
}

func (r *refWindow) check(pn uint64) bool {
	if pn > MaxPacketNumber || r.seen[pn] {
		return false
	}
	return !r.any || pn > r.largest || r.largest-pn < ReplayWindowSize
}

func (r *refWindow) accept(pn uint64) bool {
	if !r.check(pn) {
		return false
	}
	r.seen[pn] = true
	if !r.any || pn > r.largest {
		r.largest, r.any = pn, true
	}
	return true
}

func TestReplayModel(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		r := mrand.New(mrand.NewPCG(seed, 0x5757))
		var w ReplayWindow
		ref := refWindow{seen: map[uint64]bool{}}
		next := uint64(r.IntN(3)) * 1000
		steps := 200_000
		if testing.Short() {
			steps = 20_000
		}
		for i := range steps {
			var pn uint64
			switch x := r.IntN(100); {
			case x < 60: // in order
				pn = next
				next++
			case x < 80: // reordered within about the window
				d := uint64(r.IntN(ReplayWindowSize + 200))
				if d > next {
					d = next
				}
				pn = next - d
			case x < 90: // duplicate of something recent
				d := uint64(r.IntN(64))
				if d > next {
					d = next
				}
				pn = next - d
			case x < 97: // jump ahead, small or large
				next += uint64(r.IntN(300)) + uint64(r.IntN(2))*uint64(r.IntN(20_000))
				pn = next
				next++
			case x < 99: // ancient
				pn = uint64(r.IntN(int(next) + 1))
			default: // garbage beyond the limit
				pn = MaxPacketNumber + 1 + uint64(r.IntN(10))
			}
			if w.Check(pn) != ref.check(pn) {
				t.Fatalf("seed %d step %d: Check(%d) = %v, model %v (largest %d)", seed, i, pn, w.Check(pn), ref.check(pn), ref.largest)
			}
			if r.IntN(10) == 0 {
				continue // a packet that fails to authenticate: checked, never accepted
			}
			if got, want := w.Accept(pn), ref.accept(pn); got != want {
				t.Fatalf("seed %d step %d: Accept(%d) = %v, model %v (largest %d)", seed, i, pn, got, want, ref.largest)
			}
			if l, ok := w.Largest(); ok != ref.any || l != ref.largest {
				t.Fatalf("seed %d step %d: Largest %d %v, model %d %v", seed, i, l, ok, ref.largest, ref.any)
			}
		}
	}
}
