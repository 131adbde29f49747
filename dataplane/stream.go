package dataplane

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/dataplane/delivery"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/ring"
)

// Stream is one ordered, reliable, message-preserving flow inside a session. Each Write (or
// WriteMessage) is one message; ReadMessage returns whole messages and Read returns their bytes
// without boundaries, so a Stream is also an io.ReadWriteCloser. One goroutine may write while
// another reads; concurrent writers (or readers) are serialized.
type Stream struct {
	id   uint64
	s    *Session
	send streambuf.SendBuffer
	recv streambuf.RecvBuffer

	// --- guarded by s.mu ---
	nextOff    uint64 // first byte never sent
	peerMax    uint64 // peer's MAX_STREAM_DATA
	lost       rangeList
	finWanted  bool
	finalSize  uint64
	finSent    bool
	finAcked   bool
	ourMax     uint64 // MAX_STREAM_DATA advertised
	highRecv   uint64
	peerFin    bool
	peerFinal  uint64
	resetRecvd bool
	resetSent  bool
	inReady    bool
	readyNext  *Stream
	readDone   bool // the reader is gone: incoming data is discarded
	removed    bool
	blocked    bool // waiting for MAX_STREAM_DATA
	sendGone   bool // send buffer released (reset, or the session ended)
	failErr    error

	queued        atomic.Bool // in the session's ready list, or about to be
	creditPending atomic.Bool
	// dataIn: the RX loop delivered data on the stream since its last write kicked the TX work,
	// so that write answers it and goes out inline even right after an inline send (runInline).
	dataIn atomic.Bool
	// kicked: the stream's writes kicked the TX work since its reader last polled the socket
	// (pollFor): only a reader waiting for the answer to its own stream's write polls, not one
	// of a one-way stream that happens to share an engine with an exchange.
	kicked atomic.Bool
	// crowded: another stream was in the session at the same time as this one (set under s.mu,
	// never cleared): the reader then counts its credit at once (countAlone).
	crowded      atomic.Bool
	advertised   atomic.Uint64 // mirror of ourMax for the reader
	rxWindow     atomic.Uint64 // mirror of rxTune.size for the reader
	rxTune       windowTuner   // the receive window's auto-tuning (autotune.go); s.mu
	peerMaxPub   atomic.Uint64 // mirror of peerMax, so a writer checks growth without s.mu
	sendEpochAt  recovery.Time // the send buffer's growth epoch (autotune.go); wmu
	sendEpochOff uint64        // acknowledged offset when it began; wmu
	wclosed      atomic.Bool
	rclosed      atomic.Bool
	failed       atomic.Pointer[error]
	charged      atomic.Int64 // bytes of the session's send budget held (chargeClosed: none ever again)
	reserve      int64        // the part of charged not yet written: the writer's reserve (chargeMessage); wmu or writeAlone
	holdsReserve atomic.Bool  // reserve > 0 may hold, so an acknowledgement looks (unchargeAcked)
	reserveDue   atomic.Bool  // an acknowledgement asks the writer to give its reserve back

	// wmu (rmu) serializes the writers (readers) that may block; they also hold the send
	// (receive) buffer (lockWrite, lockRead), which keeps out writeAlone (readAlone): a call
	// that cannot block enters its buffer alone instead of taking the lock. The fields marked
	// wmu (rmu) belong to whichever of the two is in.
	wmu, rmu  sync.Mutex
	rwake     *ring.Waker
	wwake     *ring.Waker
	msgLeft   int64  // reader: bytes left of the current message, -1 at a boundary (rmu)
	uncounted uint64 // reader: bytes read alone not yet added to the session's consumed count (countAlone; rmu)
	readDl    atomic.Int64
	writeDl   atomic.Int64
	dlTimerMu sync.Mutex

	// Probabilistic delivery (probstream.go, probrecv.go).
	prob      *probSender  // set at open on a probabilistic stream, nil otherwise; state under s.mu
	skipped   *skipState   // receiver: made by the first STREAM_SKIP (s.mu)
	peerKind  uint32       // receiver: the peer's STREAM_KIND deadline in µs + 1, 0 while none heard (s.mu)
	skipsLive atomic.Int32 // len(skipped.skips), so the reader looks only when there is something
	msgStart  uint64       // reader: offset of the current message's length prefix (rmu)
	msgNum    uint64       // reader: number of the current (or next) message (rmu)
	lostMsgs  atomic.Uint64
}

