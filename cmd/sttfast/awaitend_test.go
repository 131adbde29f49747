package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

func TestClosedByPeer(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("other"), false},
		{&dataplane.CloseError{Code: dataplane.CodeNoError, Remote: true}, true},
		{&dataplane.CloseError{Code: dataplane.CodeShutdown, Remote: true}, true},
		{&dataplane.CloseError{Code: dataplane.CodeNoError}, false},
		{&dataplane.CloseError{Code: dataplane.CodeIdleTimeout}, false},
	} {
		if got := closedByPeer(c.err); got != c.want {
			t.Errorf("closedByPeer(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestAwaitEnd checks both ends of a session closed by one of them: the closed side's awaitEnd
// returns at the peer's SESSION_CLOSE (its drain is not waited for), the closing side's only
// once its drain is over (Done).
func TestAwaitEnd(t *testing.T) {
	seed, err := stc.NewSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := loopbackNode(t, seed), loopbackNode(t, seed)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cs, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.AcceptStream(ctx); !peerClosedClean(err) {
		t.Fatalf("AcceptStream after the peer's close: %v, want its clean close", err)
	}
	ended := make(chan struct{})
	go func() {
		awaitEnd(ss)
		awaitEnd(cs)
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(guard):
		t.Fatalf("awaitEnd did not return within %v", guard)
	}
	select {
	case <-cs.Done():
	default:
		t.Fatal("awaitEnd returned on the closing side before its drain was over")
	}
}

// loopbackNode starts a node with seed on a loopback UDP port of its own, closed when the test
// ends: an in-process peer for the command's tests.
func loopbackNode(t *testing.T, seed *stc.Seed) *ctrl.Node {
	t.Helper()
	n, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}
