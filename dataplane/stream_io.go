package dataplane

import (
	"io"

	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
)

// The byte-stream shortcuts of a Stream (io.WriterTo and io.ReaderFrom), for a command that
// pipes a file or stdin through a stream (sttfast dial and listen): io.Copy then moves the
// bytes between the file and the stream's buffers with no copy in between where the file is a
// real one (readv into the send buffer, writev from the receive buffer, on Linux), and with no
// goroutine or intermediate buffer of the caller's.

// DefaultReadChunk is the message size ReadFrom reads and sends at most: one message per read.
const DefaultReadChunk = 64 << 10

// vecPrefix is the length prefix of a message read straight into the send buffer: its length
// is known only after the read, so room for the longest prefix such a message can have is kept
// in front of it. The protocol wants minimal varints, and 4 bytes is minimal from 2^14 bytes on:
// a shorter read is copied and written as WriteMessage would (vecMinRead).
const vecPrefix = 4

// vecMinRead is the shortest message sent in place: below it the 4-byte prefix is not minimal.
const vecMinRead = 1 << 14

// maxIOV bounds the slices of one vectored call: a 64 MiB message in 16 KiB chunks, plus the
// chunks a prefix or an unaligned start straddles.
func maxIOV(n int) int { return n/streambuf.ChunkSize + 2 }

