package ctrl

import (
	"errors"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
)

// closedDial dials a listener from a node that assumes a 400 ms max ack delay (so its drain
// lasts 1.2 s or more, its SESSION_CLOSE copies 200 ms or more apart), closes the dialed session
// and returns once the listener's session has ended on the first copy: the dialer is then
// closing, its close delivered, the listener's node still up. With answered false the
// listener's sends are lost from just before the close on, its answer to the close included, so
// that only a later report can end the dialer's drain.
func closedDial(t *testing.T, answered bool) (srv, cli *Node, s *Session) {
	t.Helper()
	mute := &muteConn{}
	srv = testNode(t, Config{Addr: "udp://127.0.0.1:0",
		WrapConn: func(pc dataplane.PacketConn) dataplane.PacketConn { mute.PacketConn = pc; return mute }})
	cli = testNode(t, Config{Addr: "udp://127.0.0.1:0",
		Transport: dataplane.Config{MaxAckDelay: 400 * time.Millisecond}})
	ctx := ctxFor(t)
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mute.mute.Store(!answered)
	s.CloseWithError(0, "done")
	select {
	case <-ss.Done():
	case <-ctx.Done():
		t.Fatal("the listener's session did not end after the dialer's SESSION_CLOSE")
	}
	return srv, cli, s
}

// TestClosingDialEndsOnAnswer: a listener answers the dialer's SESSION_CLOSE with one of its own
// (code 0) as it starts draining, and that answer ends the dialer's drain at once
// (ClosesAnswered): a dial to a node that stays up does not resend its close for three PTOs
// either. The dialer's own close error stays the one it closed with.
func TestClosingDialEndsOnAnswer(t *testing.T) {
	_, cli, s := closedDial(t, true)
	ctx := ctxFor(t)
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the closing session never ended")
	}
	st := cli.Stats()
	if st.ClosesAnswered != 1 || st.DrainsCut != 0 {
		t.Fatalf("ClosesAnswered = %d, DrainsCut = %d; want 1 and 0: the drain ran out on its timer", st.ClosesAnswered, st.DrainsCut)
	}
	var ce *dataplane.CloseError
	if !errors.As(s.Err(), &ce) || ce.Code != 0 || ce.Remote || ce.Reason != "done" {
		t.Fatalf("after the answer the dialer's error is %v, want its own close (code 0, \"done\")", s.Err())
	}
}

// TestClosingDialEndsWhenPeerGone: a dialer that closed its session keeps resending its
// SESSION_CLOSE for three PTOs, to a peer that may have missed the first copy; once the peer's
// node has gone (listen --once exits on the first copy), the ICMP port unreachable a later copy
// brings back ends the drain at once (Session.PeerGone), so a dial does not wait three PTOs for
// nobody before it exits. The dialer assumes a 400 ms max ack delay, which makes its drain 1.2 s
// or more and its copies 200 ms or more apart: the listener's node is gone well before the
// later copies, which must be what ends the drain (DrainsCut), not its timer.
func TestClosingDialEndsWhenPeerGone(t *testing.T) {
	srv, cli, s := closedDial(t, false)
	ctx := ctxFor(t)
	srv.Close()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the closing session never ended")
	}
	if got := cli.Stats().DrainsCut; got != 1 {
		t.Fatalf("DrainsCut = %d, want 1: the drain ran out on its timer, not on the port unreachable", got)
	}
}

// TestPeerGoneNeedsTheSessionsQuote: only a port unreachable from the peer's address that quotes
// the session's own header ends a closing session's drain: not one that quotes nothing (an ICMP
// message that kept too little of the datagram, or a forgery without the session ID), another
// session's header, another address, another error (a host unreachable may pass), or a send
// this host refused.
func TestPeerGoneNeedsTheSessionsQuote(t *testing.T) {
	_, cli, s := closedDial(t, false)
	ctx := ctxFor(t)
	quote := func(id [8]byte) []byte {
		return frame.AppendHeader(nil, &frame.Header{Kind: frame.KindProtected, SessionID: id, PacketNumber: 1, PNLen: 4})
	}
	peer := s.Peer()
	other := netip.AddrPortFrom(peer.Addr(), peer.Port()+1)
	for _, pe := range []*batchio.PeerError{
		{Addr: peer, Err: syscall.ECONNREFUSED, Remote: true},
		{Addr: peer, Err: syscall.ECONNREFUSED, Remote: true, Packet: quote([8]byte{1, 2, 3})},
		{Addr: other, Err: syscall.ECONNREFUSED, Remote: true, Packet: quote(s.ID())},
		{Addr: peer, Err: syscall.EHOSTUNREACH, Remote: true, Packet: quote(s.ID())},
		{Addr: peer, Err: syscall.ECONNREFUSED, Packet: quote(s.ID())},
	} {
		cli.onPeerError(pe)
	}
	if got := cli.Stats().DrainsCut; got != 0 {
		t.Fatalf("DrainsCut = %d after reports that do not name the session from its peer", got)
	}
	// PeerGone leaves the drain to its timer when the TX loop holds the session's lock at that
	// moment, and the next copy's report tries again: so report until the session ends.
	gone := &batchio.PeerError{Addr: peer, Err: syscall.ECONNREFUSED, Remote: true, Packet: quote(s.ID())}
	for cli.Stats().DrainsCut == 0 {
		select {
		case <-s.Done():
			t.Fatal("the drain ran out on its timer: the peer's port unreachable quoting the session did not end it")
		case <-ctx.Done():
			t.Fatal("the closing session never ended")
		default:
		}
		cli.onPeerError(gone)
		runtime.Gosched()
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the closing session never ended")
	}
	if got := cli.Stats().DrainsCut; got != 1 {
		t.Fatalf("DrainsCut = %d, want 1", got)
	}
}
