//go:build !batchio_portable

package batchio

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func requireGSO(t *testing.T, c *Conn) {
	t.Helper()
	if !c.GSO() {
		t.Skip("kernel does not support UDP_SEGMENT")
	}
}

// gsoMessage builds one Message of segs datagrams of seg bytes each
// (the last is short by short bytes), numbered from 0.
func gsoMessage(dst netip.AddrPort, seg, segs, short int) *Slab {
	s := NewSlab(1, seg*segs)
	m := &s.Messages()[0]
	m.N, m.Addr, m.Seg = seg*segs-short, dst, seg
	for i := range segs {
		fill(m.Buf[i*seg:min((i+1)*seg, m.N)], uint32(i))
	}
	return s
}

func TestGSO64(t *testing.T) {
	const seg, segs = 1000, MaxSegments
	for _, gro := range []bool{true, false} {
		name := map[bool]string{true: "gro", false: "nogro"}[gro]
		t.Run(name, func(t *testing.T) {
			tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{DisableGRO: !gro})
			requireGSO(t, tx)
			if tx.MaxGSOSegments() != 64 {
				t.Fatalf("MaxGSOSegments = %d", tx.MaxGSOSegments())
			}
			if gro && !rx.GRO() {
				t.Skip("kernel does not support UDP_GRO")
			}
			s := gsoMessage(rx.LocalAddr(), seg, segs, 0)
			if n, err := tx.WriteBatch(s.Messages()); n != 1 || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			if !tx.GSO() {
				t.Fatal("GSO was disabled by the send")
			}
			got := recvN(t, rx, NewSlab(MaxSegments, GROBufferSize).Messages(), segs)
			expectAll(t, got, tx.LocalAddr(), func(uint32) int { return seg })
			for _, r := range got {
				// Loopback hands the GSO packet to a GRO socket whole, and
				// segments it for a socket without GRO.
				if gro && r.seg != seg {
					t.Fatalf("datagram %d: Seg=%d, want one coalesced message with Seg=%d", r.seq, r.seg, seg)
				}
				if !gro && r.seg != 0 {
					t.Fatalf("datagram %d: Seg=%d with GRO off", r.seq, r.seg)
				}
			}
		})
	}
}

// Sends at the exact largest UDP payload for each family, which pins
// maxPayload4/6 to what the kernel accepts, and a Seg that forces a split
// on bytes rather than segments.
func TestGSOLimitsEndToEnd(t *testing.T) {
	type tc struct {
		network, addr string
		seg, segs     int
		short         int
	}
	cases := []tc{
		{"udp4", "127.0.0.1:0", (maxPayload4 + 1) / 2, 2, 1},
		{"udp4", "127.0.0.1:0", 1100, 60, 0},  // 66000 bytes: 59 + 1
		{"udp4", "127.0.0.1:0", 100, 150, 37}, // 64 + 64 + 22 segments
	}
	if haveIPv6() {
		cases = append(cases, tc{"udp6", "[::1]:0", (maxPayload6 + 1) / 2, 2, 1})
	}
	for _, c := range cases {
		for _, gro := range []bool{true, false} {
			name := fmt.Sprintf("%s/%dx%d-%d/gro=%v", c.network, c.seg, c.segs, c.short, gro)
			t.Run(name, func(t *testing.T) {
				tx, rx := loopbackPair(t, c.network, c.addr, Options{}, Options{DisableGRO: !gro})
				requireGSO(t, tx)
				s := gsoMessage(rx.LocalAddr(), c.seg, c.segs, c.short)
				if n, err := tx.WriteBatch(s.Messages()); n != 1 || err != nil {
					t.Fatalf("%+v: WriteBatch = %d, %v", c, n, err)
				}
				if !tx.GSO() {
					t.Fatal("GSO was disabled")
				}
				got := recvN(t, rx, NewSlab(MaxSegments, GROBufferSize).Messages(), c.segs)
				expectAll(t, got, tx.LocalAddr(), func(seq uint32) int {
					if int(seq) == c.segs-1 {
						return c.seg - c.short
					}
					return c.seg
				})
			})
		}
	}
}

