package main

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sttfast/sttfast/dataplane"
)

// udpRelay is a one-client UDP relay in front of a listener's UDP port that can start dropping
// everything both ways (a path that goes black), for the dial to fail over from.
type udpRelay struct {
	front, back *net.UDPConn
	target      *net.UDPAddr
	client      atomic.Pointer[net.UDPAddr]
	dropping    atomic.Bool
	wg          sync.WaitGroup
}

func newUDPRelay(t *testing.T, target string) *udpRelay {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{target: to}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if r.front, err = net.ListenUDP("udp4", local); err != nil {
		t.Fatal(err)
	}
	if r.back, err = net.ListenUDP("udp4", local); err != nil {
		r.front.Close()
		t.Fatal(err)
	}
	r.front.SetReadBuffer(4 << 20) // the relay is slower than the engines: queue rather than drop
	r.back.SetReadBuffer(4 << 20)
	r.wg.Add(2)
	go r.pump(r.front, func(from *net.UDPAddr, b []byte) {
		r.client.Store(from)
		r.back.WriteToUDP(b, r.target)
	})
	go r.pump(r.back, func(_ *net.UDPAddr, b []byte) {
		if c := r.client.Load(); c != nil {
			r.front.WriteToUDP(b, c)
		}
	})
	t.Cleanup(func() {
		r.front.Close()
		r.back.Close()
		r.wg.Wait()
	})
	return r
}

func (r *udpRelay) addr() string { return "udp://" + r.front.LocalAddr().String() }

func (r *udpRelay) pump(c *net.UDPConn, relay func(*net.UDPAddr, []byte)) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if !r.dropping.Load() {
			relay(from, buf[:n])
		}
	}
}

// TestDialFailsOverToWS: dial is given a listener's UDP address (through a relay) and its
// WebSocket address; a third of the way through the file the relay starts dropping all UDP. The
// session moves to WebSocket (one "moved to" line on stderr), both exit 0, and listen wrote the
// file byte-exact: one session across both paths, not a new dial.
func TestDialFailsOverToWS(t *testing.T) {
	size := 32 << 20
	if raceEnabled {
		size = 8 << 20
	}
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, size, 31)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--addr", "ws://127.0.0.1:0/stt",
		"--seed", seed, "--once")
	addrs := l.listenAddrs(2)
	relay := newUDPRelay(t, addrs[0][len("udp://"):])
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", relay.addr(), "--addr", addrs[1], "--seed", seed)
	l.waitOutput(int64(size / 3))
	relay.dropping.Store(true)
	d.expectExit(0)
	l.expectExit(0)
	if l.outSize() != int64(size) {
		t.Fatalf("listen wrote %d bytes; dial sent %d", l.outSize(), size)
	}
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
	stderr := d.stderr()
	if want := "connected via " + relay.addr(); !slices.Contains(stderr, want) {
		t.Fatalf("dial's stderr %q lacks %q", stderr, want)
	}
	moved := regexp.MustCompile(`^sttfast: moved to ` + regexp.QuoteMeta(addrs[1]) + `: failover$`)
	if !slices.ContainsFunc(stderr, moved.MatchString) {
		t.Fatalf("dial's stderr %q has no line matching %s", stderr, moved)
	}
	t.Logf("dial's stderr: %q", stderr)
}

// TestMoveLines: each path of a DialPaths session is named by the --addr it came from (a
// WebSocket path by the index in its tag, the UDP socket's by the one udp:// address), and a
// move's line says where to and why.
func TestMoveLines(t *testing.T) {
	addrs := []string{"udp://hostA:9000", "ws://hostA:9080/stt", "ws://hostB:9080/x"}
	udp := netip.MustParseAddrPort("192.0.2.1:9000")
	ws1 := dataplane.TagAddr(netip.MustParseAddrPort("192.0.2.1:9080"), "ws1")
	ws2 := dataplane.TagAddr(netip.MustParseAddrPort("192.0.2.2:9080"), "ws2")
	names := pathNames(ws1, []netip.AddrPort{udp, ws1, ws2}, addrs, 1)
	for p, want := range map[netip.AddrPort]string{udp: addrs[0], ws1: addrs[1], ws2: addrs[2]} {
		if names[p] != want {
			t.Errorf("%v named %q, want %q", p, names[p], want)
		}
	}
	for _, tc := range []struct{ name, reason, want string }{
		{addrs[1], "failover: udp 192.0.2.1:9000 -> ws 192.0.2.1:9080", "sttfast: moved to ws://hostA:9080/stt: failover"},
		{addrs[0], "return: ws 192.0.2.1:9080 -> udp 192.0.2.1:9000", "sttfast: moved back to udp://hostA:9000: udp answers again"},
		{addrs[2], "migrate: udp 192.0.2.1:9000 -> ws 192.0.2.2:9080", "sttfast: moved to ws://hostB:9080/x: migrate"},
	} {
		if got := moveLine(tc.name, tc.reason); got != tc.want {
			t.Errorf("moveLine(%q, %q) = %q, want %q", tc.name, tc.reason, got, tc.want)
		}
	}
}
