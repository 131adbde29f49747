package dataplane

import (
	"errors"
	"math"
	"slices"
	"time"

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
	// Merge with every recorded skip it overlaps or touches: a sender that lost a STREAM_SKIP
	// may announce it again merged with later abandonments, so the same messages can come in
	// ranges of different extents.
	i := 0
	for i < len(ss.skips) && ss.skips[i].hi < lo {
		i++
	}
	j := i
	r := skipRange{lo: lo, hi: hi, first: f.FirstMessage, count: f.Messages}
	for ; j < len(ss.skips) && ss.skips[j].lo <= hi; j++ {
		r = unionSkip(r, ss.skips[j])
	}
	if j == i && len(ss.skips) >= maxSkips {
		return errDropPacket
	}
	// Record first and fill after: a reader that finds filler bytes readable must already see
	// the skip that explains them (it checks skipsLive after loading Readable, and takes s.mu,
	// which this holds until the fill is complete). A reader that reaches a recorded skip waits
	// until all of its bytes are readable, so a fill cut short below costs only a wait.
	if j == i {
		ss.skips = slices.Insert(ss.skips, i, r)
	} else {
		ss.skips[i] = r
		ss.skips = slices.Delete(ss.skips, i+1, j)
	}
	st.skipsLive.Store(int32(len(ss.skips)))
	for off := lo; off < hi; {
		n := min(hi-off, uint64(len(skipFill)))
		_, err := st.recv.Insert(off, skipFill[:n])
		switch {
		case err == nil:
		case errors.Is(err, streambuf.ErrTooFragmented) && off == lo:
			// Nothing written: the sender sends the skip again, and its fill then.
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

// unionSkip is the smallest skip covering a and b, bytes and message numbers.
func unionSkip(a, b skipRange) skipRange {
	end := max(a.first+a.count, b.first+b.count)
	u := skipRange{lo: min(a.lo, b.lo), hi: max(a.hi, b.hi), first: min(a.first, b.first)}
	u.count = end - u.first
	return u
}

// skipCurrent moves the reader past an abandonment covering the current message (at a message
// boundary, the next one). It reports whether it skipped and how many messages the skip
// reported lost. rmu held.
func (st *Stream) skipCurrent(boundary bool) (skipped bool, lost uint64, err error) {
	s := st.s
	if boundary {
		st.msgStart = st.recv.ReadOffset()
	}
	s.mu.Lock()
	ss := st.skipped
	if ss == nil {
		s.mu.Unlock()
		return false, 0, nil
	}
	k := 0
	for k < len(ss.skips) && ss.skips[k].hi <= st.msgStart {
		k++ // passed: skipped already, or read before the skip came
	}
	ss.skips = slices.Delete(ss.skips, 0, k)
	st.skipsLive.Store(int32(len(ss.skips)))
	found := len(ss.skips) > 0 && ss.skips[0].lo <= st.msgStart
	var r skipRange
	if found {
		r = ss.skips[0] // left in place until the reader is past it (removed above next time)
	}
	s.mu.Unlock()
	if !found {
		return false, 0, nil
	}
	// The filler may still be on its way (a fill the receive buffer refused): wait for it.
	drop := r.hi - min(r.hi, st.recv.ReadOffset()) // 0 only from a peer whose skip splits a message
	if drop > 0 {
		if err := st.waitMore(int(drop)); err != nil {
			return false, 0, err
		}
	}
	got := st.recv.Discard(int(drop))
	st.consumed(got)
	st.msgStart = st.recv.ReadOffset()
	st.msgLeft = -1
	cur := st.msgNum
	if !boundary {
		cur-- // the current message's prefix was already counted
	}
	end := r.first + r.count
	if end <= cur {
		st.msgNum = max(st.msgNum, cur)
		return true, 0, nil
	}
	s.mu.Lock()
	ss.lastLost = MessageRange{First: cur, Count: end - cur}
	s.mu.Unlock()
	st.lostMsgs.Add(end - cur)
	st.msgNum = end
	return true, end - cur, nil
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

// onStreamKind records how the peer sends a stream (STREAM_KIND): only a relay, which forwards
// the stream the same way, needs to know. A kind this version does not know is ignored. s.mu held.
func (s *Session) onStreamKind(f *frame.Frame) error {
	st, err := s.streamFor(f.StreamID)
	if st == nil || f.Value != frame.StreamKindProbabilistic {
		return err
	}
	st.peerKind = uint32(min(f.Deadline, math.MaxUint32-1)) + 1
	return nil
}

// PeerOptions says how the peer sends this stream, as far as its STREAM_KIND has arrived: a
// relay opens the streams it forwards a stream to with the same options. A deadline is kept to
// the microsecond, up to about 71 minutes.
func (st *Stream) PeerOptions() OpenStreamOptions {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.peerKind == 0 {
		return OpenStreamOptions{}
	}
	return OpenStreamOptions{Probabilistic: true, Deadline: time.Duration(st.peerKind-1) * time.Microsecond}
}
