package dataplane

import (
	"errors"

	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
)

// MessageRange names messages of a stream by number (0 for its first message): Count messages
// from First on.
type MessageRange struct {
	First, Count uint64
}

// skipState is a receiver's record of a stream's announced abandonments not yet passed by its
// reader, kept apart so a stream that never hears a STREAM_SKIP pays one pointer for it.
type skipState struct {
	skips    []skipRange  // sorted by lo
	lastLost MessageRange // the messages the last ErrMessagesLost reported
}

// maxSkips bounds the abandonments a receiver keeps ahead of its reader, as streambuf.MaxRanges
// bounds the holes of its buffer: a STREAM_SKIP that would keep one more is dropped unacknowledged
// and the sender sends it again once the reader has moved on.
const maxSkips = streambuf.MaxRanges

// skipFill is what abandoned bytes are filled with in the receive buffer, so that the reader's
// frontier moves over them and it can discard them like bytes it has read.
var skipFill [4096]byte

// onSkip applies a STREAM_SKIP: the sender abandoned f.Messages messages from f.FirstMessage on,
// in bytes [f.Offset, f.Value). The bytes count as received for flow control; the reader skips
// them when it reaches them and reports the loss. s.mu held.
func (s *Session) onSkip(f *frame.Frame) error {
	st, err := s.streamFor(f.StreamID)
	if st == nil {
		return err
	}
	if st.resetRecvd {
		return nil
	}
	lo, hi := f.Offset, f.Value
	if err := s.countReceived(st, hi); err != nil {
		return err
	}
	if st.readDone {
		s.discardCredit(st)
		return nil
	}
	if hi <= st.recv.ReadOffset() {
		return nil // the reader is past it: the messages arrived after all
	}
	if st.skipped == nil {
		st.skipped = new(skipState)
	}
	ss := st.skipped
	i := 0
	for i < len(ss.skips) && ss.skips[i].lo < lo {
		i++
	}
	if i < len(ss.skips) && ss.skips[i].lo == lo {
		return nil // a retransmission
	}
	if len(ss.skips) >= maxSkips {
		return errDropPacket
	}
	// Record first and fill after: a reader that finds filler bytes readable must already see
	// the skip that explains them (it checks skipsLive after loading Readable, and takes s.mu,
	// which this holds until the fill is complete).
	ss.skips = append(ss.skips, skipRange{})
	copy(ss.skips[i+1:], ss.skips[i:])
	ss.skips[i] = skipRange{lo: lo, hi: hi, first: f.FirstMessage, count: f.Messages}
	st.skipsLive.Store(int32(len(ss.skips)))
	for off := lo; off < hi; {
		n := min(hi-off, uint64(len(skipFill)))
		_, err := st.recv.Insert(off, skipFill[:n])
		switch {
		case err == nil:
		case errors.Is(err, streambuf.ErrTooFragmented) && off == lo:
			// Nothing written: forget the skip; the sender sends it again.
			ss.skips = append(ss.skips[:i], ss.skips[i+1:]...)
			st.skipsLive.Store(int32(len(ss.skips)))
			return errDropPacket
		default:
			s.protocolError(CodeFlowControl, "stream skip beyond window")
			return errFrame
		}
		off += n
	}
	s.wakeLater(st.rwake)
	return nil
}

// skipCurrent moves the reader past an abandonment covering the current message (at a message
// boundary, the next one). It reports whether it skipped and how many messages the skip
// reported lost. rmu held.
func (st *Stream) skipCurrent(boundary bool) (skipped bool, lost uint64) {
	s := st.s
	if boundary {
		st.msgStart = st.recv.ReadOffset()
	}
	s.mu.Lock()
	ss := st.skipped
	if ss == nil {
		s.mu.Unlock()
		return false, 0
	}
	k := 0
	for k < len(ss.skips) && ss.skips[k].hi <= st.msgStart {
		k++ // stale: the reader passed these bytes before the skip came
	}
	found := k < len(ss.skips) && ss.skips[k].lo <= st.msgStart
	var r skipRange
	if found {
		r = ss.skips[k]
		k++
	}
	n := copy(ss.skips, ss.skips[k:])
	ss.skips = ss.skips[:n]
	st.skipsLive.Store(int32(n))
	s.mu.Unlock()
	if !found {
		return false, 0
	}
	// onSkip filled [lo, hi) before recording it, so these bytes are below the frontier.
	drop := r.hi - min(r.hi, st.recv.ReadOffset()) // 0 only from a peer whose skip splits a message
	got := st.recv.Discard(int(drop))
	st.consumed(got)
	st.msgLeft = -1
	cur := st.msgNum
	if !boundary {
		cur-- // the current message's prefix was already counted
	}
	end := r.first + r.count
	if end <= cur {
		return true, 0
	}
	s.mu.Lock()
	ss.lastLost = MessageRange{First: cur, Count: end - cur}
	s.mu.Unlock()
	st.lostMsgs.Add(end - cur)
	st.msgNum = end
	return true, end - cur
}

// MessagesLost is the number of messages the peer abandoned that the reader has skipped so far
// on a probabilistic stream.
func (st *Stream) MessagesLost() uint64 { return st.lostMsgs.Load() }

// LastLost is the range of messages the last ErrMessagesLost reported.
func (st *Stream) LastLost() MessageRange {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.skipped == nil {
		return MessageRange{}
	}
	return st.skipped.lastLost
}
