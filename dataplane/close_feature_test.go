package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// TestCloseSentWhenTxLoopLate: a TX loop that comes to a closing session only after its drain
// period (a loaded machine: the close call, then nothing scheduled for longer than three PTOs)
// still sends SESSION_CLOSE before the session goes, and the drain then runs from that copy, so
// the peer learns the code and reason instead of waiting for its idle timeout. Before, the late
// loop found the drain deadline passed and removed the session without a single copy (seen as
// TestShutdownTellsPeers/clean failing under load: "idle timeout", not code 8).
func TestCloseSentWhenTxLoopLate(t *testing.T) {
	a, b := newPair(t, Config{})
	a.s.CloseWithError(CodeShutdown, "late loop")
	a.s.mu.Lock()
	drainAt := a.s.drainAt
	a.s.mu.Unlock()
	late := drainAt + recovery.Time(1e9) // a second past the drain: no copy went out meanwhile

	a.stepAt(late)
	closing, _ := takeCopies(a)
	if len(closing) == 0 {
		t.Fatal("the late TX loop ended the closing session without sending SESSION_CLOSE")
	}
	select {
	case <-a.s.Done():
		t.Fatal("the session went at its first SESSION_CLOSE: no drain left to answer stragglers")
	default:
	}
	inject(b, closing...)
	var ce *CloseError
	if st := sessState(b.s.state.Load()); st != stateDraining || !errors.As(b.s.Err(), &ce) ||
		ce.Code != CodeShutdown || !ce.Remote || ce.Reason != "late loop" {
		t.Fatalf("peer after the late SESSION_CLOSE: state %d, err %v; want draining with the remote code %d", st, b.s.Err(), CodeShutdown)
	}

	// The drain now runs from that copy: the session goes once it is over, not before.
	a.s.mu.Lock()
	newDrain := a.s.drainAt
	a.s.mu.Unlock()
	if newDrain <= late {
		t.Fatalf("drain deadline %d not moved past the first copy at %d", newDrain, late)
	}
	a.stepAt(newDrain)
	select {
	case <-a.s.Done():
	default:
		t.Fatal("the session outlived its drain")
	}
}

// TestPeerGoneEndsDrain: a port unreachable from the peer's address (Session.PeerGone) ends the
// drain of a session that closed and sent its SESSION_CLOSE: the TX loop's next pass removes it,
// long before its three PTOs. It ends nothing else: an open session, a closing session that has
// not sent its close yet (the peer must still get one), a report from another address, a
// draining session (it received the peer's close and sends nothing).
func TestPeerGoneEndsDrain(t *testing.T) {
	a, b := newPair(t, Config{})
	peer := a.s.Peer()
	other := netip.AddrPortFrom(peer.Addr(), peer.Port()+1)
	if a.s.PeerGone(peer) {
		t.Fatal("an open session's drain ended: it has none")
	}
	a.s.CloseWithError(CodeShutdown, "bye")
	if a.s.PeerGone(peer) {
		t.Fatal("the drain ended before the first SESSION_CLOSE went out")
	}
	now := recovery.Now()
	a.stepAt(now)
	closing, _ := takeCopies(a)
	if len(closing) == 0 {
		t.Fatal("no SESSION_CLOSE sent")
	}
	if a.s.PeerGone(other) {
		t.Fatal("a report from another address ended the drain")
	}
	// The drain of a long path (three PTOs of a second each, the 2 s cap), so that no loaded
	// machine's clock passes it during the test.
	a.s.mu.Lock()
	if a.s.drainAt <= now {
		t.Fatalf("drain deadline %d not after the close at %d", a.s.drainAt, now)
	}
	drainAt := now + recovery.Time(2*time.Second)
	a.s.drainAt = drainAt
	a.s.mu.Unlock()
	if !a.s.PeerGone(peer) {
		t.Fatal("the peer's port unreachable did not end the drain")
	}
	a.stepAt(recovery.Now()) // inside the drain it had
	select {
	case <-a.s.Done():
	default:
		t.Fatal("the session outlived a drain its peer's port unreachable ended")
	}
	if got := a.e.Stats().DrainsCut; got != 1 {
		t.Fatalf("DrainsCut = %d, want 1", got)
	}

	inject(b, closing...) // the peer drains silently: nothing of it to cut
	if st := sessState(b.s.state.Load()); st != stateDraining {
		t.Fatalf("peer state %d after SESSION_CLOSE, want draining", st)
	}
	if b.s.PeerGone(b.s.Peer()) {
		t.Fatal("a draining session's drain ended by a port unreachable")
	}
}

