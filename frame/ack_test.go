package frame

import (
	"bytes"
	"reflect"
	"testing"
)

// ackRanges returns n descending ranges of width w separated by gaps of g missing packets,
// starting at top.
func ackRanges(n int, top, w, g uint64) []Range {
	rs := make([]Range, n)
	hi := top
	for i := range rs {
		rs[i] = Range{Lo: hi - w + 1, Hi: hi}
		hi = rs[i].Lo - g - 1
	}
	return rs
}

func parseAckFrame(t *testing.T, b []byte) *Frame {
	t.Helper()
	var f Frame
	n, err := ParseFrame(b, &f)
	if err != nil || n != len(b) {
		t.Fatalf("ParseFrame(%x) = %d, %v", b, n, err)
	}
	return &f
}

func TestAckRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ranges []Range
	}{
		{"one", []Range{{0, 0}}},
		{"wide gaps", ackRanges(10, 1<<40, 3, 100000)},
		{"dense", ackRanges(50, 10000, 1, 1)},
		{"to zero", ackRanges(4, 15, 3, 1)},
		{"top of space", []Range{{MaxVarint - 5, MaxVarint}, {0, MaxVarint - 7}}},
	} {
		f := parseAckFrame(t, AppendAck(nil, tt.ranges, 77, MaxPacketSize))
		if got := collect(&f.Ack); !reflect.DeepEqual(got, tt.ranges) {
			t.Errorf("%s: ranges %v, want %v", tt.name, got, tt.ranges)
		}
		if f.Ack.Largest != tt.ranges[0].Hi || f.Ack.Delay != 77 || f.Ack.Len() != len(tt.ranges) {
			t.Errorf("%s: largest %d delay %d len %d", tt.name, f.Ack.Largest, f.Ack.Delay, f.Ack.Len())
		}
	}
}

// AppendAck keeps the highest ranges that fit, and the frame never exceeds maxLen.
func TestAckFitsMaxLen(t *testing.T) {
	all := ackRanges(MaxAckRanges+44, 1<<24, 2, 70) // each extra range costs 3 bytes (gap 70 takes 2)
	full := AppendAck(nil, all, 5, MaxPacketSize)
	if f := parseAckFrame(t, full); f.Ack.Len() != MaxAckRanges+1 {
		t.Fatalf("unbounded ACK has %d ranges, want %d", f.Ack.Len(), MaxAckRanges+1)
	}
	for maxLen := 0; maxLen <= len(full)+1; maxLen++ {
		b := AppendAck([]byte("x"), all, 5, maxLen)
		if len(b)-1 > maxLen {
			t.Fatalf("maxLen %d: ACK of %d bytes", maxLen, len(b)-1)
		}
		if len(b) == 1 {
			if maxLen >= len(AppendAck(nil, all[:1], 5, 100)) {
				t.Fatalf("maxLen %d: nothing written though the first range fits", maxLen)
			}
			continue
		}
		f := parseAckFrame(t, b[1:])
		k := f.Ack.Len()
		if got := collect(&f.Ack); !reflect.DeepEqual(got, all[:k]) {
			t.Fatalf("maxLen %d: ranges are not the %d highest", maxLen, k)
		}
		if k <= MaxAckRanges && len(AppendAck(nil, all[:k+1], 5, MaxPacketSize)) <= maxLen {
			t.Fatalf("maxLen %d: kept %d ranges, %d fit", maxLen, k, k+1)
		}
	}
	if b := AppendAck([]byte("x"), nil, 0, 100); !bytes.Equal(b, []byte("x")) {
		t.Errorf("empty ranges appended %x", b[1:])
	}
}

// The range count grows from one byte to two at 64 ranges; the fitting must account for it.
func TestAckCountVarintGrowth(t *testing.T) {
	all := ackRanges(100, 1000, 1, 1) // each extra range costs 2 bytes
	first := len(AppendAck(nil, all[:1], 0, 100))
	with63 := first + 63*2
	b := AppendAck(nil, all, 0, with63)
	if f := parseAckFrame(t, b); f.Ack.Len() != 64 || len(b) != with63 {
		t.Fatalf("room for 63 extra ranges: got %d ranges in %d bytes", f.Ack.Len()-1, len(b))
	}
	// One more range needs 2 bytes for itself and 1 more for the count.
	for extra, want := range []int{63, 63, 63, 64} {
		b := AppendAck(nil, all, 0, with63+extra)
		if f := parseAckFrame(t, b); f.Ack.Len()-1 != want {
			t.Errorf("maxLen %d: %d extra ranges, want %d", with63+extra, f.Ack.Len()-1, want)
		}
	}
}

func TestNackIteration(t *testing.T) {
	ranges := []Range{{100, 100}, {3, 7}, {50, 52}} // wire order is kept, not sorted
	f := parseAckFrame(t, AppendNack(nil, ranges))
	if got := collect(&f.Ack); !reflect.DeepEqual(got, ranges) {
		t.Errorf("NACK ranges %v, want %v", got, ranges)
	}
	if f.Ack.Len() != 3 || f.Ack.Largest != 0 || f.Ack.Delay != 0 {
		t.Errorf("NACK: len %d largest %d delay %d", f.Ack.Len(), f.Ack.Largest, f.Ack.Delay)
	}
	// The same Frame reused for an ACK iterates as an ACK again.
	f2 := *f
	if _, err := ParseFrame(AppendAck(nil, ranges[:1], 0, 100), &f2); err != nil {
		t.Fatal(err)
	}
	if got := collect(&f2.Ack); !reflect.DeepEqual(got, ranges[:1]) {
		t.Errorf("ACK after NACK: %v", got)
	}
}

func TestZeroAckIteratesNothing(t *testing.T) {
	var a Ack
	it := a.Ranges()
	if r, ok := it.Next(); ok {
		t.Errorf("zero Ack yielded %v", r)
	}
}
