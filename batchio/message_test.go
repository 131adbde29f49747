package batchio

import (
	"bytes"
	"testing"
)

func TestDatagrams(t *testing.T) {
	buf := make([]byte, 100)
	for i := range buf {
		buf[i] = byte(i)
	}
	cases := []struct {
		n, seg int
		want   []int // datagram lengths
	}{
		{0, 0, []int{0}},
		{10, 0, []int{10}},
		{10, 10, []int{10}},
		{10, 20, []int{10}},
		{10, -1, []int{10}},
		{10, 3, []int{3, 3, 3, 1}},
		{9, 3, []int{3, 3, 3}},
		{100, 64, []int{64, 36}},
	}
	for _, tc := range cases {
		m := Message{Buf: buf, N: tc.n, Seg: tc.seg}
		if got := m.NumDatagrams(); got != len(tc.want) {
			t.Errorf("N=%d Seg=%d: NumDatagrams = %d, want %d", tc.n, tc.seg, got, len(tc.want))
		}
		it := m.Datagrams()
		off, k := 0, 0
		for d, ok := it.Next(); ok; d, ok = it.Next() {
			if k >= len(tc.want) || len(d) != tc.want[k] {
				t.Fatalf("N=%d Seg=%d: datagram %d has len %d, want %v", tc.n, tc.seg, k, len(d), tc.want)
			}
			if cap(d) != len(d) {
				t.Errorf("datagram cap %d not clipped to len %d", cap(d), len(d))
			}
			if !bytes.Equal(d, buf[off:off+len(d)]) {
				t.Errorf("datagram %d is not a view of the buffer", k)
			}
			off += len(d)
			k++
		}
		if k != len(tc.want) {
			t.Errorf("N=%d Seg=%d: %d datagrams, want %d", tc.n, tc.seg, k, len(tc.want))
		}
		if _, ok := it.Next(); ok {
			t.Errorf("Next after end returned true")
		}
	}
	m := Message{Buf: buf, N: 100, Seg: 7}
	if a := testing.AllocsPerRun(100, func() {
		it := m.Datagrams()
		for _, ok := it.Next(); ok; _, ok = it.Next() {
		}
	}); a != 0 {
		t.Errorf("Datagrams allocates %v per walk", a)
	}
}

func TestSlab(t *testing.T) {
	s := NewSlab(4, 100)
	if s.Len() != 4 || s.Size() != 100 {
		t.Fatalf("Len/Size = %d/%d", s.Len(), s.Size())
	}
	ms := s.Messages()
	if len(ms) != 4 {
		t.Fatalf("%d messages", len(ms))
	}
	for i := range ms {
		if len(ms[i].Buf) != 100 || cap(ms[i].Buf) != 100 {
			t.Fatalf("msg %d: len %d cap %d", i, len(ms[i].Buf), cap(ms[i].Buf))
		}
		ms[i].Buf[0] = byte(i + 1)
	}
	// One allocation: the buffers are consecutive views of the same block.
	for i := range ms {
		if &ms[i].Buf[0] != &s.mem[i*100] || s.mem[i*100] != byte(i+1) {
			t.Fatalf("msg %d is not a view into the slab", i)
		}
	}
	ms[1].Buf = ms[1].Buf[:3]
	ms[1].N, ms[1].Seg = 3, 1
	s.Reset()
	if len(ms[1].Buf) != 100 || ms[1].N != 0 || ms[1].Seg != 0 {
		t.Fatalf("Reset did not restore message: %+v", ms[1])
	}
	if &s.Messages()[0] != &ms[0] {
		t.Fatalf("Messages returns a new slice")
	}
	defer func() {
		if recover() == nil {
			t.Fatalf("NewSlab(0, 1) did not panic")
		}
	}()
	NewSlab(0, 1)
}
