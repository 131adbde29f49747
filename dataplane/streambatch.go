package dataplane

import "github.com/sttfast/sttfast/frame"

// Batch message calls. A 64-byte message costs about 110 ns per side in fixed work (profiles/
// README.md): the stream's lock, the buffer's guard, the length prefix and the flow-control
// bookkeeping, each once per message. ReadMessages and WriteMessages do that work once per
// batch, as recvmmsg/sendmmsg (and Go's ipv4.PacketConn ReadBatch/WriteBatch) do for
// datagrams: the caller passes a slice of buffers, the call fills as many as are ready.

// ReadMessages reads whole messages into bufs: message i replaces the contents of bufs[i]
// (bufs[i][:0] extended; it allocates only when bufs[i] lacks capacity). It blocks until at
// least one message is ready, then returns every further message already received, up to
// len(bufs), without waiting for more (recvmmsg with MSG_WAITFORONE). n is how many entries hold
// a message; entries from n on are untouched. At the end of the stream it returns 0 and io.EOF;
// errors are those of ReadMessage, returned only when no message was read.
//
// The stream's read lock and the receive buffer's guard are taken once per call, not once per
// message, and flow-control credit is counted once: with many small messages waiting this is
// several times cheaper per message than a loop of ReadMessage.
func (st *Stream) ReadMessages(bufs [][]byte) (n int, err error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	st.lockRead()
	defer st.unlockRead()
	if n = st.readWholeBatch(bufs); n > 0 {
		return n, nil
	}
	m, err := st.readMessage(bufs[0][:0])
	if err != nil {
		return 0, err
	}
	bufs[0] = m
	return 1 + st.readWholeBatch(bufs[1:]), nil
}

// readLimit returns the offset below which the reader may take whole messages without the
// general path, and false when it must not: inside a partly read message, or when skips are
// pending on a probabilistic stream. The frontier is loaded before the skip count, as in
// ReadMessage, so no byte a skip filled can be taken for data. rmu held, or inside alone.
func (st *Stream) readLimit() (uint64, bool) {
	if st.msgLeft >= 0 {
		return 0, false
	}
	f := st.recv.Frontier()
	if st.skipsLive.Load() > 0 {
		return 0, false
	}
	return f, true
}

// readAlone reads the next message into dst, as readWhole does, without the read lock when no
// other reader is inside or holds the stream (lockRead); it reports false, having read nothing,
// when it cannot, and the caller goes the locked way. The caller passes count to credit, which
// takes no lock of the stream's (countAlone decides how many bytes to count now). One
// compare-and-swap to enter and one add to leave replace the read lock's and the buffer
// guard's two of each.
func (st *Stream) readAlone(dst []byte) (m []byte, count uint64, ok bool) {
	if !st.recv.TryEnterAlone() {
		return dst, 0, false
	}
	m = dst
	if limit, whole := st.readLimit(); whole {
		var used int
		m, used, ok = st.recv.ReadMessageAlone(dst, uint64(st.s.e.cfg.MaxMessageSize), limit)
		if ok {
			st.msgNum++
			count = st.countAlone(uint64(used))
		}
	}
	st.recv.LeaveAlone()
	return m, count, ok
}

// readWhole appends the next message to dst if all of it has arrived. rmu held.
func (st *Stream) readWhole(dst []byte) ([]byte, bool) {
	limit, ok := st.readLimit()
	if !ok {
		return dst, false
	}
	m, used, ok := st.recv.ReadMessage(dst, uint64(st.s.e.cfg.MaxMessageSize), limit)
	if ok {
		st.consumed(used)
		st.msgNum++
	}
	return m, ok
}

// readWholeBatch reads the messages that have wholly arrived into bufs. rmu held.
func (st *Stream) readWholeBatch(bufs [][]byte) int {
	limit, ok := st.readLimit()
	if !ok || len(bufs) == 0 {
		return 0
	}
	n, used := st.recv.ReadMessages(bufs, uint64(st.s.e.cfg.MaxMessageSize), limit)
	if n > 0 {
		st.consumed(used)
		st.msgNum += uint64(n)
	}
	return n
}

// WriteMessages sends each of msgs as one message, in order, as a loop of WriteMessage would,
// and returns how many it buffered; it blocks while the send buffer or the session's budget is
// full, and n < len(msgs) comes with the error that stopped it (ErrMessageTooLarge for msgs[n],
// a deadline, the stream's end). Messages that fit in the send buffer are written whole or not
// at all, so a deadline never leaves part of one in the stream.
//
// The stream's write lock, the budget, the send buffer's guard and the TX loop's wake-up are
// taken once per run of messages that fit, not once per message. On a probabilistic stream each
// message is recorded on its own (its loss class and number), so there it is such a loop.
func (st *Stream) WriteMessages(msgs [][]byte) (n int, err error) {
	if st.prob != nil {
		for n = range msgs {
			if err = st.WriteMessage(msgs[n]); err != nil {
				return n, err
			}
		}
		return len(msgs), nil
	}
	st.lockWrite()
	defer st.endWrite()
	for n < len(msgs) && err == nil {
		var k int
		k, err = st.writeRun(msgs[n:])
		n += k
	}
	if n > 0 {
		// Only now does the TX loop hear of the batch, so its messages leave packed together;
		// what was written before an error leaves too.
		st.kick()
	}
	return n, err
}

// writeRun writes msgs[0] and as many of the messages after it as fit at once, waiting for room
// for msgs[0] only. wmu held.
func (st *Stream) writeRun(msgs [][]byte) (int, error) {
	if st.wclosed.Load() {
		return 0, ErrStreamClosed
	}
	if err := st.failure(); err != nil {
		return 0, err
	}
	first := msgs[0]
	if len(first) > st.s.e.cfg.MaxMessageSize {
		return 0, ErrMessageTooLarge
	}
	need := prefixed(first)
	if need > st.wholeLimit() {
		var hdr [8]byte
		h := putPrefix(hdr[:], first)
		if err := st.fillAll(hdr[:h], first); err != nil {
			return 0, err
		}
		st.kick()
		return 1, nil
	}
	if err := st.waitSpace(need); err != nil {
		return 0, err
	}
	want := st.runBytes(msgs, st.send.Space())
	got, err := st.charge(need, want)
	if err != nil {
		return 0, err
	}
	k, used := st.send.WriteMessages(msgs, got)
	st.uncharge(int64(got-used), nil)
	return k, nil
}

// runBytes is the size, prefixes included, of the longest run at the head of msgs that fits in
// room, each message at most MaxMessageSize.
func (st *Stream) runBytes(msgs [][]byte, room int) int {
	total := 0
	for _, m := range msgs {
		if len(m) > st.s.e.cfg.MaxMessageSize {
			break
		}
		need := prefixed(m)
		if total+need > room {
			break
		}
		total += need
	}
	return total
}

// prefixed is the stream bytes msg takes: its varint length and itself.
func prefixed(msg []byte) int { return frame.VarintLen(uint64(len(msg))) + len(msg) }

// putPrefix writes msg's varint length into hdr and returns its size.
func putPrefix(hdr []byte, msg []byte) int { return frame.PutVarint(hdr, uint64(len(msg))) }
