package streambuf

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/sttfast/sttfast/frame"
)

// parseMessages is the reference for ReadMessages: the whole messages at the start of b with
// lengths at most maxLen, and the bytes they take.
func parseMessages(b []byte, maxLen uint64) (msgs [][]byte, used int) {
	for {
		if len(b) == 0 {
			return msgs, used
		}
		k := 1 << (b[0] >> 6)
		if len(b) < k {
			return msgs, used
		}
		v := uint64(b[0] & 0x3f)
		for _, c := range b[1:k] {
			v = v<<8 | uint64(c)
		}
		if v > maxLen || uint64(len(b)-k) < v {
			return msgs, used
		}
		msgs = append(msgs, b[k:k+int(v)])
		b = b[k+int(v):]
		used += k + int(v)
	}
}

// encodeMessages frames msgs as a stream carries them.
func encodeMessages(msgs [][]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = frame.AppendVarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

// TestMessagesRoundTrip writes batches with SendBuffer.WriteMessages, moves the bytes to a
// RecvBuffer in pieces that cut prefixes and bodies anywhere, and reads them back with
// ReadMessages and ReadMessage, across chunk boundaries and all prefix lengths.
func TestMessagesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var msgs [][]byte
	for i := 0; i < 2000; i++ {
		sizes := []int{0, 1, 63, 64, 100, 16383, 16384, 40000}
		m := make([]byte, sizes[r.IntN(len(sizes))])
		for j := range m {
			m[j] = byte(r.Uint32())
		}
		msgs = append(msgs, m)
	}
	var sb SendBuffer
	sb.Init(1 << 20)
	var rb RecvBuffer
	rb.Init(1 << 20)
	var got [][]byte
	dst := make([][]byte, 5)
	wire := make([]byte, 1<<20)
	for i := 0; i < len(msgs); {
		n, used := sb.WriteMessages(msgs[i:], 1+r.IntN(200000))
		if want := len(encodeMessages(msgs[i : i+n])); used != want {
			t.Fatalf("WriteMessages took %d messages in %d bytes, want %d bytes", n, used, want)
		}
		i += n
		// Move everything written, in random pieces, reading between pieces.
		for off := sb.Acked(); off < sb.End(); {
			piece := min(uint64(1+r.IntN(5000)), sb.End()-off)
			k := sb.ReadAt(wire[:piece], off)
			if _, err := rb.Insert(off, wire[:k]); err != nil {
				t.Fatal(err)
			}
			off += uint64(k)
			if r.IntN(2) == 0 {
				m, _, ok := rb.ReadMessage(nil, 1<<20, ^uint64(0))
				if ok {
					got = append(got, m)
				}
				continue
			}
			k2, _ := rb.ReadMessages(dst, 1<<20, ^uint64(0))
			for _, m := range dst[:k2] {
				got = append(got, bytes.Clone(m))
			}
		}
		sb.Ack(sb.Acked(), sb.End()-sb.Acked())
		for {
			k2, _ := rb.ReadMessages(dst, 1<<20, ^uint64(0))
			if k2 == 0 {
				break
			}
			for _, m := range dst[:k2] {
				got = append(got, bytes.Clone(m))
			}
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(got[i], msgs[i]) {
			t.Fatalf("message %d differs (%d bytes, want %d)", i, len(got[i]), len(msgs[i]))
		}
	}
	if rb.Readable() != 0 {
		t.Fatalf("%d bytes left unread", rb.Readable())
	}
}

// TestReadMessagesStops checks the three places a batch stops without consuming: a prefix cut
// by the frontier, a body cut by the limit, and a length above maxLen.
func TestReadMessagesStops(t *testing.T) {
	stream := encodeMessages([][]byte{[]byte("abc"), make([]byte, 300), []byte("z")})
	var rb RecvBuffer
	rb.Init(1 << 16)
	if _, err := rb.Insert(0, stream[:5]); err != nil { // "abc" and the first byte of a 2-byte prefix
		t.Fatal(err)
	}
	dst := make([][]byte, 4)
	if n, used := rb.ReadMessages(dst, 1000, ^uint64(0)); n != 1 || used != 4 || string(dst[0]) != "abc" {
		t.Fatalf("cut prefix: %d messages, %d bytes, %q", n, used, dst[0])
	}
	if _, err := rb.Insert(5, stream[5:]); err != nil {
		t.Fatal(err)
	}
	if n, _ := rb.ReadMessages(dst, 1000, 100); n != 0 {
		t.Fatalf("body beyond the limit: read %d messages", n)
	}
	if n, _ := rb.ReadMessages(dst, 299, ^uint64(0)); n != 0 {
		t.Fatalf("length above maxLen: read %d messages", n)
	}
	if _, _, ok := rb.ReadMessage(nil, 299, ^uint64(0)); ok {
		t.Fatal("ReadMessage took a length above maxLen")
	}
	if n, used := rb.ReadMessages(dst, 300, ^uint64(0)); n != 2 || used != len(stream)-4 {
		t.Fatalf("rest: %d messages, %d bytes", n, used)
	}
}

// FuzzReadMessages feeds arbitrary stream bytes, in pieces of fuzzed sizes, to ReadMessages and
// compares what it returns with parseMessages over the same bytes: a hostile peer's lengths
// must never make it panic, read past what arrived or allocate beyond maxLen per message.
func FuzzReadMessages(f *testing.F) {
	f.Add(uint16(100), uint8(7), encodeMessages([][]byte{[]byte("hello"), nil, make([]byte, 70)}))
	f.Add(uint16(10), uint8(1), []byte{0xc0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5})
	f.Add(uint16(1000), uint8(3), []byte{0x7f, 0xff, 0x40})
	f.Fuzz(func(t *testing.T, maxLen uint16, piece uint8, stream []byte) {
		var rb RecvBuffer
		rb.Init(1 << 16)
		if len(stream) > 1<<16 {
			stream = stream[:1<<16]
		}
		step := int(piece%64) + 1
		dst := make([][]byte, 3)
		var got [][]byte
		for off := 0; off < len(stream); off += step {
			end := min(off+step, len(stream))
			if _, err := rb.Insert(uint64(off), stream[off:end]); err != nil {
				t.Fatal(err)
			}
			for {
				n, _ := rb.ReadMessages(dst, uint64(maxLen), ^uint64(0))
				if n == 0 {
					break
				}
				for _, m := range dst[:n] {
					if len(m) > int(maxLen) {
						t.Fatalf("message of %d bytes above maxLen %d", len(m), maxLen)
					}
					got = append(got, bytes.Clone(m))
				}
			}
		}
		want, used := parseMessages(stream, uint64(maxLen))
		if len(got) != len(want) || rb.ReadOffset() != uint64(used) {
			t.Fatalf("read %d messages up to %d, want %d up to %d", len(got), rb.ReadOffset(), len(want), used)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("message %d differs", i)
			}
		}
	})
}
