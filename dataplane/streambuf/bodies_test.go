package streambuf

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// expectBodies is ReadBodiesVec's reference over a whole stream that starts at a prefix: the
// bodies in order (the last one possibly cut where the bytes end), up to the first prefix that
// is not wholly there or announces more than maxLen, and where reading them leaves the reader.
func expectBodies(b []byte, maxLen uint64) (out []byte, used int, started int) {
	for pos := 0; pos < len(b); {
		k := 1 << (b[pos] >> 6)
		if len(b)-pos < k {
			break
		}
		v := uint64(b[pos] & 0x3f)
		for _, c := range b[pos+1 : pos+k] {
			v = v<<8 | uint64(c)
		}
		if v > maxLen {
			break
		}
		started++
		pos += k
		take := min(int(v), len(b)-pos)
		out = append(out, b[pos:pos+take]...)
		pos += take
		used = pos
		if uint64(take) < v {
			break
		}
	}
	return out, used, started
}

// readAllBodies calls ReadBodiesVec until it makes no progress, checking each call's limits, and
// returns the bytes it showed, the messages it started and the bytes left of the last one.
func readAllBodies(t *testing.T, rb *RecvBuffer, left uint64, n, slices int, maxLen uint64, out []byte) ([]byte, int, uint64) {
	t.Helper()
	iov := make([][]byte, 0, slices)
	started := 0
	for {
		before := rb.ReadOffset()
		run, err := rb.ReadBodiesVec(left, n, maxLen, iov, func(v [][]byte) (int, error) {
			if len(v) > slices {
				t.Fatalf("%d slices, cap %d", len(v), slices)
			}
			total := 0
			for _, s := range v {
				out = append(out, s...)
				total += len(s)
			}
			if total > n {
				t.Fatalf("handed %d bytes, limit %d", total, n)
			}
			return total, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rb.ReadOffset() != before+uint64(run.Used) {
			t.Fatalf("read offset %d after using %d from %d", rb.ReadOffset(), run.Used, before)
		}
		started += run.Started
		left = run.Left
		if run.Used == 0 {
			return out, started, left
		}
	}
}

// TestReadBodiesVecMessages: bodies of every size (empty ones, prefixes of all lengths and across
// chunk boundaries) arrive in order with the prefixes left out, in pieces that cut prefixes and
// bodies anywhere, whatever the byte and slice limits per call.
func TestReadBodiesVecMessages(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var msgs [][]byte
	for i := 0; i < 400; i++ {
		sizes := []int{0, 1, 63, 64, 100, 16383, 16384, 40000}
		m := make([]byte, sizes[r.IntN(len(sizes))])
		for j := range m {
			m[j] = byte(r.Uint32())
		}
		msgs = append(msgs, m)
	}
	stream := encodeMessages(msgs)
	want := bytes.Join(msgs, nil)
	for _, lim := range []struct{ n, slices int }{{1, 3}, {1000, 3}, {64 << 10, 6}, {256 << 10, 64}} {
		var rb RecvBuffer
		rb.Init(1 << 20)
		var got []byte
		started, left := 0, uint64(0)
		for off := 0; off < len(stream); {
			end := min(off+1+r.IntN(70000), len(stream))
			if _, err := rb.Insert(uint64(off), stream[off:end]); err != nil {
				t.Fatal(err)
			}
			off = end
			var s int
			got, s, left = readAllBodies(t, &rb, left, lim.n, lim.slices, 1<<20, got)
			started += s
		}
		if !bytes.Equal(got, want) || started != len(msgs) || left != 0 || rb.ReadOffset() != uint64(len(stream)) {
			t.Fatalf("limits %+v: %d bytes (equal %v), %d messages, %d left, offset %d; want %d bytes, %d messages, offset %d",
				lim, len(got), bytes.Equal(got, want), started, left, rb.ReadOffset(), len(want), len(msgs), len(stream))
		}
		rb.Release()
	}
}

// TestReadBodiesVecFailure: when fn fails part way, everything it was handed is consumed and the
// position stays exact: the message after is read whole.
func TestReadBodiesVecFailure(t *testing.T) {
	msgs := [][]byte{streamBytes(1, 3000), streamBytes(2, 5000), streamBytes(3, 700)}
	stream := encodeMessages(msgs)
	var rb RecvBuffer
	rb.Init(1 << 16)
	defer rb.Release()
	if _, err := rb.Insert(0, stream); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	// 2 + 3000 + 2 + 5000 bytes: the first two messages, then the limit.
	run, err := rb.ReadBodiesVec(0, 8000, 1<<16, make([][]byte, 0, 8), func(v [][]byte) (int, error) { return 10, boom })
	if err != boom || run.Done != 10 || run.Started != 2 || run.Left != 0 || run.Used != 2+3000+2+5000 || run.LastStart != 2+3000 {
		t.Fatalf("failed call: %+v, %v", run, err)
	}
	buf := make([]byte, 2)
	rb.Peek(buf)
	if m, _, ok := rb.ReadMessage(nil, 1<<16, ^uint64(0)); !ok || !bytes.Equal(m, msgs[2]) {
		t.Fatalf("next message after the failure: ok %v, %d bytes (prefix % x)", ok, len(m), buf)
	}
}

// TestReadBodiesVecStops: a prefix above maxLen, or cut by the end of what arrived, is left for
// the caller; a message whose body has not arrived is started with all of it left.
func TestReadBodiesVecStops(t *testing.T) {
	var rb RecvBuffer
	rb.Init(1 << 16)
	defer rb.Release()
	stream := encodeMessages([][]byte{streamBytes(4, 10), streamBytes(5, 300)})
	if _, err := rb.Insert(0, stream[:1+10+1]); err != nil { // the second prefix is 2 bytes: cut
		t.Fatal(err)
	}
	run, _ := rb.ReadBodiesVec(0, 1<<16, 1<<16, make([][]byte, 0, 8), func(v [][]byte) (int, error) { return 10, nil })
	if run.Used != 11 || run.Started != 1 || run.Left != 0 {
		t.Fatalf("cut prefix: %+v", run)
	}
	if _, err := rb.Insert(12, stream[12:13]); err != nil {
		t.Fatal(err)
	}
	run, _ = rb.ReadBodiesVec(0, 1<<16, 100, make([][]byte, 0, 8), func(v [][]byte) (int, error) { t.Error("called"); return 0, nil })
	if run.Used != 0 {
		t.Fatalf("prefix above maxLen: %+v", run)
	}
	run, _ = rb.ReadBodiesVec(0, 1<<16, 1<<16, make([][]byte, 0, 8), func(v [][]byte) (int, error) { t.Error("called"); return 0, nil })
	if run.Used != 2 || run.Started != 1 || run.Left != 300 || run.LastStart != 11 {
		t.Fatalf("body not arrived: %+v", run)
	}
}

// FuzzReadBodiesVec feeds arbitrary stream bytes, in pieces of fuzzed sizes, to ReadBodiesVec
// with fuzzed limits and compares what it shows with expectBodies: a hostile peer's lengths must
// never make it panic, show bytes that did not arrive or go past a limit.
func FuzzReadBodiesVec(f *testing.F) {
	f.Add(uint16(100), uint8(7), uint16(50), uint8(4), encodeMessages([][]byte{[]byte("hello"), nil, make([]byte, 70)}))
	f.Add(uint16(10), uint8(1), uint16(3), uint8(2), []byte{0xc0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5})
	f.Add(uint16(1000), uint8(3), uint16(1), uint8(3), []byte{0x7f, 0xff, 0x40})
	f.Add(uint16(40000), uint8(63), uint16(20000), uint8(5), encodeMessages([][]byte{make([]byte, 33000), nil, nil, make([]byte, 20000)}))
	f.Fuzz(func(t *testing.T, maxLen uint16, piece uint8, n uint16, slices uint8, stream []byte) {
		var rb RecvBuffer
		rb.Init(1 << 16)
		defer rb.Release()
		if len(stream) > 1<<16 {
			stream = stream[:1<<16]
		}
		step := int(piece%64)*97 + 1
		lim, caps := int(n)+1, int(slices%16)+2
		var got []byte
		started, left := 0, uint64(0)
		for off := 0; off < len(stream); off += step {
			end := min(off+step, len(stream))
			if _, err := rb.Insert(uint64(off), stream[off:end]); err != nil {
				t.Fatal(err)
			}
			var s int
			got, s, left = readAllBodies(t, &rb, left, lim, caps, uint64(maxLen), got)
			started += s
		}
		want, used, wantStarted := expectBodies(stream, uint64(maxLen))
		if !bytes.Equal(got, want) || rb.ReadOffset() != uint64(used) || started != wantStarted {
			t.Fatalf("showed %d bytes (equal %v) up to %d in %d messages; want %d up to %d in %d",
				len(got), bytes.Equal(got, want), rb.ReadOffset(), started, len(want), used, wantStarted)
		}
	})
}
