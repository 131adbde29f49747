package ctrl

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// TestListenOnTwoAddrs: a node with Config.Addrs listens on both addresses (with one socket
// each, or several sharing each port), reports both in order (Addr stays the first), and
// sessions dialed to either land in its one session table.
func TestListenOnTwoAddrs(t *testing.T) {
	for _, sockets := range []int{1, 2} {
		t.Run("sockets="+strconv.Itoa(sockets), func(t *testing.T) { testListenOnTwoAddrs(t, sockets) })
	}
}

func testListenOnTwoAddrs(t *testing.T, sockets int) {
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0", Addrs: []string{"udp://127.0.0.1:0"}, Sockets: sockets})
	if len(srv.engines) != 2*sockets {
		t.Fatalf("%d engines for two addresses of %d sockets each", len(srv.engines), sockets)
	}
	bound := srv.Addrs()
	if len(bound) != 2 || bound[0].Addr != srv.Addr() || bound[0].Addr.Port() == bound[1].Addr.Port() {
		t.Fatalf("Addrs() = %v with Addr() %v; want two ports, the first Addr's", bound, srv.Addr())
	}
	for _, b := range bound {
		if want := "udp://127.0.0.1:" + strconv.Itoa(int(b.Addr.Port())); b.String() != want {
			t.Fatalf("BoundAddr %v prints %q; want %q", b.Addr, b.String(), want)
		}
	}
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	var ids [][8]byte
	for _, b := range bound {
		s, err := cli.Dial(ctxFor(t), b.String())
		if err != nil {
			t.Fatalf("dial %v: %v", b, err)
		}
		if s.Peer() != b.Addr {
			t.Fatalf("the session dialed to %v is with %v", b, s.Peer())
		}
		acceptSession(t, srv)
		ids = append(ids, s.ID())
	}
	if srv.NumSessions() != 2 {
		t.Fatalf("the node listening twice holds %d sessions; want both in one table", srv.NumSessions())
	}
	for _, id := range ids {
		if srv.Session(id) == nil {
			t.Fatalf("session %x is not in the node's table", id)
		}
	}
}

// TestListenAddrsRefusedTogether: one address of Addrs that cannot be bound fails Listen, and
// the socket already bound for Addr is released (its port can be bound again at once).
func TestListenAddrsRefusedTogether(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	taken := "udp://" + c.LocalAddr().String()
	first := closedPort(t)
	n, err := Listen(ctxFor(t), Config{Seed: testSeed(t), Addr: "udp://" + first, Addrs: []string{taken}})
	if err == nil {
		n.Close()
		t.Fatalf("Listen on a taken address succeeded")
	}
	if want := "sttfast: listen " + taken + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%q does not start with %q", err, want)
	}
	again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(first)))
	if err != nil {
		t.Fatalf("the failed Listen kept %s bound: %v", first, err)
	}
	again.Close()
}

// TestDialLeavesFromReachingAddr: a node listening on IPv4 loopback (Addr) and IPv6 loopback
// (Addrs) dials an IPv6 peer from its IPv6 socket: the first socket could not send there.
func TestDialLeavesFromReachingAddr(t *testing.T) {
	srv6, err := Listen(ctxFor(t), Config{Seed: testSeed(t), Addr: "udp6://[::1]:0"})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer srv6.Close()
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", Addrs: []string{"udp6://[::1]:0"}})
	s, err := cli.Dial(ctxFor(t), "udp://"+srv6.Addr().String())
	if err != nil {
		t.Fatalf("dial of an IPv6 peer from a node with an IPv6 address: %v", err)
	}
	if want := cli.Addrs()[1].Addr; acceptSession(t, srv6).Peer() != want || s.Peer() != srv6.Addr() {
		t.Fatalf("the dial did not leave from %v", want)
	}
}

// TestListenerReach holds the rule that picks a dial's socket: the address family must match
// (an IPv6 wildcard without udp6 takes IPv4 too), a loopback bind reaches only loopback, and a
// wildcard of the peer's family is preferred.
func TestListenerReach(t *testing.T) {
	v4, v6, lo4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		network, local string
		dst            netip.Addr
		want           int
	}{
		{"udp4", "0.0.0.0", v4, 3}, {"udp4", "0.0.0.0", v6, 0},
		{"udp", "::", v6, 3}, {"udp", "::", v4, 2}, {"udp6", "::", v4, 0},
		{"udp", "10.0.0.2", v4, 1}, {"udp", "10.0.0.2", v6, 0}, {"udp", "10.0.0.2", lo4, 1},
		{"udp", "127.0.0.1", lo4, 1}, {"udp", "127.0.0.1", v4, 0},
		{"udp6", "::1", v6, 0}, {"udp6", "2001:db8::2", v6, 1},
	} {
		l := &listener{network: tc.network, bound: BoundAddr{Transport: "udp",
			Addr: netip.AddrPortFrom(netip.MustParseAddr(tc.local), 9000)}}
		if got := l.reach(tc.dst); got != tc.want {
			t.Errorf("%s %s reaching %v scores %d; want %d", tc.network, tc.local, tc.dst, got, tc.want)
		}
	}
}
