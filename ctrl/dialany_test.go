package ctrl

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
)

// The tests of this file hold DialAny (issue 12): addresses tried in order, the next one when
// the previous failed or stayed silent for Config.DialStagger, the first handshake to complete
// wins, and nothing of the others is left behind. The order of the attempts is read from the
// node's trace of its steps (dialTraceForTest), not from the clock.

// closedPort is a UDP port on 127.0.0.1 where nothing listens: a HELLO sent there is answered
// with an ICMP port unreachable.
func closedPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// silentPort is a UDP socket on 127.0.0.1 that takes datagrams and never answers: a firewall
// that drops, as a dial sees it. It returns the address and the socket (to read the HELLOs).
func silentPort(t *testing.T) (string, *net.UDPConn) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String(), c
}

// dialTrace records a node's DialAny steps; hold, when set, runs on each step first (and may
// block it).
type dialTrace struct {
	mu    sync.Mutex
	steps []string
	hold  func(step string)
}

func traceDials(n *Node) *dialTrace {
	tr := &dialTrace{}
	n.dialTraceForTest = func(step string) {
		if tr.hold != nil {
			tr.hold(step)
		}
		tr.mu.Lock()
		tr.steps = append(tr.steps, step)
		tr.mu.Unlock()
	}
	return tr
}

func (tr *dialTrace) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.steps)
}

// checkNothingLeft fails the test if a dial's state outlived DialAny, or the node holds another
// number of sessions than want.
func checkNothingLeft(t *testing.T, n *Node, want int) {
	t.Helper()
	n.dialMu.Lock()
	left := len(n.dials)
	n.dialMu.Unlock()
	if left != 0 {
		t.Errorf("%d HELLO tags still registered after DialAny returned", left)
	}
	if got := n.NumSessions(); got != want {
		t.Errorf("the dialing node holds %d sessions; want %d", got, want)
	}
}

// TestDialAnyNothingListeningFirst: the first address answers "nothing listens" (ICMP); the
// second is dialed at once, without waiting for the stagger, and wins.
func TestDialAnyNothingListeningFirst(t *testing.T) {
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	dead, good := "udp://"+closedPort(t), "udp://"+srv.Addr().String()
	// A stagger far beyond the test's bound: only the failure can start the second attempt.
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", DialStagger: time.Hour})
	tr := traceDials(cli)
	start := time.Now()
	s, i, err := cli.DialAnyIndex(ctxFor(t), dead, good)
	if err != nil {
		t.Fatalf("DialAny(%s, %s): %v", dead, good, err)
	}
	took := time.Since(start)
	if i != 1 || s.Peer() != srv.Addr() {
		t.Fatalf("DialAny settled on address %d (%v); want 1 (%v)", i, s.Peer(), srv.Addr())
	}
	want := []string{"start 0 (first)", "failed 0", "start 1 (failure)", "answered 1", "won 1"}
	if got := tr.get(); !slices.Equal(got, want) {
		t.Fatalf("steps %q; want %q", got, want)
	}
	// The trace's "start 1 (failure)" shows the port unreachable started the next address,
	// not the stagger; the time is only logged.
	t.Logf("settled after %v", took.Round(time.Millisecond))
	acceptSession(t, srv)
	checkNothingLeft(t, cli, 1)
}

// TestDialAnySilentFirst: the first address drops everything; after the stagger the second is
// dialed as well and wins; the first attempt is then cancelled, its HELLOs unregistered.
func TestDialAnySilentFirst(t *testing.T) {
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	silentAt, silent := silentPort(t)
	quiet, good := "udp://"+silentAt, "udp://"+srv.Addr().String()
	const stagger = 100 * time.Millisecond
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", DialStagger: stagger, HandshakeTimeout: time.Minute})
	tr := traceDials(cli)
	start := time.Now()
	s, i, err := cli.DialAnyIndex(ctxFor(t), quiet, good)
	if err != nil {
		t.Fatalf("DialAny(%s, %s): %v", quiet, good, err)
	}
	if i != 1 || s.Peer() != srv.Addr() {
		t.Fatalf("DialAny settled on address %d (%v); want 1 (%v)", i, s.Peer(), srv.Addr())
	}
	want := []string{"start 0 (first)", "start 1 (stagger)", "answered 1", "won 1", "failed 0"}
	if got := tr.get(); !slices.Equal(got, want) {
		t.Fatalf("steps %q; want %q", got, want)
	}
	if took := time.Since(start); took < stagger {
		t.Fatalf("the second address was dialed after %v, before the stagger (%v)", took, stagger)
	}
	silent.SetReadDeadline(time.Now().Add(testTimeout)) // a hang guard only: the HELLO is queued
	if _, _, err := silent.ReadFromUDP(make([]byte, 2048)); err != nil {
		t.Fatalf("the silent address got no HELLO: %v", err)
	}
	acceptSession(t, srv)
	checkNothingLeft(t, cli, 1)
}

