package dataplane

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ioTransfer runs a ReadMessagesFrom on a's new stream from src (then CloseWrite) and, on b,
// recv on the accepted stream, pumping both hand-driven engines until both are done. It returns
// recv's error.
func ioTransfer(t *testing.T, a, b *side, src io.Reader, chunk int, recv func(*Stream) error) error {
	t.Helper()
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sendDone := make(chan error, 1)
	go func() {
		_, err := st.ReadMessagesFrom(src, chunk, nil)
		if err == nil {
			err = st.CloseWrite()
		}
		sendDone <- err
	}()
	recvDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bst, err := b.s.AcceptStream(ctx)
		if err != nil {
			recvDone <- err
			return
		}
		recvDone <- recv(bst)
	}()
	var sendErr, recvErr error
	sent, recvd := false, false
	pumpUntil(t, a, b, nil, func() bool {
		select {
		case sendErr = <-sendDone:
			sent = true
		case recvErr = <-recvDone:
			recvd = true
		default:
		}
		return sent && recvd
	})
	if sendErr != nil {
		t.Fatalf("ReadMessagesFrom: %v", sendErr)
	}
	return recvErr
}

// writeTemp writes data to a new file in t's temporary directory and opens it for reading.
func writeTemp(t *testing.T, name string, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestStreamFileToFile: a file through ReadFrom (readv into the send buffer) and WriteTo
// (writev from the receive buffer) arrives byte for byte, the odd tail included.
func TestStreamFileToFile(t *testing.T) {
	a, b := newPair(t, Config{})
	noInline(a, b)
	data := randomBytes(3<<20+12345, 31)
	src := writeTemp(t, "src", data)
	dstPath := filepath.Join(t.TempDir(), "dst")
	dst, err := os.Create(dstPath)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var wrote int64
	err = ioTransfer(t, a, b, src, DefaultReadChunk, func(st *Stream) error {
		var err error
		wrote, err = st.WriteTo(dst)
		return err
	})
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	got, err := os.ReadFile(dstPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if i < len(data) && got[i] != data[i] {
			t.Logf("first difference at %d: got % x want % x", i, got[i:min(i+8, len(got))], data[i:min(i+8, len(data))])
			break
		}
	}
	if wrote != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("WriteTo wrote %d bytes (file %d), want %d equal bytes", wrote, len(got), len(data))
	}
}

// TestStreamPipeMessages: from a pipe, reads come in all sizes (short ones copied, long ones in
// place); every read is one message of at most chunk bytes with a minimal length prefix (the
// receiver's ReadMessage would refuse another), and the messages add up to the input.
func TestStreamPipeMessages(t *testing.T) {
	a, b := newPair(t, Config{})
	noInline(a, b)
	data := randomBytes(2<<20, 32)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		defer pw.Close()
		sizes := []int{1, 63, 64, 1000, 16383, 16384, 16385, 40000, 70000, 200000}
		for off, i := 0, 0; off < len(data); i++ {
			n := min(sizes[i%len(sizes)], len(data)-off)
			if _, err := pw.Write(data[off : off+n]); err != nil {
				return
			}
			off += n
		}
	}()
	const chunk = 48 << 10
	var got []byte
	msgs := 0
	err = ioTransfer(t, a, b, pr, chunk, func(st *Stream) error {
		buf := make([]byte, 0, chunk)
		for {
			m, err := st.ReadMessage(buf[:0])
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if len(m) == 0 || len(m) > chunk {
				t.Errorf("message of %d bytes, want 1..%d", len(m), chunk)
			}
			msgs++
			got = append(got, m...)
		}
	})
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes in %d messages, want %d equal bytes", len(got), msgs, len(data))
	}
}

// TestStreamWriteToWriter: WriteTo to a writer that is not a file (one Write per buffer chunk),
// from messages written with WriteMessage, boundaries dropped.
func TestStreamWriteToWriter(t *testing.T) {
	a, b := newPair(t, Config{})
	noInline(a, b)
	data := randomBytes(1<<20+7, 33)
	var out bytes.Buffer
	err := ioTransfer(t, a, b, bytes.NewReader(data), 5000, func(st *Stream) error {
		_, err := st.WriteTo(&out)
		return err
	})
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("WriteTo wrote %d bytes, want %d equal bytes", out.Len(), len(data))
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// TestStreamWriteToError: a failing writer ends WriteTo with its error, not a hang.
func TestStreamWriteToError(t *testing.T) {
	a, b := newPair(t, Config{})
	noInline(a, b)
	err := ioTransfer(t, a, b, bytes.NewReader(randomBytes(100000, 34)), DefaultReadChunk, func(st *Stream) error {
		_, err := st.WriteTo(failingWriter{})
		st.Close()
		return err
	})
	if err != os.ErrClosed {
		t.Fatalf("WriteTo to a failing writer: %v, want %v", err, os.ErrClosed)
	}
}

// TestStreamReadFromChunkLimits: a chunk beyond the largest message is refused.
func TestStreamReadFromChunkLimits(t *testing.T) {
	a, _ := newPair(t, Config{})
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadMessagesFrom(bytes.NewReader(nil), a.e.cfg.MaxMessageSize+1, nil); err != ErrMessageTooLarge {
		t.Fatalf("chunk beyond MaxMessageSize: %v, want ErrMessageTooLarge", err)
	}
	if _, err := st.ReadMessagesFrom(bytes.NewReader(nil), 0, nil); err != ErrMessageTooLarge {
		t.Fatalf("chunk 0: %v, want ErrMessageTooLarge", err)
	}
}
