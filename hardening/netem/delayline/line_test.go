package delayline

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// hangGuard bounds every wait of these tests: it only fires when something is broken.
const hangGuard = 20 * time.Second

// udpSocket opens a loopback UDP socket closed with the test.
func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The tests send a burst before reading it: the default buffer (208 KiB, about 90 datagrams
	// of kernel truesize) would drop part of it. 4 MiB is the usual rmem_max.
	if err := c.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	return c
}

// startLine starts a line in front of target and closes it with the test.
func startLine(t *testing.T, target *net.UDPConn, up, down Config) *Line {
	t.Helper()
	l, err := New("127.0.0.1:0", target.LocalAddr().String(), up, down)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// echo returns every datagram to its sender until the socket closes.
func echo(c *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// sendNumbered sends n datagrams of size bytes carrying their index, from c to the line, and
// returns the send time of each.
func sendNumbered(t *testing.T, c *net.UDPConn, l *Line, n, size int) []time.Time {
	t.Helper()
	sent := make([]time.Time, n)
	buf := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint32(buf, uint32(i))
		sent[i] = time.Now()
		if _, err := c.WriteToUDPAddrPort(buf, l.Addr()); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	return sent
}

// readNumbered reads n numbered datagrams from c and returns their indices in arrival order and
// the arrival times by index.
func readNumbered(t *testing.T, c *net.UDPConn, n int) ([]int, map[int]time.Time) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 64<<10)
	var order []int
	at := map[int]time.Time{}
	for len(order) < n {
		k, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(order), n, err)
		}
		i := int(binary.BigEndian.Uint32(buf[:k]))
		order = append(order, i)
		at[i] = time.Now()
	}
	return order, at
}

// late counts datagrams that arrive after one with a higher index.
func late(order []int) int {
	n, hi := 0, -1
	for _, i := range order {
		if i < hi {
			n++
		}
		hi = max(hi, i)
	}
	return n
}

// TestZeroJitterOrderAndDelay: without jitter a round trip through the line keeps the order and
// takes at least both delays.
func TestZeroJitterOrderAndDelay(t *testing.T) {
	srv, cli := udpSocket(t), udpSocket(t)
	go echo(srv)
	const up, down, n = 3 * time.Millisecond, 2 * time.Millisecond, 200
	l := startLine(t, srv, Config{Delay: up}, Config{Delay: down})
	sent := sendNumbered(t, cli, l, n, 500)
	order, at := readNumbered(t, cli, n)
	if k := late(order); k != 0 {
		t.Fatalf("%d datagrams out of order without jitter", k)
	}
	for i := range n {
		if rtt := at[i].Sub(sent[i]); rtt < up+down {
			t.Fatalf("datagram %d came back after %v, less than the %v of delay", i, rtt, up+down)
		}
	}
	if s := l.Up(); s.Reordered != 0 || s.Forwarded != n {
		t.Fatalf("up: %v", s)
	}
}

// TestJitterReorders: with jitter far above the spacing datagrams overtake each other (seen by
// the receiver and counted by the line); with none, none do.
func TestJitterReorders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jitter time.Duration
	}{{"none", 0}, {"2ms", 2 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			sink, cli := udpSocket(t), udpSocket(t)
			const n = 500
			l := startLine(t, sink, Config{Delay: time.Millisecond, Jitter: tc.jitter, Seed: 42}, Config{})
			sendNumbered(t, cli, l, n, 200)
			order, _ := readNumbered(t, sink, n)
			seen, counted := late(order), l.Up().Reordered
			t.Logf("jitter %v: %d of %d arrived late, line counted %d overtakes", tc.jitter, seen, n, counted)
			if tc.jitter == 0 && (seen != 0 || counted != 0) {
				t.Fatalf("reordering without jitter: %d late, %d counted", seen, counted)
			}
			if tc.jitter > 0 && (seen == 0 || counted == 0) {
				t.Fatalf("no reordering with jitter %v ≫ spacing: %d late, %d counted", tc.jitter, seen, counted)
			}
		})
	}
}

// TestLossEndToEnd: random loss drops about the configured share and the counters add up.
func TestLossEndToEnd(t *testing.T) {
	sink, cli := udpSocket(t), udpSocket(t)
	const n, loss = 2000, 0.2
	l := startLine(t, sink, Config{Loss: loss, Seed: 3}, Config{})
	sendNumbered(t, cli, l, n, 100)
	// Only the line's decisions are counted: wait until it has read everything, then compare.
	waitFor(t, func() bool { s := l.Up(); return s.Received == n && s.Queued == 0 && s.Forwarded+s.DroppedLoss == n })
	s := l.Up()
	if got := float64(s.DroppedLoss) / n; got < 0.16 || got > 0.24 { // about 4.5σ
		t.Fatalf("dropped %.3f, want %.2f ± 0.04 (%v)", got, loss, s)
	}
	readNumbered(t, sink, int(s.Forwarded))
}

// TestQueueBound: what waits is capped; the rest is dropped and counted.
func TestQueueBound(t *testing.T) {
	sink, cli := udpSocket(t), udpSocket(t)
	l := startLine(t, sink, Config{Delay: time.Hour, MaxPackets: 10, MaxBytes: 1 << 20}, Config{})
	sendNumbered(t, cli, l, 100, 100)
	waitFor(t, func() bool { return l.Up().Received == 100 })
	if s := l.Up(); s.Queued != 10 || s.DroppedLimit != 90 {
		t.Fatalf("with MaxPackets 10: %v", s)
	}
	m := startLine(t, sink, Config{Delay: time.Hour, MaxBytes: 5000}, Config{})
	sendNumbered(t, cli, m, 20, 1000)
	waitFor(t, func() bool { return m.Up().Received == 20 })
	if s := m.Up(); s.Queued != 5 || s.DroppedLimit != 15 {
		t.Fatalf("with MaxBytes 5000 and 1000-byte datagrams: %v", s)
	}
}

// TestClose: Close returns with datagrams waiting and traffic flowing, twice, and the line then
// forwards nothing.
func TestClose(t *testing.T) {
	sink, cli := udpSocket(t), udpSocket(t)
	l, err := New("127.0.0.1:0", sink.LocalAddr().String(), Config{Delay: time.Hour}, Config{Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sendNumbered(t, cli, l, 50, 100)
	waitFor(t, func() bool { return l.Up().Queued == 50 })
	stop := make(chan struct{})
	go func() { // keeps writing while Close runs
		buf := make([]byte, 100)
		for {
			select {
			case <-stop:
				return
			default:
				cli.WriteToUDPAddrPort(buf, l.Addr())
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Close did not return")
	}
	close(stop)
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s := l.Up(); s.Queued != 0 || s.Forwarded != 0 {
		t.Fatalf("after Close: %v", s)
	}
	sink.SetReadDeadline(time.Now()) // nothing must have been forwarded
	if _, _, err := sink.ReadFromUDPAddrPort(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the sink got a datagram or failed: %v", err)
	}
}

// waitFor polls cond (the line's counters move on its own goroutines) until it holds or the
// hang guard passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within the hang guard")
		}
		time.Sleep(time.Millisecond)
	}
}