// TestDialAnyCancelled: cancelling the context of a DialAny whose addresses are all silent
// ends every attempt: the error says the context ended (for each address), no HELLO tag stays
// registered, no session exists.
func TestDialAnyCancelled(t *testing.T) {
	a, _ := silentPort(t)
	b, _ := silentPort(t)
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", DialStagger: time.Millisecond, HandshakeTimeout: time.Minute})
	tr := traceDials(cli)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	tr.hold = func(step string) {
		if step == "start 1 (stagger)" {
			cancel() // both attempts are under way (the second starts as this returns)
		}
	}
	_, err := cli.DialAny(ctx, "udp://"+a, "udp://"+b)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DialAny cancelled = %v; want context.Canceled", err)
	}
	var de *DialError
	if !errors.As(err, &de) || de.Addr != "udp://"+a {
		t.Fatalf("%v: want a *DialError for the first address", err)
	}
	if want := "sttfast: dial udp://" + a + ": context canceled; udp://" + b + ": context canceled"; err.Error() != want {
		t.Fatalf("%q; want %q", err, want)
	}
	checkNothingLeft(t, cli, 0)
}

// TestDialAnyAllFail: every address refused: the error wraps each (errors.Is holds for their
// reasons) and names each address with its reason, in the order given.
func TestDialAnyAllFail(t *testing.T) {
	a, b := "udp://"+closedPort(t), "udp://"+closedPort(t)
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", DialStagger: time.Hour})
	// The stagger is an hour: b is tried only because a failed, and both errors below are the
	// port unreachables, not a timeout.
	_, err := cli.DialAny(ctxFor(t), a, b)
	if !errors.Is(err, ErrNothingListening) || errors.Is(err, ErrNoAnswer) {
		t.Fatalf("DialAny of two closed ports = %v; want ErrNothingListening", err)
	}
	why := ErrNothingListening.Error()
	if want := "sttfast: dial " + a + ": " + why + "; " + b + ": " + why; err.Error() != want {
		t.Fatalf("%q; want %q", err, want)
	}
	checkNothingLeft(t, cli, 0)
	if _, err := cli.DialAny(ctxFor(t), a, a); err == nil || err.Error() != "sttfast: dial "+a+": "+why+"; "+a+": "+why {
		t.Fatalf("DialAny of one address twice = %v; want it named twice", err)
	}
	if _, err := cli.DialAny(ctxFor(t)); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("DialAny of no address = %v; want ErrBadAddress", err)
	}
	if _, err := cli.DialAny(ctxFor(t), "http://h:1/x", b); !errors.Is(err, ErrBadAddress) || !errors.Is(err, ErrNothingListening) ||
		!strings.Contains(err.Error(), "unknown transport") {
		t.Fatalf("DialAny(http://, closed) = %v; want both reasons", err)
	}
}

// TestDialAnyBothAnswer: when two handshakes complete at the same moment, one session wins and
// the other is closed with code 0 (its peer sees a clean close): no half-open session remains.
func TestDialAnyBothAnswer(t *testing.T) {
	srvA := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	srvB := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", DialStagger: time.Millisecond})
	tr := traceDials(cli)
	// Neither result reaches DialAny before both handshakes are complete: a barrier of two.
	var answered sync.WaitGroup
	answered.Add(2)
	both := make(chan struct{})
	go func() { answered.Wait(); close(both) }()
	tr.hold = func(step string) {
		if strings.HasPrefix(step, "answered ") {
			answered.Done()
			select {
			case <-both:
			case <-time.After(testTimeout): // a hang guard only
			}
		}
	}
	s, i, err := cli.DialAnyIndex(ctxFor(t), "udp://"+srvA.Addr().String(), "udp://"+srvB.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	steps := tr.get()
	if !slices.Contains(steps, "lost 0") && !slices.Contains(steps, "lost 1") {
		t.Fatalf("steps %q: no session lost the race", steps)
	}
	winner, loser := srvA, srvB
	if i == 1 {
		winner, loser = srvB, srvA
	}
	acceptSession(t, winner)
	lost := acceptSession(t, loser)
	select {
	case <-lost.Done():
	case <-ctxFor(t).Done():
		t.Fatal("the losing session was never closed")
	}
	var ce *dataplane.CloseError
	if !errors.As(lost.Err(), &ce) || !ce.Remote || ce.Code != dataplane.CodeNoError {
		t.Fatalf("the losing session ended with %v; want the dialer's close, code 0", lost.Err())
	}
	if s.Err() != nil {
		t.Fatalf("the winning session ended: %v", s.Err())
	}
	cli.dialMu.Lock()
	left := len(cli.dials)
	cli.dialMu.Unlock()
	if left != 0 {
		t.Fatalf("%d HELLO tags left registered", left)
	}
}
