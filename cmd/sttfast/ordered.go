package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// orderedHelp states the output rule of listen and dial --recv; both --help texts include it.
const orderedHelp = `Output rule: the bytes of each stream are written raw (no framing, message boundaries dropped)
and streams never interleave. Streams are written whole, one after another, in the order they
were accepted (across sessions). The stream whose turn it is goes straight to stdout, with
backpressure; the streams behind it are read at the same time and held (in memory up to 4 MiB
each, beyond that in an unlinked temporary file) until every earlier stream has ended, so no
stream, and no session's flow-control window, ever waits on another: no deadlock. Once a
stream's last byte is on stdout, its own half of the stream is ended (FIN): that is how a
sttfast dial learns that everything was written out.`

// messageReader is the part of a stream the ordered writer reads (a *ctrl.Stream, or a fake).
type messageReader interface {
	ReadMessage(dst []byte) ([]byte, error)
}

// defaultSpoolMem is how many bytes of a waiting stream are held in memory before spilling.
const defaultSpoolMem = 4 << 20

// orderedWriter writes many streams to one writer without ever interleaving two of them (see
// orderedHelp). Each added stream gets a reader goroutine that moves its messages into a spool;
// one writer goroutine empties the spools to w strictly in the order they were added.
type orderedWriter struct {
	w        io.Writer
	spoolMem int

	mu     sync.Mutex
	queue  []*spool
	closed bool          // no more streams will be added
	wake   chan struct{} // a stream was added, or close was called
	failed chan struct{} // closed when writing to w failed
	done   chan struct{} // closed when the writer goroutine has returned
	err    error         // first write or spool error
}

// newOrderedWriter starts the writer goroutine over w; spoolMem <= 0 takes the default.
func newOrderedWriter(w io.Writer, spoolMem int) *orderedWriter {
	if spoolMem <= 0 {
		spoolMem = defaultSpoolMem
	}
	o := &orderedWriter{
		w: w, spoolMem: spoolMem,
		wake:   make(chan struct{}, 1),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	go o.writeLoop()
	return o
}

// add queues r behind every stream added before it and starts reading it now. onDone runs on
// the writer goroutine once all of r's bytes are written (or dropped after a write failure),
// with r's read error (nil at a clean end of stream).
func (o *orderedWriter) add(r messageReader, onDone func(readErr error)) {
	sp := &spool{limit: o.spoolMem, onDone: onDone, out: o}
	sp.cond = sync.NewCond(&sp.mu)
	o.mu.Lock()
	if o.err != nil {
		sp.discard = true
	}
	o.queue = append(o.queue, sp)
	o.mu.Unlock()
	o.signal()
	go sp.fill(r)
}

// close says no stream will be added any more: the writer returns after the last one.
func (o *orderedWriter) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.signal()
}

