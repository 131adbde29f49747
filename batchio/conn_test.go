package batchio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Receivers get a large buffer so a whole test window fits: loopback UDP
// only drops when the receive queue overflows, and the tests never send
// more than one window before reading it back.
const testRecvBuf = 4 << 20

// safety bounds a test that would otherwise hang if a datagram were lost;
// it is a failure timeout, never used to wait for something to happen.
const safety = 10 * time.Second

func listen(t testing.TB, network, addr string, o Options) *Conn {
	t.Helper()
	c, err := Listen(network, addr, o)
	if err != nil {
		t.Fatalf("Listen(%s, %s): %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func haveIPv6() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// fill writes datagram seq: a 4-byte sequence number, then a pattern that
// depends on seq and position so misplaced or corrupted bytes are caught.
func fill(b []byte, seq uint32) {
	binary.BigEndian.PutUint32(b, seq)
	for i := 4; i < len(b); i++ {
		b[i] = byte(seq*131 + uint32(i)*7)
	}
}

// check verifies a datagram made by fill and returns its sequence number.
func check(d []byte) (uint32, error) {
	if len(d) < 4 {
		return 0, fmt.Errorf("short datagram (%d bytes)", len(d))
	}
	seq := binary.BigEndian.Uint32(d)
	for i := 4; i < len(d); i++ {
		if d[i] != byte(seq*131+uint32(i)*7) {
			return seq, fmt.Errorf("datagram %d: byte %d corrupted", seq, i)
		}
	}
	return seq, nil
}

// received is one datagram as seen by the receiver.
type received struct {
	seq  uint32
	size int
	from netip.AddrPort
	seg  int // Seg of the Message it came in
}

// recvN reads until want datagrams have arrived, verifying each, and
// returns them in arrival order. Reading more than want fails the test.
func recvN(t testing.TB, c *Conn, msgs []Message, want int) []received {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(safety))
	defer c.SetReadDeadline(time.Time{})
	var out []received
	for len(out) < want {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d datagrams: %v", len(out), want, err)
		}
		for i := range n {
			m := &msgs[i]
			it := m.Datagrams()
			for d, ok := it.Next(); ok; d, ok = it.Next() {
				seq, err := check(d)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, received{seq, len(d), m.Addr, m.Seg})
			}
		}
	}
	if len(out) != want {
		t.Fatalf("received %d datagrams, want %d", len(out), want)
	}
	return out
}

// expectAll checks that got holds each of seqs [0, n) exactly once, from
// the given source, with the sizes in size.
func expectAll(t testing.TB, got []received, from netip.AddrPort, size func(seq uint32) int) {
	t.Helper()
	seen := make(map[uint32]bool)
	for _, r := range got {
		if seen[r.seq] {
			t.Fatalf("datagram %d received twice", r.seq)
		}
		seen[r.seq] = true
		if int(r.seq) >= len(got) {
			t.Fatalf("unexpected datagram %d", r.seq)
		}
		if r.from != from {
			t.Fatalf("datagram %d from %v, want %v", r.seq, r.from, from)
		}
		if want := size(r.seq); r.size != want {
			t.Fatalf("datagram %d has %d bytes, want %d", r.seq, r.size, want)
		}
	}
}

// exchange sends total datagrams from tx to rx in windows of one
// WriteBatch and checks every byte and source address.
func exchange(t *testing.T, tx, rx *Conn, total int) {
	// Mostly equal sizes so GSO can group across Messages, with runs of
	// odd sizes that end groups.
	size := func(seq uint32) int {
		if seq%8 == 5 {
			return 8 + int(seq*37)%1400
		}
		return 1200
	}
	txSlab := NewSlab(64, 1500)
	rxSlab := NewSlab(64, GROBufferSize)
	dst := rx.LocalAddr()
	var got []received
	for seq := 0; seq < total; {
		msgs := txSlab.Messages()
		k := 0
		for ; k < len(msgs) && seq < total; k++ {
			m := &msgs[k]
			m.N, m.Addr, m.Seg = size(uint32(seq)), dst, 0
			fill(m.Buf[:m.N], uint32(seq))
			seq++
		}
		n, err := tx.WriteBatch(msgs[:k])
		if err != nil || n != k {
			t.Fatalf("WriteBatch = %d, %v; want %d", n, err, k)
		}
		got = append(got, recvN(t, rx, rxSlab.Messages(), k)...)
	}
	expectAll(t, got, tx.LocalAddr(), size)
}

