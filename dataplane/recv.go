package dataplane

import (
	"errors"
	"net/netip"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/dataplane/streambuf"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// errDropPacket makes receive discard an authenticated packet without acknowledging it (the
// sender will retransmit its frames).
var errDropPacket = errors.New("dataplane: packet dropped")

// receive opens and processes one protected packet. s.mu held by the RX loop. It returns the drop
// reason when the packet is discarded.
func (s *Session) receive(rx *rxLoop, d []byte, from netip.AddrPort) (DropReason, bool) {
	state := sessState(s.state.Load()) // every writer holds mu, as this loop does: it stays put
	switch state {
	case stateClosed, stateDraining:
		return DropClosed, false
	}
	h := &rx.hdr
	largest, _ := s.receiver.Largest()
	pn := frame.DecodePacketNumber(largest, h.PacketNumber, h.PNLen)
	if !s.replay.Check(pn) {
		return DropReplay, false
	}
	// Exactly one key is tried: a failed GCM open wipes the buffer, and trying keys would let a
	// forger make the receiver derive or test several.
	aead, next := s.rxKeys.Select(h.KeyPhase, pn)
	if aead == nil {
		return DropAuth, false
	}
	payload, err := aead.Open(d, h.Len, pn)
	if err != nil {
		return DropAuth, false
	}
	if !s.replay.Accept(pn) {
		return DropReplay, false
	}
	now := rx.now
	if next {
		s.rotateRx(now, pn)
	}
	s.lastRecv = now
	s.ctr.packetsRecv.Add(1)
	s.ctr.bytesRecv.Add(uint64(len(d)))
	if state == stateClosing {
		if s.closeCopies > 0 && carriesSessionClose(&rx.walker, &rx.f, payload) {
			// The peer answered our SESSION_CLOSE with its own, or closed as we did: it has
			// ours, or needs none, so there is nothing left to resend.
			s.endDrain()
			s.e.ctr.closesAnswered.Add(1)
		} else {
			// Answer stragglers with SESSION_CLOSE again so a peer that lost it stops too.
			s.closeSent = false
		}
		rx.touch(s)
		return DropClosed, false
	}
	rx.probing, rx.talking = true, false
	ackEliciting, err := s.frames(rx, payload, from)
	if err != nil {
		if err == errDropPacket {
			return DropFragmented, false
		}
		rx.touch(s)
		return DropFrame, false
	}
	if from != s.peer && !rx.probing && !s.initiator {
		s.onNewAddress(rx, from, pn)
	}
	if p := s.path; p != nil && p.chalN && from == p.candidate {
		p.candRecv += len(d) // the anti-amplification budget of ACK copies to it
	}
	if rx.talking && s.path != nil {
		s.path.talkedAt = now
	}
	if !s.established && sessState(s.state.Load()) < stateClosing {
		// The first authentic packet proves both sides hold the keys, unless it is a refusal
		// (FINAL with a non-zero status), which the frames above turned into a close.
		s.becomeOpen()
		s.e.emit(Event{Kind: EventSessionOpened, Session: s})
	}
	s.receiver.OnPacket(now, pn, ackEliciting)
	if ackEliciting {
		if s.receiver.AckNow() {
			rx.touch(s)
		} else {
			// A lone packet's ACK can wait for the reply it may ride on: the TX loop only needs
			// to know the deadline, not to wake now.
			rx.touchAt(s, s.receiver.AckDeadline())
		}
	}
	return 0, true
}

// rotateRx switches to the next receive key after a packet authenticated under it; the old key
// stays for a grace period for reordered packets, then the TX loop erases it.
func (s *Session) rotateRx(now recovery.Time, pn uint64) {
	s.rxKeys.AdvanceAt(pn)
	grace := 3 * s.sender.PTO()
	if grace < time.Second {
		grace = time.Second
	}
	s.rxPrevDrop = now + recovery.Time(grace)
	s.ctr.keyUpdates.Add(1)
	s.e.emit(Event{Kind: EventKeyRotated, Session: s, Code: s.rxKeys.Generation(), Remote: true})
}

// onNewAddress records the source of an authenticated, non-probing packet from a new address
// as a path candidate and challenges it; the responder moves there only when the PATH_RESPONSE
// comes back (so an on-path attacker rewriting source addresses cannot redirect it), and the
// dialer never follows (migrate.go: it chooses its paths). Only the newest packet counts (RFC
// 9000 §9.3): a reordered or delayed one says nothing about where the peer is now (the
// receiver has not recorded pn yet, so Largest is the newest before it). mu held.
func (s *Session) onNewAddress(rx *rxLoop, from netip.AddrPort, pn uint64) {
	if largest, ok := s.receiver.Largest(); ok && pn < largest {
		return
	}
	if !s.e.canSendTo(from) {
		return // another engine's path: this session's engine cannot send there
	}
	if p := s.path; p != nil && p.candidate == from && p.chalN {
		return
	}
	s.validate(from, movePeer)
	s.e.emit(Event{Kind: EventPathCandidate, Session: s})
	rx.touch(s)
}

// frames processes the frames of an authenticated packet. s.mu held.
func (s *Session) frames(rx *rxLoop, payload []byte, from netip.AddrPort) (ackEliciting bool, err error) {
	w := &rx.walker
	f := &rx.f
	w.Reset(payload)
	for {
		ok, err := w.Next(f)
		if err != nil {
			s.protocolError(CodeProtocolViolation, "malformed frame")
			return ackEliciting, err
		}
		if !ok {
			return ackEliciting, nil
		}
		if f.Type.AckEliciting() {
			ackEliciting = true
		}
		switch f.Type {
		case frame.TypePadding, frame.TypePathChallenge, frame.TypePathResponse:
		default:
			rx.probing = false // RFC 9000 §9.1: only a non-probing packet moves the peer
		}
		switch f.Type {
		case frame.TypePadding, frame.TypeAck, frame.TypeNack, frame.TypeKeepAlive, frame.TypeKeepAliveAck,
			frame.TypePathChallenge, frame.TypePathResponse:
		default:
			rx.talking = true
		}
		if err := s.frame(rx, f, from); err != nil {
			return ackEliciting, err
		}
		if sessState(s.state.Load()) >= stateClosing {
			return ackEliciting, nil
		}
	}
}

// frame applies one frame. s.mu held.
func (s *Session) frame(rx *rxLoop, f *frame.Frame, from netip.AddrPort) error {
	switch f.Type {
	case frame.TypePadding, frame.TypeKeepAliveAck, frame.TypeNack:
		// NACK is advisory: the ACK ranges already carry the same information.
	case frame.TypeAck:
		return s.onAck(rx, f)
	case frame.TypeData:
		return s.onData(f.StreamID, f.Offset, f.Data)
	case frame.TypeKeepAlive:
		s.ctrlq = append(s.ctrlq, ctrlFrame{typ: frame.TypeKeepAliveAck, val: f.Value})
	case frame.TypeStreamOpen:
		_, err := s.streamFor(f.StreamID)
		return err
	case frame.TypeStreamFin:
		return s.onFin(f.StreamID, f.Value)
	case frame.TypeStreamSkip:
		return s.onSkip(f)
	case frame.TypeStreamKind:
		return s.onStreamKind(f)
	case frame.TypeStreamClose:
		return s.onReset(f.StreamID) // its code is not surfaced to the reader (ErrStreamReset) yet
	case frame.TypeSessionClose:
		s.onSessionClose(f.Code, f.Data)
		// The answer goes at once, not at the ACK deadline: a process that ends on the close
		// (listen --once) stops its engine right after, and the engine's last pass sends only
		// what is queued.
		rx.touch(s)
	case frame.TypeMaxData:
		if f.Value > s.peerMaxData {
			s.peerMaxData = f.Value
			rx.touch(s)
		}
	case frame.TypeMaxStreamData:
		s.onMaxStreamData(rx, f.StreamID, f.Value)
	case frame.TypeMaxStreams:
		if f.Value > s.peerMaxStreams {
			s.peerMaxStreams = f.Value
			s.signal()
		}
	case frame.TypeKeyUpdate:
		if f.Value > s.rxKeys.Generation() {
			s.protocolError(CodeKeyUpdate, "key generation ahead of key phase")
			return errFrame
		}
	case frame.TypePathChallenge:
		var r pathResponse
		copy(r.data[:], f.Data)
		r.to = from
		if p := s.pathSt(); len(p.resp) < maxPathResponses {
			p.resp = append(p.resp, r)
			rx.touch(s)
		} else {
			s.e.ctr.pathResponsesDropped.Add(1)
		}
	case frame.TypePathResponse:
		s.onPathResponse(rx, f.Data, from)
	case frame.TypeFinal:
		if !s.initiator {
			s.protocolError(CodeProtocolViolation, "FINAL from initiator")
			return errFrame
		}
		if f.Code != 0 {
			s.onSessionClose(f.Code, nil)
		}
	default:
		if f.Type.IsApplication() {
			return s.onApp(rx, f)
		}
		s.protocolError(CodeProtocolViolation, "handshake frame in protected packet")
		return errFrame
	}
	return nil
}

var errFrame = errors.New("dataplane: bad frame")

// protocolError closes the session because the peer broke the protocol. s.mu held.
func (s *Session) protocolError(code uint64, reason string) {
	if s.closeErr != nil {
		return
	}
	s.closeErr = &CloseError{Code: code, Reason: reason}
	s.enterClosing(stateClosing)
}

// onSessionClose ends the session on the peer's SESSION_CLOSE. It then drains silently but for
// one SESSION_CLOSE in answer (serve sends it while closeSent is false), so that the peer's drain
// ends when it arrives instead of resending its close for three PTOs (RFC 9000 §10.2.2 allows
// the same). If this side had closed too without its copy on the wire yet, the answer carries
// its own code. mu held.
func (s *Session) onSessionClose(code uint64, reason []byte) {
	if s.closeErr == nil {
		s.closeErr = &CloseError{Code: code, Remote: true, Reason: string(reason)}
	}
	s.enterClosing(stateDraining)
}

// carriesSessionClose reports whether the opened payload of a packet to a closing session holds
// a SESSION_CLOSE. The payload is parsed and nothing else of it acted on; a malformed payload
// carries none.
func carriesSessionClose(w *frame.Walker, f *frame.Frame, payload []byte) bool {
	w.Reset(payload)
	for {
		ok, err := w.Next(f)
		if err != nil || !ok {
			return false
		}
		if f.Type == frame.TypeSessionClose {
			return true
		}
	}
}

func (s *Session) onAck(rx *rxLoop, f *frame.Frame) error {
	rs := rx.ranges[:0]
	it := f.Ack.Ranges()
	for {
		r, ok := it.Next()
		if !ok {
			break
		}
		rs = append(rs, recovery.Range{Lo: r.Lo, Hi: r.Hi})
	}
	rx.ranges = rs
	delay := time.Duration(f.Ack.Delay) * time.Microsecond
	before := s.sender.BytesInFlight()
	if _, err := s.sender.OnAck(rx.now, rs, delay, s.losses()); err != nil {
		s.protocolError(CodeProtocolViolation, "ack of unsent packet")
		return errFrame
	}
	// The TX loop needs waking only if the ACK opened the window for something waiting to go.
	if (s.sender.BytesInFlight() < before && s.hasFrames()) || s.probes > 0 {
		rx.touch(s)
	}
	if g := s.grp.Load(); g != nil && s.sender.BytesInFlight() < before {
		g.wake(s.e) // room in the group's window: the members queued for it take their turns
	}
	if s.idleProbe && s.sender.InFlightPackets() == 0 {
		// The keep-alive of an idle session came back: release its history until it talks again.
		s.idleProbe = false
		s.sender.Trim()
	}
	return nil
}

// streamFor returns the stream for id, opening peer streams on first sight. It returns nil
// without error for a stream that has already ended (late or retransmitted frames).
func (s *Session) streamFor(id uint64) (*Stream, error) {
	if st := s.streams[id]; st != nil {
		return st, nil
	}
	if id&1 == s.localParity() {
		if id < s.nextLocal {
			return nil, nil
		}
		s.protocolError(CodeProtocolViolation, "frame for a stream never opened")
		return nil, errFrame
	}
	idx := id >> 1
	if idx < s.peerOpened {
		return nil, nil
	}
	if idx >= s.ourMaxStreams {
		s.protocolError(CodeStreamLimit, "stream limit exceeded")
		return nil, errFrame
	}
	// Opening stream n implicitly opens every lower peer stream, so "below peerOpened and not in
	// the table" always means "ended" and a late frame can never resurrect a stream.
	var st *Stream
	for k := s.peerOpened; k <= idx; k++ {
		st = s.newStream(k<<1 | (1 - s.localParity()))
		s.acceptq = append(s.acceptq, st)
		s.e.emit(Event{Kind: EventStreamOpened, Session: s, StreamID: st.id, Remote: true})
	}
	s.peerOpened = idx + 1
	s.signal()
	return st, nil
}

func (s *Session) onData(id, off uint64, data []byte) error {
	st, err := s.streamFor(id)
	if st == nil {
		return err
	}
	if st.resetRecvd {
		return nil
	}
	end := off + uint64(len(data))
	if err := s.countReceived(st, end); err != nil {
		return err
	}
	if st.readDone {
		s.discardCredit(st)
		return nil
	}
	before := st.recv.Frontier()
	advanced, err := st.recv.Insert(off, data)
	switch {
	case err == nil:
	case errors.Is(err, streambuf.ErrTooFragmented):
		return errDropPacket
	default:
		s.protocolError(CodeFlowControl, "stream data beyond window")
		return errFrame
	}
	if advanced {
		s.ctr.streamBytesRecv.Add(st.recv.Frontier() - before)
		if !st.dataIn.Load() { // a load, not a store per packet, in bulk
			st.dataIn.Store(true)
		}
		s.wakeLater(st.rwake)
	}
	return nil
}

// countReceived checks that stream bytes up to end respect flow control and the final size,
// and counts the new ones against the session's window. s.mu held.
func (s *Session) countReceived(st *Stream, end uint64) error {
	if end > st.ourMax {
		s.protocolError(CodeFlowControl, "stream data beyond MAX_STREAM_DATA")
		return errFrame
	}
	if st.peerFin && end > st.peerFinal {
		s.protocolError(CodeProtocolViolation, "stream data beyond final size")
		return errFrame
	}
	if end > st.highRecv {
		s.recvData += end - st.highRecv
		if st.readDone {
			// Nobody reads: count discarded bytes as consumed so credit keeps flowing.
			s.consumed.Add(end - st.highRecv)
		}
		st.highRecv = end
		if s.recvData > s.ourMaxData {
			s.protocolError(CodeFlowControl, "session data beyond MAX_DATA")
			return errFrame
		}
	}
	return nil
}

// discardCredit keeps extending a discarded stream's window so its sender never stalls. mu held.
func (s *Session) discardCredit(st *Stream) {
	if st.ourMax-st.highRecv <= st.rxTune.size/2 && st.creditPending.CompareAndSwap(false, true) {
		s.creditq = append(s.creditq, st)
	}
	if s.advertised.Load()-s.consumed.Load() <= s.recvWindow()/2 {
		s.needMaxData = true
	}
}

func (s *Session) onFin(id, size uint64) error {
	st, err := s.streamFor(id)
	if st == nil {
		return err
	}
	if (st.peerFin && st.peerFinal != size) || size < st.highRecv || size > st.ourMax {
		s.protocolError(CodeProtocolViolation, "bad final size")
		return errFrame
	}
	st.peerFin = true
	st.peerFinal = size
	s.wakeLater(st.rwake)
	return nil
}

func (s *Session) onReset(id uint64) error {
	st, err := s.streamFor(id)
	if st == nil {
		return err
	}
	if st.resetRecvd {
		return nil
	}
	st.resetRecvd = true
	st.lost.clear()
	st.fail(ErrStreamReset)
	st.dropSend()
	s.maybeRemove(st)
	return nil
}

func (s *Session) onMaxStreamData(rx *rxLoop, id, v uint64) {
	st := s.streams[id]
	if st == nil || v <= st.peerMax {
		return
	}
	st.peerMax = v
	st.peerMaxPub.Store(v)
	if st.blocked {
		st.blocked = false
		st.queued.Store(true)
		s.pushReady(st)
		rx.touch(s)
	}
}

// onPathResponse moves the session when the echo of the outstanding challenge comes back from
// the address it was sent to. mu held.
func (s *Session) onPathResponse(rx *rxLoop, data []byte, from netip.AddrPort) {
	p := s.path
	if p == nil || !p.chalN || from != p.candidate || !stc.Equal(data, p.chal[:]) {
		return
	}
	s.validated()
	rx.touch(s)
}

// onApp hands an application frame to its handler, outside the session lock so the handler may
// call back into the session.
func (s *Session) onApp(rx *rxLoop, f *frame.Frame) error {
	if s.app == nil {
		s.app = new(appState)
	}
	if s.app.seen == nil {
		s.app.seen = new(stc.ReplayWindow)
	}
	if !s.app.seen.Accept(f.Value) {
		return nil // a retransmission of a frame already delivered
	}
	hp := s.e.handlers[f.Type-frame.TypeAppMin].Load()
	if hp == nil {
		s.e.CountDrop(DropNoHandler)
		return nil
	}
	s.ctr.appFramesIn.Add(1)
	sink := s.sink
	s.sink = nil
	s.mu.Unlock()
	flushWakes(sink)
	(*hp)(s, f.Type, f.Data)
	s.mu.Lock()
	s.sink = sink
	return nil
}
