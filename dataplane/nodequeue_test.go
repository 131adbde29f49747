package dataplane

import "testing"

// TestNodeSendBufferBoundsBroadcast broadcasts 8 times the node's bound to a group of sessions
// from another goroutine: Broadcast waits while the node holds its bound, so what the sessions
// hold together stays within it (plus, per session, one message and a writer's reserve), the
// broadcast completes as acknowledgements free room, and the count is 0 once the sessions end.
func TestNodeSendBufferBoundsBroadcast(t *testing.T) {
	const n, bound, msgSize = 4, 64 << 10, 1000
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
	pumpUntil(t, a, b, nil, func() bool {
		peak = max(peak, q.bytes.Load())
		if peak > bound+slack {
			t.Fatalf("the node holds %d bytes, bound %d", peak, bound)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return true
		default:
			return false
		}
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
	t.Logf("peak %d bytes held, bound %d", peak, bound)
}
