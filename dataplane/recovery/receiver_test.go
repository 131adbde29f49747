package recovery

import (
	"reflect"
	"testing"
	"time"
)

func rangesOf(r *Receiver) []Range { return r.AppendRanges(nil) }

func TestReceiverMerge(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	for _, pn := range []uint64{0, 1, 2, 5, 6, 4, 3} {
		r.OnPacket(t0, pn, true)
	}
	if got := rangesOf(&r); !reflect.DeepEqual(got, []Range{{0, 6}}) {
		t.Fatalf("ranges %v", got)
	}
	if l, ok := r.Largest(); !ok || l != 6 {
		t.Fatalf("largest %d %v", l, ok)
	}
}

func TestReceiverDescending(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	for _, pn := range []uint64{10, 5, 7, 1, 2, 12} {
		r.OnPacket(t0, pn, true)
	}
	want := []Range{{12, 12}, {10, 10}, {7, 7}, {5, 5}, {1, 2}}
	if got := rangesOf(&r); !reflect.DeepEqual(got, want) {
		t.Fatalf("ranges %v, want %v", got, want)
	}
	// Fill 6 (joins 5 and 7), 11 (joins 10 and 12), 0 (extends 1-2 down).
	r.OnPacket(t0, 6, true)
	r.OnPacket(t0, 11, true)
	r.OnPacket(t0, 0, true)
	want = []Range{{10, 12}, {5, 7}, {0, 2}}
	if got := rangesOf(&r); !reflect.DeepEqual(got, want) {
		t.Fatalf("ranges %v, want %v", got, want)
	}
	for i := 1; i < len(want); i++ {
		if want[i].Hi >= want[i-1].Lo {
			t.Fatal("not descending")
		}
	}
}

func TestReceiverDuplicateNoop(t *testing.T) {
	var r Receiver
	r.Init(0, 3)
	r.OnPacket(t0, 1, true)
	r.OnPacket(t0, 3, true)
	r.OnAckSent(t0)
	before := r
	r.OnPacket(t0+ms, 1, true)
	r.OnPacket(t0+ms, 3, true)
	if r != before {
		t.Fatal("duplicate changed state")
	}
	if r.AckPending() {
		t.Fatal("duplicate made an ACK pending")
	}
}

func TestReceiverBounded(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	const n = MaxRanges + 24
	for i := uint64(0); i < n; i++ {
		r.OnPacket(t0, 2*i, true) // every other packet: a new range each time
	}
	got := rangesOf(&r)
	if len(got) != MaxRanges {
		t.Fatalf("%d ranges, want %d", len(got), MaxRanges)
	}
	if got[0] != (Range{2 * (n - 1), 2 * (n - 1)}) || got[MaxRanges-1] != (Range{2 * (n - MaxRanges), 2 * (n - MaxRanges)}) {
		t.Fatalf("kept %v .. %v", got[0], got[MaxRanges-1])
	}
	// Older than everything kept: ignored.
	r.OnPacket(t0, 1, true)
	if rangesOf(&r)[MaxRanges-1].Lo != 2*(n-MaxRanges) {
		t.Fatal("ancient packet recorded")
	}
	// A new isolated packet in the middle while full: the oldest goes.
	mid := uint64(2*(n-10) + 1) // between two kept ranges, adjacent to both
	r.OnPacket(t0, mid, true)   // joins two ranges: one fewer
	if r.NumRanges() != MaxRanges-1 {
		t.Fatalf("merge while full: %d ranges", r.NumRanges())
	}
	r.OnPacket(t0, 2*(n-MaxRanges)-3, true) // below the oldest, room now: kept
	if r.NumRanges() != MaxRanges {
		t.Fatalf("%d ranges", r.NumRanges())
	}
	top := uint64(2*n + 100)
	r.OnPacket(t0, top, true) // new top while full: oldest dropped
	got = rangesOf(&r)
	if len(got) != MaxRanges || got[0] != (Range{top, top}) || got[MaxRanges-1].Lo != 2*(n-MaxRanges) {
		t.Fatalf("after new top: %v .. %v (%d)", got[0], got[len(got)-1], len(got))
	}
	checkDescending(t, got)
}

func checkDescending(t *testing.T, rs []Range) {
	t.Helper()
	for i := range rs {
		if rs[i].Lo > rs[i].Hi {
			t.Fatalf("bad range %v", rs[i])
		}
		if i > 0 && rs[i].Hi+1 >= rs[i-1].Lo {
			t.Fatalf("ranges not disjoint descending: %v", rs)
		}
	}
}

