package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// chanReader is a fake stream: messages come from a channel, io.EOF when it closes.
type chanReader struct{ c chan []byte }

// ReadMessage appends the next message or returns io.EOF.
func (r chanReader) ReadMessage(dst []byte) ([]byte, error) {
	m, ok := <-r.c
	if !ok {
		return dst, io.EOF
	}
	return append(dst, m...), nil
}

// errReader is a fake stream that fails after its messages.
type errReader struct {
	msgs [][]byte
	err  error
}

// ReadMessage returns the next message, then the error.
func (r *errReader) ReadMessage(dst []byte) ([]byte, error) {
	if len(r.msgs) == 0 {
		return dst, r.err
	}
	m := r.msgs[0]
	r.msgs = r.msgs[1:]
	return append(dst, m...), nil
}

// TestOrderedNoInterleave feeds three streams concurrently, the later ones finishing first and
// larger than the memory limit (so they spill to the temporary file), and checks that the output
// is each stream whole, in the order added, and that onDone runs in that order after the bytes.
func TestOrderedNoInterleave(t *testing.T) {
	var out bytes.Buffer
	o := newOrderedWriter(&out, 1000) // tiny memory: force spilling
	const streams, msgs = 3, 200
	want := make([][]byte, streams)
	chans := make([]chan []byte, streams)
	var doneOrder []int
	var mu sync.Mutex
	for i := range streams {
		chans[i] = make(chan []byte)
		o.add(chanReader{chans[i]}, func(err error) {
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
			}
			mu.Lock()
			doneOrder = append(doneOrder, i)
			n := out.Len()
			mu.Unlock()
			if n < len(want[0])*(i+1) {
				t.Errorf("onDone of stream %d ran before its bytes were written (%d written)", i, n)
			}
		})
	}
	for i := range streams {
		for j := range msgs {
			m := bytes.Repeat([]byte{byte('a' + i)}, 1+j%37)
			want[i] = append(want[i], m...)
		}
	}
	// Interleave sends, with stream 0 last to finish: streams 1 and 2 must wait (spooled).
	var wg sync.WaitGroup
	for i := streams - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range msgs {
				chans[i] <- bytes.Repeat([]byte{byte('a' + i)}, 1+j%37)
			}
			if i != 0 {
				close(chans[i])
			}
		}()
	}
	// Stream 0's last message only after the others have finished sending.
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(guard):
		t.Fatal("senders stuck: a reader blocked (deadlock)")
	}
	close(chans[0])
	o.close()
	if err := o.wait(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), bytes.Join(want, nil)) {
		t.Fatalf("output is not the streams whole and in order (%d bytes)", out.Len())
	}
	if len(doneOrder) != streams || doneOrder[0] != 0 || doneOrder[1] != 1 || doneOrder[2] != 2 {
		t.Fatalf("onDone order %v", doneOrder)
	}
}

// TestOrderedReadError checks that a stream ending in an error keeps its bytes, passes the
// error to onDone, and lets the next stream through.
func TestOrderedReadError(t *testing.T) {
	var out bytes.Buffer
	o := newOrderedWriter(&out, 0)
	boom := errors.New("boom")
	var got error
	o.add(&errReader{msgs: [][]byte{[]byte("ab"), []byte("c")}, err: boom}, func(err error) { got = err })
	o.add(&errReader{msgs: [][]byte{[]byte("de")}, err: io.EOF}, nil)
	o.close()
	if err := o.wait(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "abcde" || !errors.Is(got, boom) {
		t.Fatalf("output %q, onDone error %v", out.String(), got)
	}
}

// failWriter fails every write.
type failWriter struct{}

// Write fails.
func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestOrderedWriteFailure checks that a failing stdout is reported and never blocks readers.
func TestOrderedWriteFailure(t *testing.T) {
	o := newOrderedWriter(failWriter{}, 10)
	c := make(chan []byte)
	o.add(chanReader{c}, nil)
	go func() {
		for range 100 {
			c <- bytes.Repeat([]byte("x"), 100) // would block on backpressure if not discarding
		}
		close(c)
	}()
	select {
	case <-o.failedC():
	case <-time.After(guard):
		t.Fatal("failure not signalled")
	}
	o.close()
	if err := o.wait(); err == nil {
		t.Fatal("no error reported")
	}
}

// writerToReader is a fake stream that also has WriteTo, as a *ctrl.Stream does: once its turn
// comes and nothing of it is held, the ordered writer hands it the output itself.
type writerToReader struct{ chanReader }

// WriteTo writes every message still to come to w.
func (r writerToReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for m := range r.c {
		k, err := w.Write(m)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestOrderedDirectWriterTo: a stream with WriteTo whose turn it is writes to the output itself,
// a stream behind it is held meanwhile, and the output is still each stream whole, in order.
func TestOrderedDirectWriterTo(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := newOrderedWriter(f, 1000)
	first, second := writerToReader{chanReader{make(chan []byte)}}, writerToReader{chanReader{make(chan []byte)}}
	o.add(first, nil)
	o.add(second, nil)
	var want []byte
	for i := range 50 { // the second stream first: it must wait, spooled
		m := bytes.Repeat([]byte{'b'}, 100+i)
		second.c <- m
	}
	close(second.c)
	for i := range 50 {
		m := bytes.Repeat([]byte{'a'}, 1+i)
		want = append(want, m...)
		first.c <- m
	}
	close(first.c)
	for i := range 50 {
		want = append(want, bytes.Repeat([]byte{'b'}, 100+i)...)
	}
	o.close()
	if err := o.wait(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output is not the streams whole and in order (%d bytes, want %d)", len(got), len(want))
	}
}

// TestOrderedDirectWriteFailure: a write failure in a stream's own WriteTo, to a file or to any
// writer, is the output's failure (not the stream's read error) and never blocks the reader.
func TestOrderedDirectWriteFailure(t *testing.T) {
	closed, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close() // writes fail with a *PathError, as a full disk's would
	for _, out := range []io.Writer{closed, failWriter{}} {
		o := newOrderedWriter(out, 10)
		r := writerToReader{chanReader{make(chan []byte)}}
		var readErr error
		o.add(r, func(err error) { readErr = err })
		go func() {
			for range 100 {
				r.c <- bytes.Repeat([]byte("x"), 100) // would block if nothing read after the failure
			}
			close(r.c)
		}()
		select {
		case <-o.failedC():
		case <-time.After(guard):
			t.Fatal("failure not signalled")
		}
		o.close()
		if err := o.wait(); err == nil || !strings.Contains(err.Error(), "write stdout") {
			t.Fatalf("%T: wait: %v, want a write stdout error", out, err)
		}
		if readErr != nil {
			t.Fatalf("%T: the output's failure was taken for the stream's: %v", out, readErr)
		}
	}
}