func loopbackPair(t *testing.T, network, addr string, txo, rxo Options) (tx, rx *Conn) {
	rxo.RecvBuffer = testRecvBuf
	return listen(t, network, addr, txo), listen(t, network, addr, rxo)
}

func TestExchangeIPv4(t *testing.T) {
	for _, tc := range []struct {
		name     string
		txo, rxo Options
	}{
		{"plain", Options{DisableGSO: true}, Options{DisableGRO: true}},
		{"gso", Options{}, Options{DisableGRO: true}},
		{"gso+gro", Options{}, Options{}},
		{"small-batch", Options{BatchSize: 3}, Options{BatchSize: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", tc.txo, tc.rxo)
			t.Logf("tx GSO=%v rx GRO=%v", tx.GSO(), rx.GRO())
			exchange(t, tx, rx, 3000)
		})
	}
}

func TestExchangeIPv6(t *testing.T) {
	if !ipv6Here(t) {
		return
	}
	for _, tc := range []struct {
		name     string
		txo, rxo Options
	}{
		{"plain", Options{DisableGSO: true}, Options{DisableGRO: true}},
		{"gso+gro", Options{}, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, rx := loopbackPair(t, "udp6", "[::1]:0", tc.txo, tc.rxo)
			exchange(t, tx, rx, 1000)
		})
	}
}

// A dual-stack socket sees IPv4 peers as IPv4-mapped addresses; ReadBatch
// must unmap them and WriteBatch must accept plain IPv4 destinations.
func TestDualStack(t *testing.T) {
	if !ipv6Here(t) {
		return
	}
	ds := listen(t, "udp", "[::]:0", Options{RecvBuffer: testRecvBuf})
	v4 := listen(t, "udp4", "127.0.0.1:0", Options{RecvBuffer: testRecvBuf})
	dsAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ds.LocalAddr().Port())
	// v4 -> dual-stack: the source must come out unmapped.
	s := NewSlab(1, 2000)
	m := &s.Messages()[0]
	m.N, m.Addr, m.Seg = 2000, dsAddr, 500
	for i := range 4 {
		fill(m.Buf[i*500:(i+1)*500], uint32(i))
	}
	if _, err := v4.WriteBatch(s.Messages()); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, ds, NewSlab(8, GROBufferSize).Messages(), 4)
	expectAll(t, got, v4.LocalAddr(), func(uint32) int { return 500 })
	if !got[0].from.Addr().Is4() {
		t.Fatalf("source %v not unmapped", got[0].from)
	}
	// dual-stack -> v4 with an IPv4 destination (sent as IPv4-mapped).
	m.Addr = v4.LocalAddr()
	if _, err := ds.WriteBatch(s.Messages()); err != nil {
		t.Fatal(err)
	}
	got = recvN(t, v4, NewSlab(8, GROBufferSize).Messages(), 4)
	expectAll(t, got, dsAddr, func(uint32) int { return 500 })
}

// With GSO off the Message is split in software into Seg-sized datagrams.
func TestSoftwareSplit(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{DisableGRO: true})
	if tx.GSO() || tx.MaxGSOSegments() != 1 {
		t.Fatalf("GSO()=%v MaxGSOSegments()=%d with DisableGSO", tx.GSO(), tx.MaxGSOSegments())
	}
	const seg, segs = 1000, 100
	s := NewSlab(1, seg*segs)
	m := &s.Messages()[0]
	m.N, m.Addr, m.Seg = seg*segs-1, rx.LocalAddr(), seg
	for i := range segs {
		fill(m.Buf[i*seg:min((i+1)*seg, m.N)], uint32(i))
	}
	if n, err := tx.WriteBatch(s.Messages()); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := recvN(t, rx, NewSlab(64, 2048).Messages(), segs)
	expectAll(t, got, tx.LocalAddr(), func(seq uint32) int {
		if seq == segs-1 {
			return seg - 1
		}
		return seg
	})
	for _, r := range got {
		if r.seg != 0 {
			t.Fatalf("datagram %d arrived coalesced (Seg=%d) with GRO off", r.seq, r.seg)
		}
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	msgs := NewSlab(4, GROBufferSize).Messages()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := c.ReadBatch(msgs)
		done <- err
	}()
	<-started
	// Close may land before or after ReadBatch parks; both must end in
	// net.ErrClosed.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked ReadBatch returned %v, want net.ErrClosed", err)
		}
	case <-time.After(safety):
		t.Fatal("Close did not unblock ReadBatch")
	}
	if _, err := c.ReadBatch(msgs); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	msgs[0].N, msgs[0].Addr = 1, netip.MustParseAddrPort("127.0.0.1:9")
	if _, err := c.WriteBatch(msgs[:1]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.ReadBatch(NewSlab(1, GROBufferSize).Messages()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadBatch past deadline: %v", err)
	}
}

