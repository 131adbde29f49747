package dataplane

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
)

// writeRaw puts bytes on a's stream without message framing: a peer that sends a malformed
// message stream (the length prefix is the application layer's, §5).
func writeRaw(t *testing.T, st *Stream, b []byte) {
	t.Helper()
	st.lockWrite()
	n := st.send.Write(b)
	st.unlockWrite()
	if n != len(b) {
		t.Fatalf("wrote %d of %d raw bytes", n, len(b))
	}
	st.kick()
}

// peerStream delivers until b has accepted a stream carrying every byte up to a's FIN.
func peerStream(t *testing.T, a, b *side) *Stream {
	t.Helper()
	var bst *Stream
	pumpUntil(t, a, b, nil, func() bool {
		b.s.mu.Lock()
		defer b.s.mu.Unlock()
		if len(b.s.acceptq) == 0 {
			return false
		}
		bst = b.s.acceptq[0]
		return bst.peerFin && bst.recv.Frontier() == bst.peerFinal
	})
	st, err := b.s.AcceptStream(context.Background())
	if err != nil || st != bst {
		t.Fatalf("accept: %v", err)
	}
	return st
}

// TestStreamEndsInsideMessage: when the stream ends (FIN) in the middle of a message, the reader
// must learn that the message is incomplete (io.ErrUnexpectedEOF), not see a clean io.EOF that
// makes a truncated message look like the end of the stream.
func TestStreamEndsInsideMessage(t *testing.T) {
	msg := frame.AppendVarint(nil, 100) // announces 100 bytes...
	msg = append(msg, "only ten b"...)  // ...and carries 10
	t.Run("ReadMessage", func(t *testing.T) {
		a, b := newPair(t, Config{})
		st, _ := a.s.OpenStream(context.Background())
		writeRaw(t, st, msg)
		st.CloseWrite()
		bst := peerStream(t, a, b)
		bst.SetReadDeadline(time.Now().Add(2 * time.Second)) // guards a hang only
		got, err := bst.ReadMessage(nil)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadMessage of a message cut by FIN = %d bytes, %v; want io.ErrUnexpectedEOF", len(got), err)
		}
	})
	t.Run("Read", func(t *testing.T) {
		a, b := newPair(t, Config{})
		st, _ := a.s.OpenStream(context.Background())
		writeRaw(t, st, msg)
		st.CloseWrite()
		bst := peerStream(t, a, b)
		bst.SetReadDeadline(time.Now().Add(2 * time.Second)) // guards a hang only
		buf := make([]byte, 64)
		n, err := bst.Read(buf)
		if err != nil || string(buf[:n]) != "only ten b" {
			t.Fatalf("Read = %q, %v", buf[:n], err)
		}
		n, err = bst.Read(buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Read at a FIN inside a message = %d, %v; want io.ErrUnexpectedEOF", n, err)
		}
	})
	t.Run("prefix", func(t *testing.T) {
		// The varint prefix itself cut by FIN (already reported as unexpected EOF).
		a, b := newPair(t, Config{})
		st, _ := a.s.OpenStream(context.Background())
		writeRaw(t, st, []byte{0x40}) // first byte of a 2-byte varint
		st.CloseWrite()
		bst := peerStream(t, a, b)
		// Every byte of the stream, FIN included, is there before the read starts: a correct
		// reader answers at once; the deadline only turns a hang into a failure.
		bst.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := bst.ReadMessage(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadMessage of a prefix cut by FIN = %v; want io.ErrUnexpectedEOF (ErrTimeout: the reader hangs although the stream has ended)", err)
		}
	})
}
