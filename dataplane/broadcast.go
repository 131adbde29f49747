package dataplane

import (
	"context"

	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
)

// Broadcast writes msg as one message to each session's broadcast stream (opened on first use),
// the primitive behind SendToAll and SendToSessions. The message (with its length prefix) is
// copied once, into a shared reference-counted buffer (streambuf.Shared), and each session's
// send buffer takes a reference to it rather than a copy of its own, so a broadcast to 1000
// sessions touches one hot buffer and each session's small state; each session's TX loop then
// seals its own packets from the shared bytes (keys differ per session), and the copy goes back
// to its pool when the last session has had it acknowledged. The wire is what a WriteMessage of
// msg on each stream sends. It returns how many sessions took the message and the first error; a
// closed session is skipped with its error. Like Stream.Write it blocks while a session's send
// buffer is full, so a slow subscriber slows the broadcaster rather than losing messages, and it
// waits while the node's sessions hold Config.NodeSendBuffer bytes for sending together, so that
// a wide broadcast keeps what the paths can carry queued, not every session's whole send buffer.
// That bound counts a shared message once per session holding a reference (each session's send
// budget is charged its full length): it bounds the bytes waiting to be sent, which every
// session seals and sends on its own, and so also the shared copies those references pin.
func Broadcast(sessions []*Session, msg []byte) (int, error) {
	m, err := newBroadcastCopy(msg)
	if err != nil {
		return 0, err
	}
	defer m.Release()
	var first error
	sent := 0
	for _, s := range sessions {
		st, err := s.broadcastStream()
		if err == nil {
			s.e.table.queued.wait(int64(s.e.cfg.NodeSendBuffer))
			err = st.writeShared(m, len(msg))
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		sent++
	}
	return sent, first
}

// TryBroadcast is Broadcast for live traffic: it never blocks. A session whose send buffer lacks
// room for the whole message is skipped (the message is not partly written), so one slow or
// vanished subscriber cannot stall the others, nor pin more shared copies than its own send
// buffer has room for. It returns how many sessions took the message and how many were skipped.
func TryBroadcast(sessions []*Session, msg []byte) (sent, skipped int) {
	m, err := newBroadcastCopy(msg)
	if err != nil {
		return 0, len(sessions)
	}
	defer m.Release()
	for _, s := range sessions {
		st, err := s.broadcastStream()
		if err != nil {
			skipped++
			continue
		}
		if ok, _ := st.tryWriteShared(m, len(msg)); ok {
			sent++
		} else {
			skipped++
		}
	}
	return sent, skipped
}

// newBroadcastCopy returns the shared copy of msg's stream bytes (length prefix and body).
func newBroadcastCopy(msg []byte) (*streambuf.Shared, error) {
	var hdr [8]byte
	n := frame.PutVarint(hdr[:], uint64(len(msg)))
	m := streambuf.NewShared(hdr[:n], msg)
	if m == nil {
		return nil, ErrMessageTooLarge
	}
	return m, nil
}

// broadcastStream returns the stream broadcasts to s travel on, opening it on first use. Once
// open it is one atomic load: a broadcast visits every session, and a lock round per visit was
// two more atomic operations on a cold line.
func (s *Session) broadcastStream() (*Stream, error) {
	if st := s.broadcast.Load(); st != nil {
		return st, nil
	}
	s.broadcastMu.Lock()
	defer s.broadcastMu.Unlock()
	if st := s.broadcast.Load(); st != nil {
		return st, nil
	}
	select {
	case <-s.done:
		return nil, s.Err()
	default:
	}
	st, err := s.OpenStream(context.Background())
	if err != nil {
		return nil, err
	}
	s.broadcast.Store(st)
	return st, nil
}

// writeShared is WriteMessage for a message already framed in a shared copy: the stream's send
// buffer takes a reference to m instead of copying it. Only broadcast streams use it, so their
// buffers hold references only (streambuf requires one kind per buffer). size is the message's
// length without its prefix. It charges the session's budget the message's full length, without
// a reserve (chargeMessage's), so that the node's count (nodeQueue) holds exactly what the
// broadcast streams hold.
func (st *Stream) writeShared(m *streambuf.Shared, size int) error {
	if size > st.s.e.cfg.MaxMessageSize {
		return ErrMessageTooLarge
	}
	st.lockWrite()
	err := st.writeSharedLocked(m)
	st.endWrite()
	return err
}

// writeSharedLocked is writeShared under lockWrite.
func (st *Stream) writeSharedLocked(m *streambuf.Shared) error {
	if st.wclosed.Load() {
		return ErrStreamClosed
	}
	if err := st.failure(); err != nil {
		return err
	}
	if need := m.Len(); need <= st.wholeLimit() {
		// Wait for room for the whole message, as WriteMessage does.
		if err := st.waitShared(need); err != nil {
			return err
		}
		if _, err := st.charge(need, need); err != nil {
			return err
		}
		if w := st.send.WriteShared(m, 0, need); w < need {
			// The buffer was released (reset, or the session's end) since waitShared.
			st.uncharge(int64(need-w), nil)
			return st.closedErr()
		}
	} else if err := st.fillShared(m); err != nil {
		if err == ErrTimeout {
			st.CloseWithError(CodeWriteAbandoned)
		}
		return err
	}
	st.kick()
	return nil
}

// fillShared streams a shared message larger than the send buffer through it in pieces, each a
// reference to part of m, as fill does for copied bytes. Write side locked.
func (st *Stream) fillShared(m *streambuf.Shared) error {
	for from := 0; from < m.Len(); {
		if err := st.waitShared(1); err != nil {
			return err
		}
		k := min(m.Len()-from, st.send.Space())
		c, err := st.charge(min(k, budgetGrain, st.s.e.cfg.SessionSendBuffer), k)
		if err != nil {
			return err
		}
		n := st.send.WriteShared(m, from, c)
		st.uncharge(int64(c-n), nil)
		if n == 0 {
			return st.closedErr() // released since waitShared
		}
		from += n
	}
	return nil
}

// waitShared is waitSpace for a reference of n bytes: it also needs a free reference slot.
// Write side locked.
func (st *Stream) waitShared(n int) error {
	for !st.sharedRoom(n) {
		st.maybeGrowSend()
		if st.sharedRoom(n) {
			break
		}
		st.kick() // let the TX loop send what is buffered, so acknowledgements free room
		st.wwake.Arm()
		if st.sharedRoom(n) {
			st.wwake.Disarm()
			break
		}
		if err := st.failure(); err != nil {
			st.wwake.Disarm()
			return err
		}
		err := st.park(st.wwake, &st.writeDl)
		st.wwake.Disarm()
		if err != nil {
			return err
		}
	}
	return nil
}

// sharedRoom reports whether the send buffer can take a reference of n bytes now. When only the
// reference ring is full and may still grow, it grows it under the session lock (which holds the
// transport off the ring, as Grow needs): a few doublings in a stream's life. Write side locked.
func (st *Stream) sharedRoom(n int) bool {
	if st.send.Space() < n {
		return false
	}
	if st.send.RefsNeedGrow() {
		s := st.s
		s.mu.Lock()
		if !st.sendGone {
			st.send.GrowRefs()
		}
		s.mu.Unlock()
	}
	return st.send.RefRoom()
}

// tryWriteShared is TryWriteMessage for a shared copy: it writes a reference to m only if the
// send buffer has room for all of it right now, and never blocks. size is the message's length
// without its prefix.
func (st *Stream) tryWriteShared(m *streambuf.Shared, size int) (bool, error) {
	if ok, err := st.tryBeginWrite(size); !ok {
		return false, err
	}
	defer st.endWrite()
	need := m.Len()
	if !st.sharedRoom(need) {
		return false, nil
	}
	if ok, err := st.tryCharge(need); !ok {
		return false, err
	}
	st.uncharge(int64(need-st.send.WriteShared(m, 0, need)), nil)
	st.kick()
	return true, nil
}
