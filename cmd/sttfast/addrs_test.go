package main

import (
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests of this file hold the repeatable --addr (issue 12): listen, serve and relay listen on
// every address given, one "listening on" line each, in order; dial tries its addresses in order
// and says which one it settled on.

// closedUDPPort is a udp:// address on 127.0.0.1 where nothing listens (a HELLO sent there is
// answered with an ICMP port unreachable).
func closedUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return "udp://" + c.LocalAddr().String()
}

// listenAddrs waits for n "listening on" lines and returns their addresses, in order.
func (p *proc) listenAddrs(n int) []string {
	p.t.Helper()
	rx := regexp.MustCompile(`^listening on ((?:udp|ws)://\S+)$`)
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for exited := false; ; {
		var addrs []string
		for _, l := range p.stderr() {
			if m := rx.FindStringSubmatch(l); m != nil {
				addrs = append(addrs, m[1])
			}
		}
		if len(addrs) >= n {
			return addrs
		}
		if exited {
			p.t.Fatalf("%s exited (status %d) after %d of %d \"listening on\" lines", p.name, p.status, len(addrs), n)
		}
		select {
		case <-p.more:
		case <-p.done:
			exited = true // one last look: the lines may have come with the exit
		case <-deadline.C:
			p.t.Fatalf("%s printed %d of %d \"listening on\" lines within %v", p.name, len(addrs), n, guard)
		}
	}
}

// TestDialFirstAddrDead: listen on two addresses; dial is given a closed port first and the
// listener's second address next: it completes over the second, says so, and every byte arrives.
func TestDialFirstAddrDead(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 1<<20, 12)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--addr", "udp://127.0.0.1:0",
		"--seed", seed, "--once")
	addrs := l.listenAddrs(2)
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("listen printed %q; want two addresses", addrs)
	}
	dead := closedUDPPort(t)
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", dead, "--addr", addrs[1], "--seed", seed)
	d.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
	if want := "connected via " + addrs[1]; !slices.Contains(d.stderr(), want) {
		t.Fatalf("dial's stderr %q lacks %q", d.stderr(), want)
	}
}

// TestDialEveryAddrDead: when every address fails, dial exits 1 with one line naming each
// address and its reason, in the order given.
func TestDialEveryAddrDead(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	a, b := closedUDPPort(t), closedUDPPort(t)
	d := startProc(t, "dial", nil, nil, "dial", "--addr", a, "--addr", b, "--seed", seed, "--quiet")
	d.expectExit(1)
	why := "nothing listens there (its host answered: port unreachable)"
	want := "sttfast: dial " + a + ": " + why + "; " + b + ": " + why
	if lines := d.stderr(); len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr %q; want exactly %q", lines, want)
	}
}

// TestRelayTwoAddrs: a relay listening on two addresses forwards from a publisher on one to a
// subscriber on the other (one session table).
func TestRelayTwoAddrs(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	const size = 1 << 20
	in, sum := randomFile(t, size, 13)
	r := startProc(t, "relay", nil, nil, "relay", "--addr", "udp://127.0.0.1:0", "--addr", "udp://127.0.0.1:0",
		"--seed", seed, "--interval", "0")
	addrs := r.listenAddrs(2)
	sub := startProc(t, "sub", nil, nil, "dial", "--addr", addrs[1], "--seed", seed, "--recv")
	sub.waitLine(`^connected to udp://`)
	pub := startProc(t, "pub", openFile(t, in), nil, "dial", "--addr", addrs[0], "--seed", seed)
	pub.expectExit(0)
	sub.waitOutput(size)
	if got := sub.outHash(); got != sum {
		t.Fatalf("the subscriber on %s got sha256 %s; the publisher on %s sent %s", addrs[1], got, addrs[0], sum)
	}
}

// TestAddrRepeatedRefusals: a second --addr is checked like the first, and one that cannot be
// bound fails the command with that address named.
func TestAddrRepeatedRefusals(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	code, _, errOut := runCLI(nil, "dial", "--addr", "udp://127.0.0.1:1", "--addr", "ws://127.0.0.1/x", "--seed", seed)
	if code != exitUsage || !strings.Contains(errOut, "--addr ws://127.0.0.1/x") || !strings.Contains(errOut, "missing port") {
		t.Fatalf("dial with a bad ws:// second address: status %d, %q", code, errOut)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	taken := "udp://" + c.LocalAddr().String()
	code, _, errOut = runCLI(nil, "serve", "--addr", "udp://127.0.0.1:0", "--addr", taken, "--seed", seed)
	if want := "sttfast: serve " + taken + ": the address is already in use\n"; code != exitFailure || errOut != want {
		t.Fatalf("serve on a taken second address: status %d, %q; want %q", code, errOut, want)
	}
}
