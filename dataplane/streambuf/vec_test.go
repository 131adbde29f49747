package streambuf

import (
	"bytes"
	"errors"
	"testing"
)

// TestReserveVecAcrossChunks: a vectored reservation spans chunks from an unaligned end, is
// refused beyond Space, and publishes exactly what Commit says.
func TestReserveVecAcrossChunks(t *testing.T) {
	var b SendBuffer
	b.Init(4 * ChunkSize)
	if n := b.Write(make([]byte, 100)); n != 100 {
		t.Fatalf("wrote %d", n)
	}
	if iov := b.ReserveVec(4*ChunkSize, nil); iov != nil {
		t.Fatal("reserved beyond Space")
	}
	want := streamBytes(1, 2*ChunkSize+10)
	iov := b.ReserveVec(len(want), nil)
	if len(iov) != 3 || len(iov[0]) != ChunkSize-100 {
		t.Fatalf("reservation of %d bytes at 100: %d slices, first %d bytes", len(want), len(iov), len(iov[0]))
	}
	rest := want
	for _, s := range iov {
		rest = rest[copy(s, rest):]
	}
	b.Commit(len(want) - 10) // a shorter read: the last 10 bytes are not published
	if b.End() != uint64(100+len(want)-10) {
		t.Fatalf("end %d after the commit", b.End())
	}
	got := make([]byte, len(want)-10)
	if n := b.ReadAt(got, 100); n != len(got) || !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("read back %d bytes, equal %v", n, bytes.Equal(got, want[:len(got)]))
	}
	// The next write lands right after what was committed.
	if n := b.Write([]byte{1, 2, 3}); n != 3 {
		t.Fatalf("wrote %d", n)
	}
	tail := make([]byte, 3)
	b.ReadAt(tail, b.End()-3)
	if !bytes.Equal(tail, []byte{1, 2, 3}) {
		t.Fatalf("tail %v", tail)
	}
	b.Release()
}

// TestReadVecConsumesWhatFnTook: ReadVec shows the readable bytes in place, chunk by chunk, and
// consumes only what its function reports, returning the function's error.
func TestReadVecConsumesWhatFnTook(t *testing.T) {
	var b RecvBuffer
	b.Init(4 * ChunkSize)
	data := streamBytes(2, 3*ChunkSize)
	if _, err := b.Insert(0, data); err != nil {
		t.Fatal(err)
	}
	b.Discard(50) // unaligned start
	boom := errors.New("boom")
	var seen []byte
	n, err := b.ReadVec(2*ChunkSize, make([][]byte, 0, 4), func(iov [][]byte) (int, error) {
		if len(iov) != 3 || len(iov[0]) != ChunkSize-50 {
			t.Errorf("%d slices, first %d bytes", len(iov), len(iov[0]))
		}
		for _, s := range iov {
			seen = append(seen, s...)
		}
		return ChunkSize, boom // took part, then failed
	})
	if n != ChunkSize || err != boom {
		t.Fatalf("ReadVec = %d, %v; want %d, boom", n, err, ChunkSize)
	}
	if !bytes.Equal(seen, data[50:50+2*ChunkSize]) {
		t.Fatal("ReadVec showed other bytes than the readable ones")
	}
	if b.ReadOffset() != 50+ChunkSize {
		t.Fatalf("read offset %d", b.ReadOffset())
	}
	rest := make([]byte, len(data))
	if k := b.Read(rest); k != len(data)-50-ChunkSize || !bytes.Equal(rest[:k], data[50+ChunkSize:]) {
		t.Fatalf("the rest: %d bytes", k)
	}
	if n, err := b.ReadVec(10, nil, func([][]byte) (int, error) { t.Error("called with nothing readable"); return 0, nil }); n != 0 || err != nil {
		t.Fatalf("ReadVec with nothing readable = %d, %v", n, err)
	}
	b.Release()
}