// hdrInfo summarises one planned sendmmsg header.
type hdrInfo struct {
	bytes, iovs, seg int // seg is the UDP_SEGMENT value, 0 for none
	to               netip.AddrPort
}

func planned(c *Conn) []hdrInfo {
	t := &c.sys.tx
	var out []hdrInfo
	for h := range t.cnt {
		hd := &t.hdrs[h].Hdr
		var hi hdrInfo
		hi.iovs = int(hd.Iovlen)
		if hi.iovs > 0 {
			for _, v := range unsafe.Slice(hd.Iov, hi.iovs) {
				hi.bytes += int(v.Len)
			}
		}
		if t.gsoHdr[h] {
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&t.ctrl[h*txCtrlSpace]))
			if ch.Level != unix.SOL_UDP || ch.Type != unix.UDP_SEGMENT {
				panic("bad cmsg")
			}
			hi.seg = int(*(*uint16)(unsafe.Pointer(&t.ctrl[h*txCtrlSpace+unix.SizeofCmsghdr])))
		}
		hi.to = c.sys.rx.addr(&t.names[h])
		out = append(out, hi)
	}
	return out
}

func TestPlan(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.2:2000")
	buf := make([]byte, 1<<17)
	msg := func(n, seg int, to netip.AddrPort) Message { return Message{Buf: buf, N: n, Seg: seg, Addr: to} }
	singles := func(n, size int, to netip.AddrPort) []Message {
		var ms []Message
		for range n {
			ms = append(ms, msg(size, 0, to))
		}
		return ms
	}
	type cursor struct{ mi, off int }
	cases := []struct {
		name string
		msgs []Message
		gso  bool
		want []hdrInfo
		end  cursor
	}{
		{"segment limit", []Message{msg(15000-37, 100, a)}, true,
			[]hdrInfo{{6400, 1, 100, a}, {6400, 1, 100, a}, {2200 - 37, 1, 100, a}}, cursor{1, 0}},
		{"byte limit", []Message{msg(66000, 1100, a)}, true,
			[]hdrInfo{{64900, 1, 1100, a}, {1100, 1, 0, a}}, cursor{1, 0}},
		{"exact max payload", []Message{msg(maxPayload4, 32754, a)}, true,
			[]hdrInfo{{maxPayload4, 1, 32754, a}}, cursor{1, 0}},
		{"group across messages", singles(64, 1200, a), true,
			[]hdrInfo{{54 * 1200, 54, 1200, a}, {10 * 1200, 10, 1200, a}}, cursor{64, 0}},
		{"short datagram ends group", []Message{msg(1200, 0, a), msg(1200, 0, a), msg(500, 0, a), msg(1200, 0, a)}, true,
			[]hdrInfo{{2900, 3, 1200, a}, {1200, 1, 0, a}}, cursor{4, 0}},
		{"destination ends group", []Message{msg(1200, 0, a), msg(1200, 0, b), msg(1200, 0, b), msg(1200, 0, a)}, true,
			[]hdrInfo{{1200, 1, 0, a}, {2400, 2, 1200, b}, {1200, 1, 0, a}}, cursor{4, 0}},
		{"bigger datagram ends group", []Message{msg(500, 0, a), msg(1200, 0, a), msg(2400, 1200, a)}, true,
			[]hdrInfo{{500, 1, 0, a}, {3600, 2, 1200, a}}, cursor{3, 0}},
		{"short tail ends group, next starts one", []Message{msg(2500, 1000, a), msg(500, 0, a), msg(400, 0, a)}, true,
			[]hdrInfo{{2500, 1, 1000, a}, {900, 2, 500, a}}, cursor{3, 0}},
		{"split message continues in next group", []Message{msg(66000, 1100, a), msg(1100, 0, a), msg(1100, 1100, a)}, true,
			[]hdrInfo{{64900, 1, 1100, a}, {3300, 3, 1100, a}}, cursor{3, 0}},
		{"empty datagram", []Message{msg(100, 0, a), msg(0, 0, a), msg(100, 0, a)}, true,
			[]hdrInfo{{100, 1, 0, a}, {0, 0, 0, a}, {100, 1, 0, a}}, cursor{3, 0}},
		{"no gso splits and stops at batch", []Message{msg(15000, 100, a)}, false,
			nil, cursor{0, 64 * 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mi, off := c.sys.tx.plan(tc.msgs, 0, 0, tc.gso)
			got := planned(c)
			if tc.want == nil { // one datagram per header, a full batch
				if len(got) != c.batch {
					t.Fatalf("%d headers, want %d", len(got), c.batch)
				}
				for _, h := range got {
					if h.bytes != 100 || h.seg != 0 || h.iovs != 1 {
						t.Fatalf("header %+v", h)
					}
				}
			} else if len(got) != len(tc.want) {
				t.Fatalf("headers %+v, want %+v", got, tc.want)
			} else {
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("header %d = %+v, want %+v (all: %+v)", i, got[i], tc.want[i], got)
					}
				}
			}
			if (cursor{mi, off}) != tc.end {
				t.Fatalf("cursor = %d,%d, want %+v", mi, off, tc.end)
			}
		})
	}
}