// newStream creates a stream and registers it. s.mu held.
func (s *Session) newStream(id uint64) *Stream {
	cfg := &s.e.cfg
	st := &Stream{
		id:      id,
		s:       s,
		peerMax: InitialMaxStreamData,
		ourMax:  uint64(cfg.StreamWindow),
		rwake:   ring.NewWaker(),
		wwake:   ring.NewWaker(),
		msgLeft: -1,
	}
	st.advertised.Store(st.ourMax)
	st.rxTune.init(st.ourMax, recovery.Now())
	st.rxWindow.Store(st.ourMax)
	st.send.Init(cfg.SendBuffer)
	st.recv.Init(cfg.StreamWindow)
	if st.ourMax > InitialMaxStreamData {
		// The peer assumes the protocol's initial window until told otherwise: tell it now.
		st.creditPending.Store(true)
		s.creditq = append(s.creditq, st)
	}
	if s.streams == nil {
		s.streams = make(map[uint64]*Stream)
	}
	if len(s.streams) > 0 {
		// Its readers may no longer hold back their credit (countAlone). One loop, on the
		// second stream: after it, every stream was already crowded when it was made.
		st.crowded.Store(true)
		if len(s.streams) == 1 {
			for _, o := range s.streams {
				o.crowded.Store(true)
			}
		}
	}
	s.streams[id] = st
	return st
}

// ID is the stream id (even: opened by the initiator, odd: by the responder).
func (st *Stream) ID() uint64 { return st.id }

// Session is the session carrying the stream.
func (st *Stream) Session() *Session { return st.s }

