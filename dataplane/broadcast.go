package dataplane

import "context"

// Broadcast writes msg as one message to each session's broadcast stream (opened on first use),
// the primitive behind SendToAll and SendToSessions. Each write is a copy into that session's
// send buffer and, when the stream was idle, one push on its engine's ring; the TX loops then
// pack and send all sessions' packets in batches. It returns how many sessions took the message
// and the first error; a closed session is skipped with its error. Like Stream.Write it blocks
// while a session's send buffer is full, so a slow subscriber slows the broadcaster rather than
// losing messages, and it waits while the node's sessions hold Config.NodeSendBuffer bytes for
// sending together, so that a wide broadcast keeps what the paths can carry queued, not every
// session's whole send buffer.
func Broadcast(sessions []*Session, msg []byte) (int, error) {
	var first error
	sent := 0
	for _, s := range sessions {
		st, err := s.broadcastStream()
		if err == nil {
			s.e.table.queued.wait(int64(s.e.cfg.NodeSendBuffer))
			err = st.WriteMessage(msg)
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
// vanished subscriber cannot stall the others. It returns how many sessions took the message and
// how many were skipped.
func TryBroadcast(sessions []*Session, msg []byte) (sent, skipped int) {
	for _, s := range sessions {
		st, err := s.broadcastStream()
		if err != nil {
			skipped++
			continue
		}
		if ok, _ := st.TryWriteMessage(msg); ok {
			sent++
		} else {
			skipped++
		}
	}
	return sent, skipped
}

// broadcastStream returns the stream broadcasts to s travel on, opening it on first use.
func (s *Session) broadcastStream() (*Stream, error) {
	s.broadcastMu.Lock()
	defer s.broadcastMu.Unlock()
	if s.broadcast != nil {
		return s.broadcast, nil
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
	s.broadcast = st
	return st, nil
}