// EIO on a GSO send means the route cannot segment: GSO must be switched
// off and the same datagrams resent split, with nothing lost or doubled.
func TestGSOEIOFallback(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{})
	requireGSO(t, tx)
	const seg, segs = 1000, 64
	s := gsoMessage(rx.LocalAddr(), seg, segs, 0)
	tx.sys.tx.injectEIO = true
	if n, err := tx.WriteBatch(s.Messages()); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	if tx.GSO() || tx.MaxGSOSegments() != 1 {
		t.Fatal("GSO still enabled after EIO")
	}
	got := recvN(t, rx, NewSlab(MaxSegments, GROBufferSize).Messages(), segs)
	expectAll(t, got, tx.LocalAddr(), func(uint32) int { return seg })
	for _, r := range got {
		if r.seg != 0 {
			t.Fatalf("datagram %d arrived coalesced after fallback", r.seq)
		}
	}
}

// EIO in the middle of a batch: headers already accepted must not be sent
// again.
func TestGSOEIOMidBatch(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{DisableGRO: true})
	requireGSO(t, tx)
	// Message 0: a single datagram (no GSO header). Message 1: 10 x 1000
	// with GSO, which fails and is resent split.
	s := NewSlab(2, 10000)
	ms := s.Messages()
	ms[0].N, ms[0].Addr = 700, netip.AddrPortFrom(rx.LocalAddr().Addr(), rx.LocalAddr().Port())
	fill(ms[0].Buf[:700], 0)
	ms[1].N, ms[1].Addr, ms[1].Seg = 10000, rx.LocalAddr(), 1000
	for i := range 10 {
		fill(ms[1].Buf[i*1000:(i+1)*1000], uint32(i+1))
	}
	tx.sys.tx.injectEIO = true
	if n, err := tx.WriteBatch(ms); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := recvN(t, rx, NewSlab(16, 2048).Messages(), 11)
	expectAll(t, got, tx.LocalAddr(), func(seq uint32) int {
		if seq == 0 {
			return 700
		}
		return 1000
	})
}

// A ReadBatch with buffers too small for a coalesced receive turns GRO off
// before reading, so GSO traffic then arrives as individual datagrams.
func TestGROSmallBuffersFallback(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{})
	requireGSO(t, tx)
	if !rx.GRO() {
		t.Skip("kernel does not support UDP_GRO")
	}
	small := NewSlab(MaxSegments, 2048).Messages()
	// An expired deadline makes this ReadBatch do its setup and return
	// without waiting, so GRO is known to be off before anything is sent.
	rx.SetReadDeadline(time.Unix(1, 0))
	if _, err := rx.ReadBatch(small); err == nil {
		t.Fatal("ReadBatch with expired deadline succeeded")
	}
	if rx.GRO() {
		t.Fatal("GRO still on with 2048-byte buffers")
	}
	s := gsoMessage(rx.LocalAddr(), 1000, 64, 0)
	if _, err := tx.WriteBatch(s.Messages()); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, rx, small, 64)
	expectAll(t, got, tx.LocalAddr(), func(uint32) int { return 1000 })
}