func (st *Stream) failure() error {
	if p := st.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail makes every blocked and future operation return err. s.mu held.
func (st *Stream) fail(err error) {
	if err == nil || st.failErr != nil {
		return
	}
	st.failErr = err
	st.failed.Store(&err)
	st.rwake.Notify()
	st.wwake.Notify()
}

// Write sends p as one message. It blocks while the stream's send buffer or the session's send
// budget (Config.SessionSendBuffer) is full.
func (st *Stream) Write(p []byte) (int, error) {
	if err := st.WriteMessage(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteMessage sends msg as one message; msg may be larger than the send buffer, in which case it
// streams through as the peer acknowledges. It returns once msg is buffered, not delivered.
func (st *Stream) WriteMessage(msg []byte) error {
	if len(msg) > st.s.e.cfg.MaxMessageSize {
		return ErrMessageTooLarge
	}
	if st.writeAlone(msg) {
		st.kick()
		st.writerDone()
		return nil
	}
	class := st.classOf(msg) // before taking any lock: it reads every byte
	st.lockWrite()
	err := st.writeMessage(msg, class)
	st.endWrite()
	return err
}

// writeAlone writes msg whole without the write lock when nothing can make the call wait or
// fail: no other writer is inside, the stream is open, the send buffer has room and the budget
// is taken without waiting (chargeQuick). It reports false, having written nothing, otherwise:
// the caller goes the locked way, which waits and reports errors. A small message thus pays one
// compare-and-swap to enter, the publishing store and one add to leave, where the lock and the
// buffer's guard cost two of each. Probabilistic streams record each message under the lock,
// so they never come here.
func (st *Stream) writeAlone(msg []byte) bool {
	if st.prob != nil || !st.send.TryEnterAlone() {
		return false
	}
	var hdr [8]byte
	n := frame.PutVarint(hdr[:], uint64(len(msg)))
	need := n + len(msg)
	ok := !st.wclosed.Load() && st.failed.Load() == nil && need <= st.send.Space() &&
		need <= st.s.e.cfg.SessionSendBuffer && st.chargeQuick(need)
	if ok {
		st.send.Write2Alone(hdr[:n], msg) // all of it: need bytes were free and still are
	}
	st.send.LeaveAlone()
	return ok
}

// lockWrite takes the stream's write side for a call that may block: the write lock, which
// serializes such calls, and then the send buffer's hold, which keeps writeAlone out and waits
// for one inside.
func (st *Stream) lockWrite() {
	st.wmu.Lock()
	st.send.Hold()
}

// tryLockWrite is lockWrite that gives up, reporting false, instead of waiting.
func (st *Stream) tryLockWrite() bool {
	if !st.wmu.TryLock() {
		return false
	}
	if !st.send.TryHold() {
		st.wmu.Unlock()
		return false
	}
	return true
}

// unlockWrite ends lockWrite (or a successful tryLockWrite).
func (st *Stream) unlockWrite() {
	st.send.Unhold()
	st.wmu.Unlock()
}

// endWrite ends a write call that held the write side: unlockWrite, then writerDone.
func (st *Stream) endWrite() {
	st.unlockWrite()
	st.writerDone()
}

// tryBeginWrite starts a write of a size-byte message that must not wait: it reports false
// when another writer holds the stream, and fails for a message over MaxMessageSize or a stream
// closed for writing or failed. On true the caller holds the write side and ends with endWrite.
func (st *Stream) tryBeginWrite(size int) (bool, error) {
	if size > st.s.e.cfg.MaxMessageSize {
		return false, ErrMessageTooLarge
	}
	if !st.tryLockWrite() {
		return false, nil
	}
	err := st.failure()
	if st.wclosed.Load() {
		err = ErrStreamClosed
	}
	if err != nil {
		st.endWrite()
		return false, err
	}
	return true, nil
}

// lockRead and unlockRead are lockWrite and unlockWrite for the read side: the read lock and
// the receive buffer's hold, which keeps readAlone out.
func (st *Stream) lockRead() {
	st.rmu.Lock()
	st.recv.Hold()
	if u := st.uncounted; u > 0 { // a reader about to wait counts everything it read
		st.uncounted = 0
		st.credit(u)
	}
}

func (st *Stream) unlockRead() {
	st.recv.Unhold()
	st.rmu.Unlock()
}

// writeMessage is WriteMessage under wmu.
func (st *Stream) writeMessage(msg []byte, class delivery.Class) error {
	if st.wclosed.Load() {
		return ErrStreamClosed
	}
	if err := st.failure(); err != nil {
		return err
	}
	var hdr [8]byte
	n := frame.PutVarint(hdr[:], uint64(len(msg)))
	if need := n + len(msg); need <= st.wholeLimit() {
		// Wait for room for the whole message and then write it at once, so a deadline can
		// never leave half a message in the stream.
		if err := st.waitSpace(need); err != nil {
			return err
		}
		if err := st.chargeMessage(need); err != nil {
			return err
		}
		if st.prob != nil {
			st.recordMessage(need, class)
		}
		if w := st.send.Write2(hdr[:n], msg); w < need {
			// The buffer was released (reset, or the session's end) since waitSpace.
			st.uncharge(int64(need-w), nil)
			return st.closedErr()
		}
	} else {
		if st.prob != nil {
			st.recordMessage(need, class)
		}
		if err := st.fillAll(hdr[:n], msg); err != nil {
			return err
		}
	}
	// Only now does the TX loop hear of it, so a small message leaves in one packet with its
	// length prefix rather than the prefix racing ahead alone.
	st.kick()
	return nil
}

// wholeLimit is the largest message (with its length prefix) written at once rather than
// streamed through: it must fit the stream's buffer and the session's budget together.
func (st *Stream) wholeLimit() int {
	return min(st.send.Capacity(), st.s.e.cfg.SessionSendBuffer)
}

// fillAll streams a message larger than the send buffer through it. If the write fails part way
// (a deadline), the stream's framing cannot be repaired: the stream is aborted with
// CodeWriteAbandoned and the peer sees ErrStreamReset. wmu held.
func (st *Stream) fillAll(hdr, msg []byte) error {
	err := st.fill(hdr)
	if err == nil {
		err = st.fill(msg)
	}
	if err == ErrTimeout {
		st.CloseWithError(CodeWriteAbandoned)
	}
	return err
}

// waitSpace blocks until the send buffer has room for n bytes. wmu held.
func (st *Stream) waitSpace(n int) error {
	for st.send.Space() < n {
		st.maybeGrowSend()
		if st.send.Space() >= n {
			break
		}
		st.kick() // let the TX loop send what is buffered, so acknowledgements free room
		st.wwake.Arm()
		if st.send.Space() >= n {
			st.wwake.Disarm()
			break
		}
		if err := st.failure(); err != nil {
			st.wwake.Disarm()
			return err
		}
		st.returnReserve() // a writer blocked on its buffer holds no budget it cannot use
		err := st.park(st.wwake, &st.writeDl)
		st.wwake.Disarm()
		if err != nil {
			return err
		}
	}
	return nil
}

// TryWriteMessage writes msg as one message only if the send buffer has room for all of it right
// now, and reports whether it did; it never blocks and never writes part of a message.
func (st *Stream) TryWriteMessage(msg []byte) (bool, error) {
	if ok, err := st.tryBeginWrite(len(msg)); !ok {
		return false, err
	}
	defer st.endWrite()
	var hdr [8]byte
	n := frame.PutVarint(hdr[:], uint64(len(msg)))
	need := n + len(msg)
	if st.send.Space() < need {
		return false, nil
	}
	if ok, err := st.tryCharge(need); !ok {
		return false, err
	}
	if st.prob != nil {
		st.recordMessage(need, st.classOf(msg))
	}
	st.uncharge(int64(need-st.send.Write2(hdr[:n], msg)), nil)
	st.kick()
	return true, nil
}

// tryCharge takes need bytes of the session's send budget for a write that must not wait, and
// reports whether it did: only when no writer is waiting for the budget (a try never jumps the
// queue) and the budget has that much now. wmu held.
func (st *Stream) tryCharge(need int) (bool, error) {
	b := st.s.sendBudget()
	if b.nwait.Load() != 0 {
		return false, nil
	}
	m := b.grab(int64(need), int64(need))
	if m == 0 {
		return false, nil
	}
	if _, err := st.addCharge(b, m); err != nil {
		return false, err
	}
	return true, nil
}

// fill copies b into the send buffer as the buffer and the session's budget make room; when
// either is full it lets the TX loop send what is there and waits for acknowledgements. wmu
// held.
func (st *Stream) fill(b []byte) error {
	for len(b) > 0 {
		if err := st.waitSpace(1); err != nil {
			return err
		}
		k := min(len(b), st.send.Space())
		m, err := st.charge(min(k, budgetGrain, st.s.e.cfg.SessionSendBuffer), k)
		if err != nil {
			return err
		}
		n := st.send.Write(b[:m])
		st.uncharge(int64(m-n), nil)
		b = b[n:]
	}
	return nil
}

// park waits for w, the session's end or the deadline in dl.
func (st *Stream) park(w *ring.Waker, dl *atomic.Int64) error {
	e := st.s.e
	e.parked.Add(1)
	defer e.parked.Add(-1)
	e.endLease(0, true) // this goroutine now waits for the RX loop
	d := dl.Load()
	if d == 0 {
		select {
		case <-w.C():
			return nil
		case <-st.s.done:
			return st.sessionErr()
		}
	}
	wait := time.Until(time.Unix(0, d))
	if wait <= 0 {
		return ErrTimeout
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.C():
		return nil
	case <-st.s.done:
		return st.sessionErr()
	case <-t.C:
		return ErrTimeout
	}
}

// closedErr is a write's error once the send buffer is gone: the stream's failure, else
// ErrStreamClosed (as charge reports it).
func (st *Stream) closedErr() error {
	if err := st.failure(); err != nil {
		return err
	}
	return ErrStreamClosed
}

func (st *Stream) sessionErr() error {
	if err := st.failure(); err != nil {
		return err
	}
	if err := st.s.Err(); err != nil {
		return err
	}
	return ErrSessionClosed
}

// kick makes sure the TX loop will look at the stream: the first write after the stream went
// idle takes the session lock to queue it; later writes only publish their bytes.
func (st *Stream) kick() {
	if st.queued.Load() || !st.queued.CompareAndSwap(false, true) {
		return
	}
	s := st.s
	s.mu.Lock()
	s.pushReady(st)
	s.mu.Unlock()
	if !st.kicked.Load() {
		st.kicked.Store(true)
	}
	s.e.send(s, st.dataIn.Swap(false))
}

// Flush asks the TX loop to send buffered data now, even when FlushDelay would let it wait.
func (st *Stream) Flush() {
	s := st.s
	s.mu.Lock()
	s.flushNow = true
	if st.queued.CompareAndSwap(false, true) {
		s.pushReady(st)
	}
	s.mu.Unlock()
	s.e.send(s, false)
}

// CloseWrite ends the sending half: the peer reads EOF after the last message written so far.
func (st *Stream) CloseWrite() error {
	st.lockWrite()
	defer st.unlockWrite()
	if st.wclosed.Swap(true) {
		return nil
	}
	st.returnReserve()
	s := st.s
	s.mu.Lock()
	if st.failErr == nil && !st.resetSent && !st.resetRecvd {
		st.finWanted = true
		st.finalSize = st.send.End()
		st.queued.Store(true)
		s.pushReady(st)
	}
	s.mu.Unlock()
	s.e.notify(s)
	return nil
}

// Close ends the sending half (like CloseWrite) and stops reading: data still arriving is
// acknowledged and discarded.
func (st *Stream) Close() error {
	err := st.CloseWrite()
	st.closeRead()
	return err
}

// CloseWithError aborts both halves at once with an application code (>= 0x100 by convention);
// unsent and unacknowledged data is dropped and the peer sees ErrStreamReset.
func (st *Stream) CloseWithError(code uint64) {
	s := st.s
	s.mu.Lock()
	if !st.resetSent && !st.resetRecvd && st.failErr == nil {
		st.resetSent = true
		st.lost.clear()
		s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeStreamClose, id: st.id, val: code})
		st.fail(ErrStreamClosed)
		st.dropSend() // nothing written will be sent again: free its memory and budget
		s.maybeRemove(st)
	}
	s.mu.Unlock()
	st.wclosed.Store(true)
	st.closeRead()
	s.e.notify(s)
}

// closeRead stops the reading half and frees its buffer once no reader is inside it.
func (st *Stream) closeRead() {
	if st.rclosed.Swap(true) {
		return
	}
	s := st.s
	s.mu.Lock()
	st.readDone = true
	s.maybeRemove(st)
	s.mu.Unlock()
	st.rwake.Notify()
	st.recv.Release()
}

// SetReadDeadline makes blocked and future reads fail with ErrTimeout after t (zero: no deadline).
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.readDl.Store(deadlineNanos(t))
	st.rwake.Notify()
	return nil
}

