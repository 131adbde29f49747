package dataplane

import (
	"errors"
	"testing"

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