// wait blocks until every added stream is written (close must have been called) and returns the
// first write or spool error.
func (o *orderedWriter) wait() error {
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// failedC is closed when writing to w failed; the command should stop then.
func (o *orderedWriter) failedC() <-chan struct{} { return o.failed }

// failure returns the first write or spool error so far (nil if none).
func (o *orderedWriter) failure() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// signal wakes the writer goroutine without blocking.
func (o *orderedWriter) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// next waits for the next spool in order, or returns nil once closed and drained.
func (o *orderedWriter) next() *spool {
	for {
		o.mu.Lock()
		if len(o.queue) > 0 {
			sp := o.queue[0]
			o.queue[0] = nil
			o.queue = o.queue[1:]
			o.mu.Unlock()
			return sp
		}
		closed := o.closed
		o.mu.Unlock()
		if closed {
			return nil
		}
		<-o.wake
	}
}

// writeLoop is the writer goroutine: spools in order, each emptied completely before the next.
func (o *orderedWriter) writeLoop() {
	defer close(o.done)
	var fileBuf []byte
	for sp := o.next(); sp != nil; sp = o.next() {
		sp.setHead()
		for {
			chunk, fromFile, ok := sp.take(&fileBuf)
			if !ok {
				break
			}
			if err := o.write(chunk); err != nil {
				o.fail(fmt.Errorf("write stdout: %w", err))
				sp.setDiscard()
			}
			if !fromFile {
				putBuf(chunk)
			}
		}
		if err := sp.finish(); err != nil {
			o.fail(err)
		}
	}
}

// write writes b to w unless an earlier write failed.
func (o *orderedWriter) write(b []byte) error {
	o.mu.Lock()
	failed := o.err != nil
	o.mu.Unlock()
	if failed || len(b) == 0 {
		return nil
	}
	n, err := o.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// fail records the first error and makes every spool, present and future, drop its data so
// that no reader stays blocked.
func (o *orderedWriter) fail(err error) {
	o.mu.Lock()
	if o.err != nil {
		o.mu.Unlock()
		return
	}
	o.err = err
	q := append([]*spool(nil), o.queue...)
	o.mu.Unlock()
	close(o.failed)
	for _, sp := range q {
		sp.setDiscard()
	}
}

// spool is one stream's FIFO of bytes waiting for its turn: in-memory chunks up to limit, then
// an unlinked temporary file. While the file holds unread bytes every new message goes to the
// file too, so the order is always memory first, then file.
type spool struct {
	limit  int
	onDone func(error)
	out    *orderedWriter

	mu       sync.Mutex
	cond     *sync.Cond
	chunks   [][]byte
	memBytes int
	file     *os.File
	fileR    int64
	fileW    int64
	head     bool // its turn: the reader waits for room instead of spilling
	// direct: its turn and nothing held, so the reader writes to the output itself (no hand-off
	// to the writer goroutine, no copy: a stream writes straight from its receive buffer); the
	// writer goroutine only waits for the end. Set by the writer goroutine (take), never unset.
	direct   bool
	eof      bool // the reader has finished
	readErr  error
	spillErr error
	discard  bool
}

// fill is the reader goroutine: every message of r into the spool, until the end of r; once
// the spool is direct, straight to the output.
func (sp *spool) fill(r messageReader) {
	buf := getBuf()
	for {
		if sp.isDirect() {
			if done, err := sp.copyDirect(r); done {
				putBuf(buf)
				sp.end(err)
				return
			}
		}
		msg, err := r.ReadMessage(buf[:0])
		if err != nil {
			putBuf(msg)
			sp.end(err)
			return
		}
		if sp.push(msg) {
			buf = getBuf()
		} else {
			buf = msg
		}
	}
}

// end records the end of the reader with its error (io.EOF is a clean end).
func (sp *spool) end(err error) {
	if errors.Is(err, io.EOF) {
		err = nil
	}
	sp.mu.Lock()
	sp.eof, sp.readErr = true, err
	sp.cond.Broadcast()
	sp.mu.Unlock()
}

func (sp *spool) isDirect() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.direct && !sp.discard
}

// copyDirect writes the rest of r to the output, with the stream's own WriteTo when it has one
// (a *ctrl.Stream: from its receive buffer, writev to a file), and reports whether r has ended;
// after a write failure it returns not done, and the reader goes on reading and dropping (the
// spool discards) until the stream ends.
func (sp *spool) copyDirect(r messageReader) (done bool, readErr error) {
	wt, ok := r.(io.WriterTo)
	if !ok {
		return false, nil // one message at a time through push, which writes directly
	}
	o := sp.out
	w := o.w
	if _, file := w.(*os.File); !file {
		w = &outputWriter{o: o} // tells write failures from the stream's own errors
	}
	_, err := wt.WriteTo(w)
	var pe *os.PathError
	switch {
	case errors.As(err, &pe) && pe.Op == "write": // the file's writev failed
		o.fail(fmt.Errorf("write stdout: %w", err))
	case errors.Is(err, errOutputFailed): // outputWriter has recorded it
	default:
		return true, err
	}
	sp.setDiscard()
	return false, nil
}

// errOutputFailed is what outputWriter returns once writing the output failed (o.err says why).
var errOutputFailed = errors.New("output failed")

// outputWriter is the ordered writer's output for a stream's WriteTo: it records a write failure
// as the writer's and returns errOutputFailed, so that it is never taken for a read error.
type outputWriter struct{ o *orderedWriter }

func (f *outputWriter) Write(p []byte) (int, error) {
	if err := f.o.write(p); err != nil {
		f.o.fail(fmt.Errorf("write stdout: %w", err))
		return 0, errOutputFailed
	}
	if f.o.failure() != nil {
		return 0, errOutputFailed
	}
	return len(p), nil
}

// push stores msg and reports whether the spool kept the slice (else the caller reuses it).
// A direct spool writes msg to the output at once instead.
func (sp *spool) push(msg []byte) (kept bool) {
	if len(msg) == 0 {
		return false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		switch {
		case sp.discard || sp.spillErr != nil:
			return false
		case sp.direct:
			sp.mu.Unlock() // the writer goroutine waits for the end: nobody else writes now
			err := sp.out.write(msg)
			if err != nil {
				sp.out.fail(fmt.Errorf("write stdout: %w", err))
			}
			sp.mu.Lock()
			if err != nil {
				sp.dropAll()
			}
			return false
		case sp.fileW > sp.fileR:
			sp.spill(msg)
			return false
		case sp.memBytes == 0 || sp.memBytes+len(msg) <= sp.limit:
			sp.chunks = append(sp.chunks, msg)
			sp.memBytes += len(msg)
			sp.cond.Broadcast()
			return true
		case sp.head:
			sp.cond.Wait() // backpressure: the writer is emptying this spool
		default:
			sp.spill(msg)
			return false
		}
	}
}

// spill appends msg to the temporary file, creating it (unlinked at once) on first use. mu held.
func (sp *spool) spill(msg []byte) {
	if sp.file == nil {
		f, err := os.CreateTemp("", "sttfast-spool-*")
		if err != nil {
			sp.spillErr = fmt.Errorf("hold a waiting stream: %w", err)
			sp.cond.Broadcast()
			return
		}
		os.Remove(f.Name())
		sp.file = f
	}
	if _, err := sp.file.WriteAt(msg, sp.fileW); err != nil {
		sp.spillErr = fmt.Errorf("hold a waiting stream: %w", err)
		sp.cond.Broadcast()
		return
	}
	sp.fileW += int64(len(msg))
	sp.cond.Broadcast()
}

// setHead marks the spool as the one being written: its reader gets backpressure from now on.
func (sp *spool) setHead() {
	sp.mu.Lock()
	sp.head = true
	sp.cond.Broadcast()
	sp.mu.Unlock()
}

// setDiscard drops everything held and everything to come.
func (sp *spool) setDiscard() {
	sp.mu.Lock()
	sp.dropAll()
	sp.mu.Unlock()
}

// dropAll is setDiscard with mu held.
func (sp *spool) dropAll() {
	sp.discard = true
	for _, c := range sp.chunks {
		putBuf(c)
	}
	sp.chunks, sp.memBytes = nil, 0
	sp.fileR = sp.fileW
	sp.cond.Broadcast()
}

// take returns the next bytes to write, waiting for them; ok is false at the end of the stream.
// Chunks from memory belong to the caller; bytes from the file live in *fileBuf.
func (sp *spool) take(fileBuf *[]byte) (b []byte, fromFile, ok bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		if len(sp.chunks) > 0 {
			c := sp.chunks[0]
			sp.chunks[0] = nil
			sp.chunks = sp.chunks[1:]
			sp.memBytes -= len(c)
			sp.cond.Broadcast()
			return c, false, true
		}
		if sp.fileR < sp.fileW {
			if *fileBuf == nil {
				*fileBuf = make([]byte, 256<<10)
			}
			n := min(int64(len(*fileBuf)), sp.fileW-sp.fileR)
			got, err := sp.file.ReadAt((*fileBuf)[:n], sp.fileR)
			if err != nil && got < int(n) {
				sp.spillErr = fmt.Errorf("read back a waiting stream: %w", err)
				sp.fileR = sp.fileW
				continue
			}
			sp.fileR += n
			if sp.fileR == sp.fileW {
				// Drained: back to memory, and give the disk space back.
				sp.fileR, sp.fileW = 0, 0
				sp.file.Truncate(0)
			}
			sp.cond.Broadcast()
			return (*fileBuf)[:n], true, true
		}
		if sp.eof || sp.spillErr != nil {
			return nil, false, false
		}
		if sp.head && !sp.discard {
			// Nothing held and it is this stream's turn: its reader writes from now on.
			sp.direct = true
			sp.cond.Broadcast()
		}
		sp.cond.Wait()
	}
}

// finish releases the file, runs onDone and returns a spool failure (not a read error: that
// belongs to the stream and goes to onDone).
func (sp *spool) finish() error {
	sp.mu.Lock()
	if sp.file != nil {
		sp.file.Close()
		sp.file = nil
	}
	readErr, spillErr := sp.readErr, sp.spillErr
	sp.mu.Unlock()
	if sp.onDone != nil {
		sp.onDone(readErr)
	}
	return spillErr
}

// bufPool recycles message buffers between the readers and the writer.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// getBuf returns an empty message buffer.
func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

// putBuf recycles a message buffer (oversized ones are left to the GC).
func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 1<<20 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}
