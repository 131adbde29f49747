//go:build !batchio_portable

package batchio

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseEpollTarget(t *testing.T) {
	for _, c := range []struct {
		line string
		tfd  int
		mask uint32
		data uint64
		ok   bool
	}{
		{"tfd:        5 events: 8000201d data: 3f980b21a0000002  pos:0 ino:4b3 sdev:8", 5, 0x8000201d, 0x3f980b21a0000002, true},
		{"tfd: 12 events: 19 data: ffffffffffffffff", 12, 0x19, ^uint64(0), true},
		{"pos:\t0", 0, 0, 0, false},
		{"tfd: x events: 19 data: 1", 0, 0, 0, false},
		{"tfd: 3 events: 1ffffffff data: 1", 0, 0, 0, false},
		{"tfd: 3 events: 19 data: 1ffffffffffffffff", 0, 0, 0, false},
		{"tfd: 3 events: 19", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		tfd, mask, data, ok := parseEpollTarget(c.line)
		if ok != c.ok || tfd != c.tfd || mask != c.mask || data != c.data {
			t.Errorf("parseEpollTarget(%q) = %d, %#x, %#x, %v; want %d, %#x, %#x, %v",
				c.line, tfd, mask, data, ok, c.tfd, c.mask, c.data, c.ok)
		}
	}
}

// FuzzParseEpollTarget: any line parses or is refused without panicking, and what parses
// prints back to the same numbers.
func FuzzParseEpollTarget(f *testing.F) {
	f.Add("tfd:        5 events: 8000201d data: 3f980b21a0000002  pos:0 ino:4b3 sdev:8")
	f.Add("tfd: 12 events: 19 data: ffffffffffffffff")
	f.Add("eventfd-count: 0")
	f.Fuzz(func(t *testing.T, line string) {
		tfd, mask, data, ok := parseEpollTarget(line)
		if !ok {
			return
		}
		back := "tfd: " + strconv.Itoa(tfd) + " events: " + strconv.FormatUint(uint64(mask), 16) +
			" data: " + strconv.FormatUint(data, 16)
		if t2, m2, d2, ok2 := parseEpollTarget(back); !ok2 || t2 != tfd || m2 != mask || d2 != data {
			t.Fatalf("%q parsed to %d %x %x, which does not parse back from %q", line, tfd, mask, data, back)
		}
	})
}

// registeredMask reads c's registration in the runtime's epoll set, without EPOLLERR and
// EPOLLHUP (always reported).
func registeredMask(t *testing.T, c *Conn) uint32 {
	t.Helper()
	r := &c.sys.wakes
	fd := -1
	if err := c.sys.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	mask, _, ok := scanEpollInfo("/proc/self/fdinfo/"+strconv.Itoa(r.epfd), fd)
	if !ok {
		t.Fatalf("fd %d is not in epoll fd %d", fd, r.epfd)
	}
	return mask &^ (unix.EPOLLERR | unix.EPOLLHUP)
}

// A hold takes EPOLLIN and EPOLLOUT out of the socket's registration; holds nest; the last
// release puts EPOLLIN back (not EPOLLOUT, whose wake-up after every send is what the hold
// avoids), and a WriteBatch that parks puts EPOLLOUT back for good. After Close a hold fails.
func TestHoldReadWakesMask(t *testing.T) {
	_, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	if !rx.HoldReadWakes() {
		t.Skip("the runtime's epoll registration of the socket was not found (not the usual netpoller)")
	}
	const in = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
	steps := []struct {
		name string
		do   func()
		want uint32
	}{
		{"held", func() {}, unix.EPOLLET},
		{"held twice", func() { rx.HoldReadWakes() }, unix.EPOLLET},
		{"one release", rx.ReleaseReadWakes, unix.EPOLLET},
		{"released", rx.ReleaseReadWakes, in},
		{"extra release", rx.ReleaseReadWakes, in},
		{"writer parks", func() { rx.sys.rc.Control(rx.sys.wakes.wantWriteWakes) }, in | unix.EPOLLOUT},
		{"held with a writer", func() { rx.HoldReadWakes() }, unix.EPOLLOUT | unix.EPOLLET},
		{"released with a writer", rx.ReleaseReadWakes, in | unix.EPOLLOUT},
	}
	for _, s := range steps {
		s.do()
		if got := registeredMask(t, rx); got != s.want {
			t.Fatalf("%s: registered mask %#x, want %#x", s.name, got, s.want)
		}
	}
	rx.Close()
	if rx.HoldReadWakes() {
		t.Fatal("HoldReadWakes on a closed Conn reported a hold")
	}
}

// A datagram that arrives while wakes are held reaches a ReadBatch parked in the netpoller
// when they are released: the kernel re-checks readiness when the mask changes.
func TestReleaseWakesParkedReader(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	if !rx.HoldReadWakes() {
		t.Skip("the runtime's epoll registration of the socket was not found (not the usual netpoller)")
	}
	got := make(chan error, 1)
	go func() {
		in := NewSlab(1, GROBufferSize).Messages()
		n, err := rx.ReadBatch(in)
		if err == nil && n != 1 {
			err = errors.New("ReadBatch returned " + strconv.Itoa(n) + " datagrams")
		}
		got <- err
	}()
	sendSeq(t, tx, rx, 1, 1)
	rx.ReleaseReadWakes()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the datagram sent while wakes were held never reached the parked ReadBatch")
	}
	rx.Close()
	if _, err := rx.TryReadBatch(NewSlab(1, 100).Messages()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryReadBatch after Close: %v", err)
	}
}

// A WriteBatch that parked before any hold keeps EPOLLOUT in the mask of every later hold and
// release: a hold beginning while it waits must not take away the event it waits for.
func TestWriterBeforeHoldKeepsWriteWakes(t *testing.T) {
	_, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	rx.sys.rc.Control(rx.sys.wakes.wantWriteWakes)
	if !rx.HoldReadWakes() {
		t.Skip("the runtime's epoll registration of the socket was not found (not the usual netpoller)")
	}
	if got := registeredMask(t, rx); got != unix.EPOLLOUT|unix.EPOLLET {
		t.Fatalf("held after a writer parked: mask %#x, want EPOLLOUT|EPOLLET", got)
	}
	rx.ReleaseReadWakes()
	if got, want := registeredMask(t, rx), uint32(runtimeEpollMask); got != want {
		t.Fatalf("released after a writer parked: mask %#x, want the runtime's %#x", got, want)
	}
}
