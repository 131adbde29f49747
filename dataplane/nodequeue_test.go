package dataplane

import (
	"testing"

	"github.com/sttfast/sttfast/dataplane/streambuf"
)

// TestNodeSendBufferBoundsBroadcast broadcasts 8 times the node's bound to a group of sessions
// from another goroutine: Broadcast waits while the node holds its bound, so what the sessions
// hold together stays within it (plus, per session, one message and a writer's reserve), the
// broadcast completes as acknowledgements free room, and the count is 0 once the sessions end.
// The bound counts a shared broadcast copy once per session referencing it, so it also bounds the
// shared copies alive (each has a counted reference, or is the broadcaster's current one), and
// none is left once the sessions end.
func TestNodeSendBufferBoundsBroadcast(t *testing.T) {
	const n, bound, msgSize = 4, 64 << 10, 1000
	baseShared := streambuf.SharedInUse()
	a, b, as, _ := newGroupPairCfg(t, n, Config{NodeSendBuffer: bound})
	noInline(a, b)
	q := &a.e.table.queued
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, msgSize)
		for i := 0; i < 8*bound/(n*msgSize); i++ {
			if _, err := Broadcast(as, msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	slack := int64(n * (msgSize + 2 + int(messageReserve)))
	peak := int64(0)
	maxShared := (bound+slack)/(msgSize+2) + 1
	pumpUntil(t, a, b, nil, func() bool {
		peak = max(peak, q.bytes.Load())
		if peak > bound+slack {
			t.Fatalf("the node holds %d bytes, bound %d", peak, bound)
		}
		if live := streambuf.SharedInUse() - baseShared; live > maxShared {
			t.Fatalf("%d shared broadcast copies alive, want <= %d", live, maxShared)
		}
		return reported(t, done)
	})
	if q.waits.Load() == 0 {
		t.Fatal("the broadcaster never waited for the node's bound")
	}
	for _, s := range as {
		s.terminate(&CloseError{Code: CodeNoError})
	}
	if got := q.bytes.Load(); got != 0 {
		t.Fatalf("the node still counts %d bytes after every session ended", got)
	}
	if live := streambuf.SharedInUse() - baseShared; live != 0 {
		t.Fatalf("%d shared broadcast copies left after every session ended", live)
	}
	t.Logf("peak %d bytes held, bound %d", peak, bound)
}
