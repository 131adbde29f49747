package dataplane

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// batchPair opens a stream from a to b and returns both ends.
func batchPair(t testing.TB, cfg Config) (a, b *side, st, pst *Stream) {
	t.Helper()
	a, b = newPair(t, cfg)
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a.step()
	deliver(a, b)
	pst, err = b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return a, b, st, pst
}

// pump moves everything queued in both directions until neither side has anything to send. It
// holds the sending engine's TX baton while it steps that engine and takes what it wrote, as
// the TX loop does, because a writer blocked on another goroutine may run the TX work inline
// when it wakes.
func pump(a, b *side) {
	for i := 0; i < 64; i++ {
		if stepDeliver(a, b)+stepDeliver(b, a) == 0 {
			return
		}
	}
}

func stepDeliver(from, to *side) int {
	from.e.txMu.Lock()
	defer from.e.txMu.Unlock()
	from.step()
	return deliver(from, to)
}

// testMessages makes n messages of seeded random sizes (0 to max bytes) and contents.
func testMessages(seed uint64, n, max int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	msgs := make([][]byte, n)
	for i := range msgs {
		m := make([]byte, r.IntN(max+1))
		for j := range m {
			m[j] = byte(r.Uint32())
		}
		msgs[i] = m
	}
	return msgs
}

// TestWriteMessagesReadMessages checks that a batch written with WriteMessages arrives as the same
// messages, in order, through ReadMessages, ReadMessage and Read mixed, across message sizes
// whose prefixes take 1, 2 and 4 bytes.
func TestWriteMessagesReadMessages(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{})
	msgs := testMessages(7, 300, 20000)
	msgs = append(msgs, nil, make([]byte, 63), make([]byte, 64), make([]byte, 16383), make([]byte, 16384))
	var got [][]byte
	bufs := make([][]byte, 7)
	readSome := func(k int) {
		switch k % 3 {
		case 0:
			n, err := pst.ReadMessages(bufs)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range bufs[:n] {
				got = append(got, bytes.Clone(m))
			}
		case 1:
			m, err := pst.ReadMessage(nil)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		case 2:
			// Read a message's first byte with Read, the rest with ReadMessages: a batch that
			// starts inside a message must finish that one first.
			var one [1]byte
			want := msgs[len(got)]
			if len(want) == 0 {
				m, err := pst.ReadMessage(nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m)
				return
			}
			if n, err := pst.Read(one[:]); n != 1 || err != nil {
				t.Fatalf("Read: %d, %v", n, err)
			}
			n, err := pst.ReadMessages(bufs)
			if err != nil || n == 0 {
				t.Fatalf("ReadMessages after Read: %d, %v", n, err)
			}
			got = append(got, append([]byte{one[0]}, bufs[0]...))
			for _, m := range bufs[1:n] {
				got = append(got, bytes.Clone(m))
			}
		}
	}
	for i := 0; i < len(msgs); i += 50 {
		n, err := st.WriteMessages(msgs[i:min(i+50, len(msgs))])
		if err != nil || n != min(50, len(msgs)-i) {
			t.Fatalf("WriteMessages: %d, %v", n, err)
		}
		pump(a, b)
		for k := 0; len(got) < min(i+50, len(msgs)); k++ {
			readSome(k)
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(got[i], msgs[i]) {
			t.Fatalf("message %d: %d bytes, want %d (contents differ)", i, len(got[i]), len(msgs[i]))
		}
	}
	st.CloseWrite()
	pump(a, b)
	if n, err := pst.ReadMessages(bufs); n != 0 || err != io.EOF {
		t.Fatalf("ReadMessages at the end: %d, %v; want 0, io.EOF", n, err)
	}
}

// TestWriteMessagesLargerThanBuffer writes a batch with a message larger than the send buffer in
// the middle: it streams through (as WriteMessage does) while the test drives both engines and a
// reader goroutine waits in ReadMessages for the whole of it.
func TestWriteMessagesLargerThanBuffer(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{SendBuffer: 64 << 10})
	msgs := [][]byte{[]byte("before"), bytes.Repeat([]byte{0xab}, 200<<10), []byte("after")}
	wrote := make(chan error, 1)
	go func() {
		n, err := st.WriteMessages(msgs)
		if err == nil && n != len(msgs) {
			err = errors.New("short write")
		}
		wrote <- err
	}()
	read := make(chan [][]byte, 1)
	go func() {
		var got [][]byte
		bufs := make([][]byte, 4)
		for len(got) < len(msgs) {
			n, err := pst.ReadMessages(bufs)
			if err != nil {
				t.Error(err)
				break
			}
			for _, m := range bufs[:n] {
				got = append(got, bytes.Clone(m))
			}
		}
		read <- got
	}()
	var got [][]byte
	for pending := 2; pending > 0; {
		select {
		case err := <-wrote:
			if err != nil {
				t.Fatal(err)
			}
			pending--
		case got = <-read:
			pending--
		default:
			pump(a, b) // the test's timeout guards a hang
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(got[i], msgs[i]) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got[i]), len(msgs[i]))
		}
	}
}

// TestWriteMessagesTooLarge stops at a message above MaxMessageSize and says how many went.
func TestWriteMessagesTooLarge(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{MaxMessageSize: 100})
	n, err := st.WriteMessages([][]byte{make([]byte, 10), make([]byte, 101), make([]byte, 10)})
	if n != 1 || err != ErrMessageTooLarge {
		t.Fatalf("WriteMessages: %d, %v; want 1, ErrMessageTooLarge", n, err)
	}
	pump(a, b)
	bufs := make([][]byte, 4)
	if n, err := pst.ReadMessages(bufs); n != 1 || err != nil || len(bufs[0]) != 10 {
		t.Fatalf("ReadMessages: %d, %v", n, err)
	}
}

// TestReadMessagesWaitsForOne checks that ReadMessages blocks until a message is there and
// then returns what has arrived without waiting to fill every buffer.
func TestReadMessagesWaitsForOne(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{})
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	bufs := make([][]byte, 8)
	go func() {
		n, err := pst.ReadMessages(bufs)
		res <- result{n, err}
	}()
	if _, err := st.WriteMessages([][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	pump(a, b)
	r := <-res
	if r.err != nil || r.n < 1 || string(bufs[0]) != "one" {
		t.Fatalf("ReadMessages: %d, %v, first %q", r.n, r.err, bufs[0])
	}
	if r.n == 1 {
		if m, err := pst.ReadMessage(nil); err != nil || string(m) != "two" {
			t.Fatalf("second: %q, %v", m, err)
		}
	} else if string(bufs[1]) != "two" {
		t.Fatalf("second: %q", bufs[1])
	}
}

// TestReadMessagesBadLength checks that a length above MaxMessageSize in the stream is refused by
// the batch call as by ReadMessage: the stream is aborted, nothing is allocated for it.
func TestReadMessagesBadLength(t *testing.T) {
	a, b, st, pst := batchPair(t, Config{MaxMessageSize: 1000})
	// The sender's own limit is the same: write the oversized prefix by hand.
	st.lockWrite()
	var hdr [8]byte
	n := putPrefix(hdr[:], make([]byte, 5000))
	st.charge(n, n)
	st.send.Write(hdr[:n])
	st.unlockWrite()
	st.kick()
	pump(a, b)
	bufs := make([][]byte, 4)
	if n, err := pst.ReadMessages(bufs); n != 0 || err != ErrMessageTooLarge {
		t.Fatalf("ReadMessages: %d, %v; want 0, ErrMessageTooLarge", n, err)
	}
}