// WriteTo writes the stream's message bytes to w, boundaries dropped (as Read returns them),
// until the peer ends the stream, and returns how many it wrote; nil at a clean end (io.Copy
// calls it). The bytes go to w straight from the receive buffer: to an *os.File (Linux) with one
// writev per run of readable bytes of a message, to any other writer with one Write per buffer
// chunk. On a probabilistic stream abandoned messages are passed over as Read does.
func (st *Stream) WriteTo(w io.Writer) (int64, error) {
	vw := newVecWriter(w, DefaultReadChunk)
	var total int64
	for {
		n, err := st.writeSome(vw)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// writeSome writes what is readable of the current message to vw (waiting for at least one
// byte) and consumes what vw took. The message logic is Read's.
func (st *Stream) writeSome(vw *vecWriter) (int, error) {
	st.lockRead()
	defer st.unlockRead()
	for st.msgLeft <= 0 {
		if err := st.readPrefix(); err != nil && err != ErrMessagesLost {
			return 0, err
		}
	}
	if err := st.waitReadable(); err != nil {
		return 0, midMessage(err)
	}
	r := st.recv.Readable() // before the skip check, as in ReadMessage
	if st.skipsLive.Load() > 0 {
		skipped, _, err := st.skipCurrent(false)
		if err != nil {
			return 0, midMessage(err)
		}
		if skipped {
			return 0, nil // the caller comes back for the next message
		}
	}
	n := int(min(int64(r), st.msgLeft, int64(vw.max)))
	got, err := st.recv.ReadVec(n, vw.iov, vw.write)
	st.consumed(got)
	st.msgLeft -= int64(got)
	if st.msgLeft == 0 {
		st.msgLeft = -1
	}
	return got, err
}

// vecWriter writes runs of buffer chunks to one writer: writev on a file, Write per chunk
// elsewhere. It is made once per WriteTo, so writing allocates nothing.
type vecWriter struct {
	w     io.Writer
	file  *vecFile // nil: not a file writev can serve
	iov   [][]byte
	max   int // bytes per call
	write func(iov [][]byte) (int, error)
}

func newVecWriter(w io.Writer, max int) *vecWriter {
	vw := &vecWriter{w: w, file: newVecFile(w, maxIOV(max)), iov: make([][]byte, 0, maxIOV(max)), max: max}
	vw.write = vw.writeChunks
	if vw.file != nil {
		vw.write = vw.file.writev
	}
	return vw
}

// writeChunks writes each slice with its own Write.
func (vw *vecWriter) writeChunks(iov [][]byte) (int, error) {
	total := 0
	for _, b := range iov {
		n, err := vw.w.Write(b)
		total += n
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ReadFrom sends everything r yields until io.EOF, one message per read of up to
// DefaultReadChunk bytes, and returns how many bytes it sent (io.Copy calls it). See
// ReadMessagesFrom.
func (st *Stream) ReadFrom(r io.Reader) (int64, error) {
	return st.ReadMessagesFrom(r, DefaultReadChunk, nil)
}

// ReadMessagesFrom sends everything r yields until io.EOF as messages, one per read of up to
// chunk bytes (message boundaries thus follow r's reads), calling sent (when not nil) with each
// message's size once it is buffered. From an *os.File on Linux a read of 16 KiB or more lands
// straight in the send buffer (readv into its chunks behind room for the length prefix): the
// bytes are copied once, by the kernel. Shorter reads, other readers and probabilistic streams
// read into a buffer and write each message as WriteMessage does. The stream's writing half is
// held while r blocks, as a WriteMessage in progress holds it. A read error is returned as is
// (never io.EOF, which ends the copy cleanly); the stream is not closed either way.
func (st *Stream) ReadMessagesFrom(r io.Reader, chunk int, sent func(n int)) (int64, error) {
	if chunk <= 0 || chunk > st.s.e.cfg.MaxMessageSize {
		return 0, ErrMessageTooLarge
	}
	vr := newVecReader(r, st, chunk)
	var total int64
	for {
		n, err := vr.next()
		total += int64(n)
		if n > 0 && sent != nil {
			sent(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// vecReader sends one message per read of its reader: in place through a file's readv where it
// can, else through buf.
type vecReader struct {
	st    *Stream
	r     io.Reader
	file  *vecFile // nil: r is not a file readv can serve
	chunk int
	buf   []byte   // a read that does not go in place lands here
	iov   [][]byte // the send buffer's reserved chunks
	body  [][]byte // iov behind the prefix
}

func newVecReader(r io.Reader, st *Stream, chunk int) *vecReader {
	vr := &vecReader{st: st, r: r, chunk: chunk}
	if st.prob == nil && chunk >= vecMinRead && vecPrefix+chunk <= st.wholeLimit() {
		vr.file = newVecFile(r, maxIOV(vecPrefix+chunk))
	}
	if vr.file != nil {
		vr.iov = make([][]byte, 0, maxIOV(vecPrefix+chunk))
		vr.body = make([][]byte, 0, cap(vr.iov))
		vr.buf = make([]byte, vecMinRead)
	} else {
		vr.buf = make([]byte, chunk)
	}
	return vr
}

// next reads and sends one message; io.EOF once r has no more.
func (vr *vecReader) next() (int, error) {
	if vr.file != nil {
		return vr.nextInPlace()
	}
	n, err := vr.r.Read(vr.buf)
	if n > 0 {
		if werr := vr.st.WriteMessage(vr.buf[:n]); werr != nil {
			return 0, werr
		}
	}
	if err != nil && n > 0 && err != io.EOF {
		// The bytes read are sent; the error is the next call's, as io.Reader allows.
		return n, err
	}
	if n > 0 {
		return n, nil
	}
	if err == nil {
		return 0, nil
	}
	return 0, err
}

// nextInPlace reads one message with readv straight into reserved send-buffer space, writing
// the length prefix in front of it once its length is known. wmu held throughout.
func (vr *vecReader) nextInPlace() (int, error) {
	st := vr.st
	st.lockWrite()
	defer st.endWrite()
	if st.wclosed.Load() {
		return 0, ErrStreamClosed
	}
	if err := st.failure(); err != nil {
		return 0, err
	}
	need := vecPrefix + vr.chunk
	if err := st.waitSpace(need); err != nil {
		return 0, err
	}
	if _, err := st.charge(need, need); err != nil {
		return 0, err
	}
	iov := st.send.ReserveVec(need, vr.iov)
	if iov == nil { // only a Release since waitSpace: the stream is failing
		st.uncharge(int64(need), nil)
		if err := st.failure(); err != nil {
			return 0, err
		}
		return 0, ErrStreamClosed
	}
	body := skipPrefix(iov, vr.body)
	n, rerr := vr.file.readv(body)
	written := 0
	if n >= vecMinRead {
		var hdr [8]byte
		k := frame.PutVarint(hdr[:], uint64(n))
		if k != vecPrefix { // cannot happen for vecMinRead <= n < 2^30: chunk <= MaxMessageSize
			st.send.Commit(0)
			st.uncharge(int64(need), nil)
			return 0, ErrMessageTooLarge
		}
		putAcross(iov, hdr[:k])
		written = k + n
		st.send.Commit(written)
	} else {
		// Too short for a minimal 4-byte prefix: copy it out and write it as WriteMessage does.
		copyAcross(vr.buf[:n], body)
		st.send.Commit(0)
		if n > 0 {
			var hdr [8]byte
			k := frame.PutVarint(hdr[:], uint64(n))
			written = st.send.Write2(hdr[:k], vr.buf[:n]) // fits: need bytes were free and still are
		}
	}
	st.uncharge(int64(need-written), nil)
	if written > 0 {
		st.kick()
	}
	switch {
	case rerr != nil && n > 0:
		return n, nil // sent; the error comes back on the next read
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// skipPrefix returns the slices of iov behind its first vecPrefix bytes, in body[:0].
func skipPrefix(iov, body [][]byte) [][]byte {
	body = body[:0]
	skip := vecPrefix
	for _, b := range iov {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		body = append(body, b[skip:])
		skip = 0
	}
	return body
}

// putAcross writes p at the start of the slices of iov (a prefix may straddle two chunks).
func putAcross(iov [][]byte, p []byte) {
	for _, b := range iov {
		if len(p) == 0 {
			return
		}
		p = p[copy(b, p):]
	}
}

// copyAcross fills dst from the start of the slices of iov.
func copyAcross(dst []byte, iov [][]byte) {
	for _, b := range iov {
		if len(dst) == 0 {
			return
		}
		dst = dst[copy(dst, b):]
	}
}
