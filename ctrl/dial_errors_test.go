package ctrl

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// The tests of this file check what a failed Dial says, and how soon (issue 11, bugs 1 and 2):
// a send this host refuses and a port where nothing listens end the dial at once with their own
// error, and only a real silence waits for the handshake timeout and says "no answer".

// "At once" is asserted by the error, not by the clock: a dial that waited for its handshake
// timeout (10 s in these tests) ends with ErrNoAnswer, so an ErrSendFailed or ErrNothingListening
// that is not also ErrNoAnswer surfaced before it. The time taken is logged.

// TestDefaultAddrReachesOtherHosts: a node made with no address (the README's dialing node) binds
// every interface, so that its dials can leave through any of them; a node bound to loopback
// could only ever reach this host.
func TestDefaultAddrReachesOtherHosts(t *testing.T) {
	n := testNode(t, Config{})
	if a := n.Addr().Addr(); !a.IsUnspecified() {
		t.Fatalf("a node with the default Config listens on %v: its dials cannot reach another host", n.Addr())
	}
}

// TestDialSendRefused: a node bound to loopback that dials another host cannot send (the kernel
// refuses a loopback source toward another host with EINVAL). The dial says so at once, with the
// system's error, instead of waiting 10 s and blaming the seed.
func TestDialSendRefused(t *testing.T) {
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", HandshakeTimeout: 10 * time.Second})
	start := time.Now()
	_, err := cli.Dial(ctxFor(t), "udp://198.51.100.1:9000") // TEST-NET-2, never local
	took := time.Since(start)
	if !errors.Is(err, ErrSendFailed) || !errors.Is(err, syscall.EINVAL) || errors.Is(err, ErrNoAnswer) {
		t.Fatalf("dial from loopback to another host = %v; want ErrSendFailed wrapping EINVAL", err)
	}
	if !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("%q does not say the node is bound to loopback", err)
	}
	t.Logf("%v (after %v)", err, took.Round(time.Millisecond))
}

// TestDialNothingListening: the ICMP port unreachable that answers a HELLO sent to a port where
// nothing listens ends the dial at once with ErrNothingListening.
func TestDialNothingListening(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close() // nothing listens there now
	for _, bind := range []string{"", "udp://127.0.0.1:0"} {
		t.Run("bind="+bind, func(t *testing.T) {
			cli := testNode(t, Config{Addr: bind, HandshakeTimeout: 10 * time.Second})
			start := time.Now()
			_, err := cli.Dial(ctxFor(t), addr)
			took := time.Since(start)
			if !errors.Is(err, ErrNothingListening) || errors.Is(err, ErrNoAnswer) {
				t.Fatalf("dial of a closed port = %v; want ErrNothingListening", err)
			}
			t.Logf("surfaced after %v", took.Round(time.Millisecond))
			if want := "sttfast: dial " + addr + ": nothing listens there"; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%q; want it to start with %q", err, want)
			}
		})
	}
}

// TestDialNoAnswer: a silent peer (no node, a firewall, or a node with another seed: the
// responder is silent to a wrong seed by design) is reported in those words after the timeout,
// and a report of the network that does not quote our HELLO (anyone could forge it) explains the
// silence but does not end the dial early.
func TestDialNoAnswer(t *testing.T) {
	r := newFakeResponder(t, false)
	cli := testNode(t, Config{HandshakeTimeout: 1500 * time.Millisecond})
	peer := netip.MustParseAddrPort(r.addr())
	go func() {
		// Wait for the dial to exist, then report a port unreachable without a quote.
		for {
			cli.dialMu.Lock()
			k := len(cli.dials)
			cli.dialMu.Unlock()
			if k > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cli.onPeerError(&batchio.PeerError{Addr: peer, Err: syscall.EHOSTUNREACH, Remote: true,
			Offender: netip.MustParseAddr("192.0.2.254")})
		cli.onPeerError(&batchio.PeerError{Addr: peer, Err: syscall.ECONNREFUSED, Remote: true})
	}()
	start := time.Now()
	_, err := cli.Dial(ctxFor(t), r.addr())
	if !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrNothingListening) {
		t.Fatalf("dial of a silent peer = %v; want ErrNoAnswer", err)
	}
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Fatalf("an unquoted report ended the dial after %v", took)
	}
	want := "sttfast: dial " + r.addr() + ": no answer (no node there, a firewall, or a different seed)"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "the network said") {
		t.Fatalf("%q; want %q and what the network said", err, want)
	}
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatal("ErrAuthFailed (the former name) no longer matches")
	}
}