// SetWriteDeadline makes blocked and future writes fail with ErrTimeout after t (zero: none). A
// message that fits in the send buffer is written whole or not at all, so the stream stays usable
// after a timeout; a larger message that times out part way aborts the stream
// (CodeWriteAbandoned), because its remaining bytes can no longer be framed.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.writeDl.Store(deadlineNanos(t))
	st.wwake.Notify()
	return nil
}

// SetDeadline sets both deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ReadMessage appends the next whole message to dst and returns the extended slice; it
// allocates only when dst lacks capacity. At the end of the stream it returns io.EOF. If Read
// consumed part of a message, ReadMessage returns the rest of it.
//
// On a probabilistic stream, when the sender abandoned the messages before the next one, it
// returns dst unchanged and ErrMessagesLost (LastLost says which); the next call goes on.
func (st *Stream) ReadMessage(dst []byte) ([]byte, error) {
	if m, count, ok := st.readAlone(dst); ok {
		st.credit(count)
		return m, nil
	}
	st.lockRead()
	defer st.unlockRead()
	if m, ok := st.readWhole(dst); ok {
		return m, nil
	}
	return st.readMessage(dst)
}

// readMessage is ReadMessage's general path: it waits for the prefix and the body, and handles
// skips, partly read messages and errors. rmu held.
func (st *Stream) readMessage(dst []byte) ([]byte, error) {
	if st.msgLeft < 0 {
		if err := st.readPrefix(); err != nil {
			return dst, err
		}
	}
	base := len(dst)
	for st.msgLeft > 0 {
		if err := st.waitReadable(); err != nil {
			return dst, midMessage(err)
		}
		// Readable before the skip check: bytes a skip filled become readable only after the
		// skip is recorded, so none of these r bytes can be filler the check missed.
		r := st.recv.Readable()
		if st.skipsLive.Load() > 0 {
			skipped, lost, err := st.skipCurrent(false)
			if err != nil {
				return dst[:base], midMessage(err)
			}
			if skipped {
				if lost == 0 {
					// The skip named only messages already read: read the next one.
					return st.readMessage(dst[:base])
				}
				return dst[:base], ErrMessagesLost
			}
		}
		n := min(int64(r), st.msgLeft)
		dst = growLen(dst, int(n))
		got := st.recv.Read(dst[len(dst)-int(n):])
		dst = dst[:len(dst)-int(n)+got]
		st.consumed(got)
		st.msgLeft -= int64(got)
	}
	st.msgLeft = -1
	return dst, nil
}