func TestWriteBatchValidation(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	buf := make([]byte, 10)
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	for _, m := range []Message{
		{Buf: buf, N: 11, Addr: dst},
		{Buf: buf, N: -1, Addr: dst},
		{Buf: buf, N: 1},
	} {
		if n, err := c.WriteBatch([]Message{m}); err == nil || n != 0 {
			t.Errorf("WriteBatch(%+v) = %d, %v; want error", m, n, err)
		}
	}
	if n, err := c.WriteBatch(nil); n != 0 || err != nil {
		t.Errorf("WriteBatch(nil) = %d, %v", n, err)
	}
}

func TestBuffers(t *testing.T) {
	const want = 1 << 20
	c := listen(t, "udp4", "127.0.0.1:0", Options{RecvBuffer: want, SendBuffer: want})
	r, s := c.Buffers()
	t.Logf("requested %d/%d, effective SO_RCVBUF=%d SO_SNDBUF=%d", want, want, r, s)
	if r < want || s < want {
		t.Fatalf("effective buffers %d/%d smaller than requested %d", r, s, want)
	}
	d := listen(t, "udp4", "127.0.0.1:0", Options{})
	r, s = d.Buffers()
	t.Logf("default SO_RCVBUF=%d SO_SNDBUF=%d", r, s)
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen("tcp", "127.0.0.1:0", Options{}); err == nil {
		t.Fatal("Listen(tcp) succeeded")
	}
	if _, err := NewConn(nil, Options{}); err == nil {
		t.Fatal("NewConn(nil) succeeded")
	}
}

func TestNewConnBatchSize(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(uc, Options{BatchSize: 5000})
	if err != nil {
		uc.Close()
		t.Fatal(err)
	}
	defer c.Close()
	if c.BatchSize() != MaxBatchSize || c.UDPConn() != uc {
		t.Fatalf("BatchSize %d, UDPConn %p", c.BatchSize(), c.UDPConn())
	}
	if c.LocalAddr().Port() == 0 || !c.LocalAddr().Addr().Is4() {
		t.Fatalf("LocalAddr %v", c.LocalAddr())
	}
}

func mustAddrPort(ip string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
}

// One goroutine reads while another writes on the same Conn: each
// direction owns its own preallocated headers, which -race checks.
func TestConcurrentReadWrite(t *testing.T) {
	a, b := loopbackPair(t, "udp4", "127.0.0.1:0", Options{RecvBuffer: testRecvBuf}, Options{})
	const windows, per = 50, 32
	got := make(chan int, 1)
	go func() { // a's reader
		msgs := NewSlab(per, GROBufferSize).Messages()
		a.SetReadDeadline(time.Now().Add(safety))
		for w := 0; w < windows; w++ {
			n := 0
			for n < per {
				k, err := a.ReadBatch(msgs)
				if err != nil {
					got <- -1
					return
				}
				for i := range k {
					n += msgs[i].NumDatagrams()
				}
			}
			got <- n
		}
	}()
	echo := NewSlab(per, GROBufferSize).Messages()
	out := NewSlab(per, 1000).Messages()
	for i := range out {
		out[i].N, out[i].Addr = 1000, b.LocalAddr()
	}
	for w := 0; w < windows; w++ {
		if _, err := a.WriteBatch(out); err != nil { // a's writer, concurrent with a's reader
			t.Fatal(err)
		}
		for n := 0; n < per; { // b echoes everything back to a
			k, err := b.ReadBatch(echo)
			if err != nil {
				t.Fatal(err)
			}
			for i := range k {
				n += echo[i].NumDatagrams()
			}
			if _, err := b.WriteBatch(echo[:k]); err != nil {
				t.Fatal(err)
			}
		}
		if n := <-got; n != per {
			t.Fatalf("window %d: a read %d datagrams, want %d", w, n, per)
		}
	}
}
