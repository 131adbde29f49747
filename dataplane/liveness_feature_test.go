package dataplane

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// stepAt runs one TX loop iteration at the given time instead of the clock's: a test drives
// x's timers through seconds of virtual time at once.
func (x *side) stepAt(now recovery.Time) {
	x.tx.now = now
	x.tx.drainActive()
	x.tx.runTimers()
	x.tx.serveReady()
	x.tx.send()
}

// TestVanishedPeerDetected kills the receiving side mid-transfer (nothing it would send arrives
// any more, and it receives nothing) and runs the sender's timers in virtual time: the session
// ends by its dead-peer rule (recovery/liveness.go), at least recovery.UnresponsiveAfter after
// the last packet heard and long before the 30 s idle timeout, with a close error that says the
// peer stopped acknowledging.
func TestVanishedPeerDetected(t *testing.T) {
	a, b := newPair(t, Config{})
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Data flows both ways for a while: the sender has RTT samples and a window in flight.
	msg := make([]byte, 32<<10)
	for i := 0; i < 8; i++ {
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		exchangeRound(a, b, nil)
	}
	if err := st.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	a.s.mu.Lock()
	lastHeard := a.s.lastRecv
	a.s.mu.Unlock()

	// b is gone: a keeps sending into the void.
	now := recovery.Now()
	idleAt := lastHeard.Add(30 * time.Second)
	for now <= idleAt {
		a.stepAt(now)
		a.conn.take()
		if sessState(a.s.state.Load()) == stateClosed {
			break
		}
		next := a.tx.heap.min()
		if next == 0 {
			t.Fatal("a live session with data in flight has no timer")
		}
		now = max(next, now+1)
	}
	var ce *CloseError
	if !errors.As(a.s.Err(), &ce) {
		t.Fatalf("session did not end within the idle timeout: err %v", a.s.Err())
	}
	after := now.Sub(lastHeard)
	t.Logf("ended %v after the last packet heard: %v", after, ce)
	if ce.Code != CodeIdleTimeout || ce.Remote || !strings.HasPrefix(ce.Reason, "the peer stopped acknowledging (no answer to ") {
		t.Errorf("close error %+v; want the local dead-peer close (code 2)", ce)
	}
	if after < recovery.UnresponsiveAfter || after > 2*recovery.UnresponsiveAfter {
		t.Errorf("ended %v after the last packet heard; want between %v and %v", after, recovery.UnresponsiveAfter, 2*recovery.UnresponsiveAfter)
	}
	if _, werr := st.Write(msg); !errors.Is(werr, ErrSessionClosed) {
		t.Errorf("write after the end: %v", werr)
	}
}

// TestIdleTimeoutReason checks that the idle timeout's close error carries no redundant reason
// phrase: its code says "nothing heard within the idle timeout".
func TestIdleTimeoutReason(t *testing.T) {
	a, _ := newPair(t, Config{IdleTimeout: time.Second})
	a.s.mu.Lock()
	lastHeard := a.s.lastRecv
	a.s.mu.Unlock()
	a.stepAt(lastHeard.Add(time.Second))
	var ce *CloseError
	if !errors.As(a.s.Err(), &ce) || ce.Code != CodeIdleTimeout || ce.Reason != "" {
		t.Fatalf("idle session ended with %v; want code 2 and no reason", a.s.Err())
	}
}