// Read reads message bytes into p, ignoring message boundaries. On a probabilistic stream it
// passes over abandoned messages silently (MessagesLost counts them): a byte reader has no
// boundaries to report a loss at.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	st.lockRead()
	defer st.unlockRead()
	r := 0
	for {
		for st.msgLeft <= 0 {
			if err := st.readPrefix(); err != nil && err != ErrMessagesLost {
				return 0, err
			}
		}
		if err := st.waitReadable(); err != nil {
			return 0, midMessage(err)
		}
		r = st.recv.Readable() // before the skip check, as in ReadMessage
		if st.skipsLive.Load() == 0 {
			break
		}
		skipped, _, err := st.skipCurrent(false)
		if err != nil {
			return 0, midMessage(err)
		}
		if !skipped {
			break
		}
	}
	n := min(int64(r), st.msgLeft, int64(len(p)))
	got := st.recv.Read(p[:n])
	st.consumed(got)
	st.msgLeft -= int64(got)
	if st.msgLeft == 0 {
		st.msgLeft = -1
	}
	return got, nil
}

// readPrefix reads the varint length of the next message. rmu held.
//
// On a probabilistic stream it first skips abandoned messages; ErrMessagesLost reports those,
// and a skip that lost nothing (its messages had been read) is passed over. rmu held.
func (st *Stream) readPrefix() error {
	if err := st.waitReadable(); err != nil {
		return err
	}
	var b [8]byte
	need := 1
	for {
		r := st.recv.Readable() // before the skip check (see ReadMessage)
		if st.skipsLive.Load() > 0 {
			skipped, lost, err := st.skipCurrent(true)
			if err != nil {
				return err
			}
			if skipped {
				if lost > 0 {
					return ErrMessagesLost
				}
				if err := st.waitReadable(); err != nil {
					return err
				}
				continue
			}
		}
		if r > 0 {
			st.recv.Peek(b[:1])
			need = 1 << (b[0] >> 6)
			if r >= need {
				break
			}
		}
		if err := st.waitMore(need); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	st.recv.Peek(b[:need])
	v, n, err := frame.ReadVarint(b[:need])
	if err != nil || n != need {
		st.s.CloseWithError(CodeProtocolViolation, "bad message length")
		return ErrSessionClosed
	}
	if v > uint64(st.s.e.cfg.MaxMessageSize) {
		st.CloseWithError(CodeFlowControl)
		return ErrMessageTooLarge
	}
	st.recv.Discard(need)
	st.consumed(need)
	st.msgStart = st.recv.ReadOffset() - uint64(need)
	st.msgNum++
	st.msgLeft = int64(v)
	return nil
}

// waitReadable blocks until at least one byte is readable, or returns io.EOF at the end of the
// stream or the stream's failure. rmu held.
func (st *Stream) waitReadable() error { return st.waitMore(1) }

func (st *Stream) waitMore(need int) error {
	for {
		if st.recv.Readable() >= need {
			return nil
		}
		if st.pollFor(need) {
			return nil
		}
		st.rwake.Arm()
		if st.recv.Readable() >= need {
			st.rwake.Disarm()
			return nil
		}
		if err := st.readEnd(need); err != nil {
			st.rwake.Disarm()
			return err
		}
		err := st.park(st.rwake, &st.readDl)
		st.rwake.Disarm()
		if err != nil {
			if st.recv.Readable() >= need {
				return nil
			}
			return err
		}
	}
}

// midMessage turns a clean end of stream met inside a message into io.ErrUnexpectedEOF.
func midMessage(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readEnd reports EOF, reset or closure once no more bytes can come. rmu held.
func (st *Stream) readEnd(need int) error {
	if st.rclosed.Load() {
		st.recv.Release()
		return ErrStreamClosed
	}
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case st.resetRecvd:
		return ErrStreamReset
	case st.peerFin && st.recv.ReadOffset() >= st.peerFinal:
		if !st.readDone {
			st.readDone = true
			s.maybeRemove(st)
		}
		return io.EOF
	case st.peerFin && st.recv.Frontier() >= st.peerFinal && int(st.peerFinal-st.recv.ReadOffset()) < need:
		// Every byte has arrived, yet fewer remain than the reader needs (a length prefix cut
		// by the end of the stream): waiting would never end.
		return io.ErrUnexpectedEOF
	case st.failErr != nil:
		return st.failErr
	}
	return nil
}

// consumed returns flow-control credit to the peer once half a window has been read.
func (st *Stream) consumed(n int) {
	if n <= 0 {
		return
	}
	st.credit(uint64(n))
}

// credit adds n read bytes to the session's consumed count and queues the stream's credit
// (half its window read, from its read offset) and the session's (half the session window)
// when due. n may be 0: the stream's own check still runs (countAlone held the bytes back).
func (st *Stream) credit(n uint64) {
	s := st.s
	off := st.recv.ReadOffset()
	streamDue := st.advertised.Load()-off <= st.rxWindow.Load()/2
	sessDue := false
	if n > 0 {
		c := s.consumed.Add(n)
		sessDue = s.advertised.Load()-c <= s.recvWindow()/2
	}
	if !streamDue && !sessDue {
		return
	}
	if streamDue && !st.creditPending.CompareAndSwap(false, true) {
		streamDue = false
	}
	if !streamDue && !sessDue {
		return
	}
	s.mu.Lock()
	if streamDue && !st.removed {
		s.creditq = append(s.creditq, st)
	}
	if sessDue {
		s.needMaxData = true
	}
	s.mu.Unlock()
	s.e.notify(s)
}

// creditBatch is the most a reader of small messages reads alone before it adds them to the
// session's consumed count (countAlone): an atomic add on a counter every reader shares, which
// cost a 64-byte ReadMessage as much as its copy.
const creditBatch = 4 << 10

// countAlone adds n bytes that readAlone took to those not yet counted, and returns how many to
// count now (credit): all of them, unless every one of these holds, in which case it keeps them
// back: fewer than creditBatch (and a sixteenth of the session window), the stream has been the
// session's only one all its life (crowded), bytes are left to read on it, and the session's credit is not due even with
// them counted. So no credit is ever held back from a peer that waits for it: the only reader
// sees the exact count in its due check, a reader that drained its stream (or is about to wait,
// lockRead) counts everything, and what a reader leaving bytes unread holds back is bounded by
// the batch, and only while a second stream, opened since its last read, reads. Inside alone.
func (st *Stream) countAlone(n uint64) uint64 {
	u := st.uncounted + n
	s := st.s
	w := s.recvWindow()
	if u < min(creditBatch, w/16) && !st.crowded.Load() && st.recv.Frontier() != st.recv.ReadOffset() &&
		s.advertised.Load()-(s.consumed.Load()+u) > w/2 {
		st.uncounted = u
		return 0
	}
	st.uncounted = 0
	return u
}

func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// sendSettled reports that everything written has been acknowledged. s.mu held.
func (st *Stream) sendSettled() bool {
	if st.resetSent || st.resetRecvd || st.failErr != nil {
		return true
	}
	if st.send.Acked() < st.send.End() || !st.probSettled() {
		return false
	}
	return !st.finWanted || st.finAcked
}