// TestCloseAnswered: a session that receives SESSION_CLOSE answers with exactly one SESSION_CLOSE
// as it starts draining, and the answer ends the closer's drain at once (ClosesAnswered), its
// own close error kept. Two sessions that close at the same time end each other's drains with
// their crossing closes and answer neither. A packet without SESSION_CLOSE (a straggler) still
// gets another copy of the close instead.
func TestCloseAnswered(t *testing.T) {
	t.Run("answer", func(t *testing.T) {
		a, b := newPair(t, Config{})
		a.s.CloseWithError(CodeShutdown, "bye")
		a.step()
		closing, _ := takeCopies(a)
		if len(closing) != 1 {
			t.Fatalf("%d datagrams for the close, want 1", len(closing))
		}
		inject(b, closing...)
		b.step()
		answer, _ := takeCopies(b)
		if len(answer) != 1 {
			t.Fatalf("the draining peer sent %d datagrams in answer, want 1", len(answer))
		}
		b.stepAt(recovery.Now())
		if more, _ := takeCopies(b); len(more) != 0 {
			t.Fatalf("the draining peer sent %d more datagrams: it answers once", len(more))
		}
		inject(a, answer...)
		a.stepAt(recovery.Now())
		select {
		case <-a.s.Done():
		default:
			t.Fatal("the closer's drain outlived the peer's answer")
		}
		if got := a.e.Stats().ClosesAnswered; got != 1 {
			t.Fatalf("ClosesAnswered = %d, want 1", got)
		}
		var ce *CloseError
		if !errors.As(a.s.Err(), &ce) || ce.Code != CodeShutdown || ce.Remote {
			t.Fatalf("closer's error %v, want its own code %d", a.s.Err(), CodeShutdown)
		}
	})
	t.Run("crossing", func(t *testing.T) {
		a, b := newPair(t, Config{})
		a.s.CloseWithError(CodeShutdown, "a")
		b.s.CloseWithError(CodeShutdown, "b")
		a.step()
		b.step()
		fromA, _ := takeCopies(a)
		fromB, _ := takeCopies(b)
		inject(a, fromB...)
		inject(b, fromA...)
		now := recovery.Now()
		a.stepAt(now)
		b.stepAt(now)
		for _, x := range []*side{a, b} {
			select {
			case <-x.s.Done():
			default:
				t.Fatal("a closing session outlived the peer's crossing close")
			}
			if got, _ := takeCopies(x); len(got) != 0 {
				t.Fatalf("%d datagrams after the crossing closes: nothing to answer", len(got))
			}
		}
	})
	t.Run("straggler", func(t *testing.T) {
		a, b := newPair(t, Config{})
		st, err := b.s.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		a.s.CloseWithError(CodeShutdown, "bye")
		a.step()
		takeCopies(a)
		data := sendSomething(t, b, st, "late")
		inject(a, data...)
		a.stepAt(recovery.Now())
		again, _ := takeCopies(a)
		if len(again) != 1 {
			t.Fatalf("%d datagrams after a straggler, want one more copy of the close", len(again))
		}
		select {
		case <-a.s.Done():
			t.Fatal("a straggler without SESSION_CLOSE ended the drain")
		default:
		}
		if got := a.e.Stats().ClosesAnswered; got != 0 {
			t.Fatalf("ClosesAnswered = %d after a straggler, want 0", got)
		}
	})
}
