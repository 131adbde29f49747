//go:build !race

package dataplane

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAllocsStreamFileIO: one message read from a file straight into the send buffer
// (vecReader.next: readv), sent, received and written from the receive buffer to a file
// (writeSome: writev), per round, without allocating. The engines are hand-driven on this
// goroutine; a round reads only when the stream and the session have room, so it never blocks.
func TestAllocsStreamFileIO(t *testing.T) {
	a, b := newPair(t, Config{})
	const fileSize = 64 << 20 // sparse: reads return zeros, as many as the rounds need
	src, err := os.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Truncate(fileSize); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	vr := newVecReader(src, st, DefaultReadChunk)
	vw := newVecWriter(dst, DefaultReadChunk)
	if vr.file == nil || vw.file == nil {
		t.Fatal("files not on the vectored path")
	}
	need := int64(vecPrefix + DefaultReadChunk)
	var pst *Stream
	var sent, written int
	round := func() {
		bud := st.s.sendBudget()
		if st.send.Space() >= int(need) && bud.limit.Load()-bud.used.Load() >= need {
			n, err := vr.next()
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		a.step()
		deliver(a, b)
		if pst == nil {
			if len(b.s.acceptq) == 0 {
				return
			}
			if pst, err = b.s.AcceptStream(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		for pst.msgLeft > 0 && pst.recv.Readable() > 0 || pst.msgLeft <= 0 && pst.recv.Readable() >= vecPrefix+1 {
			n, err := pst.writeSome(vw)
			if err != nil {
				t.Fatal(err)
			}
			written += n
		}
		b.step()
		deliver(b, a)
	}
	warm(200, round)
	if allocs := testing.AllocsPerRun(300, round); allocs != 0 {
		t.Fatalf("file to stream to file round: %v allocations, want 0", allocs)
	}
	t.Logf("sent %d, written %d bytes", sent, written)
	if sent == 0 || written == 0 {
		t.Fatalf("sent %d, written %d bytes", sent, written)
	}
}