func TestFamilyMismatch(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	m := []Message{{Buf: make([]byte, 1), N: 1, Addr: netip.MustParseAddrPort("[::1]:9")}}
	if n, err := c.WriteBatch(m); n != 0 || err == nil {
		t.Fatalf("IPv6 destination on udp4 socket: %d, %v", n, err)
	}
}

func TestReusePort(t *testing.T) {
	a := listen(t, "udp4", "127.0.0.1:0", Options{ReusePort: true})
	b := listen(t, "udp4", a.LocalAddr().String(), Options{ReusePort: true})
	if a.LocalAddr() != b.LocalAddr() {
		t.Fatalf("%v != %v", a.LocalAddr(), b.LocalAddr())
	}
	if _, err := Listen("udp4", a.LocalAddr().String(), Options{}); err == nil {
		t.Fatal("bind without SO_REUSEPORT succeeded on a shared port")
	}
}

func TestBuffersForce(t *testing.T) {
	// Above net.core.rmem_max: only SO_RCVBUFFORCE (root) gets it.
	const want = 16 << 20
	c := listen(t, "udp4", "127.0.0.1:0", Options{RecvBuffer: want, SendBuffer: want})
	r, s := c.Buffers()
	max, _ := os.ReadFile("/proc/sys/net/core/rmem_max")
	t.Logf("requested %d, rmem_max %s, effective SO_RCVBUF=%d SO_SNDBUF=%d (euid %d)", want, bytes.TrimSpace(max), r, s, unix.Geteuid())
	if unix.Geteuid() == 0 && (r != 2*want || s != 2*want) {
		t.Fatalf("as root want %d (kernel doubles), got %d/%d", 2*want, r, s)
	}
}

func TestDetection(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	t.Logf("kernel %s: GSO=%v GRO=%v MaxGSOSegments=%d", kernelRelease(), c.GSO(), c.GRO(), c.MaxGSOSegments())
	d := listen(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true, DisableGRO: true})
	if d.GSO() || d.GRO() {
		t.Fatal("Disable options ignored")
	}
	if v, err := unix.GetsockoptInt(fdOf(t, d), unix.SOL_UDP, unix.UDP_GRO); err == nil && v != 0 {
		t.Fatal("UDP_GRO set despite DisableGRO")
	}
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func fdOf(t *testing.T, c *Conn) int {
	var fd int
	if err := c.sys.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// Sockaddr conversion round-trips for every family and does not allocate,
// including zoned (link-local) IPv6 once the zone cache is warm.
func TestSockaddrRoundTrip(t *testing.T) {
	c4 := listen(t, "udp4", "127.0.0.1:0", Options{})
	var c6 *Conn
	if haveIPv6() {
		c6 = listen(t, "udp6", "[::1]:0", Options{})
	}
	for _, tc := range []struct {
		c      *Conn
		in     string
		out    string
		family uint16
	}{
		{c4, "192.0.2.1:443", "192.0.2.1:443", unix.AF_INET},
		{c4, "[::ffff:192.0.2.1]:443", "192.0.2.1:443", unix.AF_INET},
		{c6, "192.0.2.1:65535", "192.0.2.1:65535", unix.AF_INET6},
		{c6, "[2001:db8::1]:1", "[2001:db8::1]:1", unix.AF_INET6},
		{c6, "[fe80::1%1]:9", "[fe80::1%lo]:9", unix.AF_INET6},
	} {
		if tc.c == nil {
			continue
		}
		in := netip.MustParseAddrPort(tc.in)
		tx := &tc.c.sys.tx
		tx.putAddr(0, in)
		if tx.names[0].Family != tc.family {
			t.Fatalf("%s: family %d, want %d", tc.in, tx.names[0].Family, tc.family)
		}
		got := tc.c.sys.rx.addr(&tx.names[0])
		if got.String() != tc.out {
			t.Fatalf("%s: round trip gave %s, want %s", tc.in, got, tc.out)
		}
		if a := testing.AllocsPerRun(100, func() {
			tx.putAddr(0, in)
			got = tc.c.sys.rx.addr(&tx.names[0])
		}); a != 0 {
			t.Fatalf("%s: %v allocs per conversion", tc.in, a)
		}
	}
}