// Random arrivals: the ranges always equal the set received (restricted to
// what fits), disjoint, non-adjacent and descending.
func TestReceiverRandomAgainstModel(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	seen := map[uint64]bool{}
	perm := []uint64{}
	for i := uint64(0); i < 60; i++ {
		if i%7 != 3 { // permanent holes keep ranges apart
			perm = append(perm, i)
		}
	}
	// Deterministic shuffle with local reordering only.
	for i := 0; i+2 < len(perm); i += 3 {
		perm[i], perm[i+2] = perm[i+2], perm[i]
	}
	for _, pn := range perm {
		r.OnPacket(t0, pn, true)
		seen[pn] = true
		got := rangesOf(&r)
		checkDescending(t, got)
		for _, rg := range got {
			for p := rg.Lo; p <= rg.Hi; p++ {
				if !seen[p] {
					t.Fatalf("range %v covers unseen %d", rg, p)
				}
			}
		}
	}
	got := rangesOf(&r)
	n := 0
	for _, rg := range got {
		n += int(rg.Hi - rg.Lo + 1)
	}
	if n != len(seen) {
		t.Fatalf("ranges cover %d packets, %d received", n, len(seen))
	}
}

func TestReceiverAckEveryN(t *testing.T) {
	var r Receiver
	r.Init(5*time.Millisecond, 2)
	if r.AckPending() || r.AckNow() || r.AckDeadline() != 0 {
		t.Fatal("fresh receiver owes an ACK")
	}
	r.OnPacket(t0, 0, false) // not ack-eliciting: owes nothing
	if r.AckPending() || r.AckDeadline() != 0 {
		t.Fatal("ACK-only packet made an ACK pending")
	}
	r.OnPacket(t0+ms, 1, true)
	if !r.AckPending() || r.AckNow() {
		t.Fatal("after 1 ack-eliciting: want pending, not now")
	}
	if r.AckDeadline() != t0+ms+5*ms {
		t.Fatalf("deadline %d", r.AckDeadline())
	}
	r.OnPacket(t0+2*ms, 2, true)
	if !r.AckNow() {
		t.Fatal("after 2 ack-eliciting: want AckNow")
	}
	if r.AckDeadline() != t0+ms+5*ms {
		t.Fatal("deadline moved with the second packet")
	}
	if d := r.AckDelay(t0 + 3*ms); d != time.Millisecond {
		t.Fatalf("ack delay %v", d)
	}
	r.OnAckSent(t0 + 3*ms)
	if r.AckPending() || r.AckNow() || r.AckDeadline() != 0 {
		t.Fatal("still pending after OnAckSent")
	}
}

func TestReceiverAckNowOnGapAndReorder(t *testing.T) {
	var r Receiver
	r.Init(0, 10)
	r.OnPacket(t0, 0, true)
	if r.AckNow() {
		t.Fatal("in order")
	}
	r.OnPacket(t0, 2, true) // gap: 1 missing
	if !r.AckNow() {
		t.Fatal("gap did not trigger AckNow")
	}
	r.OnAckSent(t0)
	r.OnPacket(t0, 3, true)
	if r.AckNow() {
		t.Fatal("in order after ACK")
	}
	r.OnPacket(t0, 1, true) // late: fills the gap
	if !r.AckNow() {
		t.Fatal("out-of-order arrival did not trigger AckNow")
	}
	if got := rangesOf(&r); !reflect.DeepEqual(got, []Range{{0, 3}}) {
		t.Fatalf("ranges %v", got)
	}
	r.OnAckSent(t0)
	r.OnPacket(t0, 7, false) // gap seen on an ACK-only packet: nothing owed
	if r.AckNow() || r.AckPending() {
		t.Fatal("ACK-only packet triggered an ACK")
	}
}

func TestReceiverOnAckOfAck(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	for _, pn := range []uint64{0, 1, 3, 4, 6, 9} {
		r.OnPacket(t0, pn, true)
	}
	r.OnAckOfAck(4)
	if got := rangesOf(&r); !reflect.DeepEqual(got, []Range{{9, 9}, {6, 6}}) {
		t.Fatalf("ranges %v", got)
	}
	r.OnAckOfAck(100) // the top range always stays
	if got := rangesOf(&r); !reflect.DeepEqual(got, []Range{{9, 9}}) {
		t.Fatalf("ranges %v", got)
	}
	if l, _ := r.Largest(); l != 9 {
		t.Fatal("largest lost")
	}
}

func TestReceiverAckDelay(t *testing.T) {
	var r Receiver
	r.Init(0, 0)
	if r.AckDelay(t0) != 0 {
		t.Fatal("delay without packets")
	}
	r.OnPacket(t0, 5, true)
	r.OnPacket(t0+2*ms, 3, true) // not the largest: does not move the reference
	if d := r.AckDelay(t0 + 4*ms); d != 4*time.Millisecond {
		t.Fatalf("delay %v", d)
	}
	if d := r.AckDelay(t0 - ms); d != 0 {
		t.Fatalf("negative delay %v", d)
	}
}
