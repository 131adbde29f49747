//go:build !batchio_portable

package batchio

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A GSO send the kernel refuses with EMSGSIZE (segments larger than the route's MTU) ends the
// batch with a *SizeError naming the refused Message, its size and the route's MTU: the Message
// before it went out, and the caller learns what fits instead of seeing its packets vanish.
func TestGSOSizeErrorMidBatch(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{DisableGRO: true})
	requireGSO(t, tx)
	s := NewSlab(3, 10000)
	ms := s.Messages()
	ms[0].N, ms[0].Addr = 700, rx.LocalAddr()
	fill(ms[0].Buf[:700], 0)
	ms[1].N, ms[1].Addr, ms[1].Seg = 10000, rx.LocalAddr(), 1000
	ms[2].N, ms[2].Addr = 500, rx.LocalAddr()
	tx.sys.tx.injectEIO, tx.sys.tx.injectErr = true, unix.EMSGSIZE
	n, err := tx.WriteBatch(ms)
	var se *SizeError
	if n != 1 || !errors.As(err, &se) {
		t.Fatalf("WriteBatch = %d, %v; want 1, a *SizeError", n, err)
	}
	if !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("%v does not match EMSGSIZE", err)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	mtu := min(lo.MTU, 65535) // the kernel reports at most IP_MAX_MTU
	if se.Index != 1 || se.Addr != rx.LocalAddr() || se.Size != 1000 || se.MTU != mtu {
		t.Fatalf("SizeError %+v; want index 1, %v, size 1000, MTU %d", se, rx.LocalAddr(), mtu)
	}
	if want := mtu - 28; se.MaxPayload() != want {
		t.Fatalf("MaxPayload = %d, want %d", se.MaxPayload(), want)
	}
	if !tx.GSO() {
		t.Fatal("EMSGSIZE switched GSO off: it is the size that is wrong, not the offload")
	}
	got := recvN(t, rx, NewSlab(4, 2048).Messages(), 1)
	expectAll(t, got, tx.LocalAddr(), func(uint32) int { return 700 })
}

// On a real link narrower than the packets (loopback of a private network namespace with MTU
// 1100), a GSO send of 1200-byte segments fails with a SizeError that reads the MTU, a single
// 1200-byte datagram is still sent (fragmented by the kernel: batchio leaves IP_MTU_DISCOVER at
// IP_PMTUDISC_WANT, on which the handshake relies) and segments of MaxPayload bytes pass.
func TestSizeErrorNarrowLink(t *testing.T) {
	inNarrowNamespace(t, 1100, narrowLinkChecks)
}

// inNarrowNamespace runs checks on a thread of its own in a private network namespace whose
// loopback has the given MTU, and fails or skips the test as they say.
func inNarrowNamespace(t *testing.T, mtu int, checks func(*testing.T, int) error) {
	t.Helper()
	type result struct {
		err  error
		skip string
	}
	done := make(chan result, 1)
	go func() {
		// The namespace belongs to this thread only; it is never unlocked, so the thread
		// exits with the goroutine and no other goroutine runs in the namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{skip: "platform: cannot make a network namespace (needs root): " + err.Error()}
			return
		}
		if err := setLoopback(mtu); err != nil {
			done <- result{err: err}
			return
		}
		done <- result{err: checks(t, mtu)}
	}()
	r := <-done
	if r.skip != "" {
		t.Skip(r.skip)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
}

// narrowLinkChecks runs in the namespace of TestSizeErrorNarrowLink.
func narrowLinkChecks(t *testing.T, mtu int) error {
	tx, err := Listen("udp", "127.0.0.1:0", Options{})
	if err != nil {
		return err
	}
	defer tx.Close()
	rx, err := Listen("udp4", "127.0.0.1:0", Options{DisableGRO: true, RecvBuffer: testRecvBuf})
	if err != nil {
		return err
	}
	defer rx.Close()
	if !tx.GSO() {
		t.Log("no GSO: only the single-datagram check runs")
	}
	one := NewSlab(1, 1200)
	m := &one.Messages()[0]
	m.N, m.Addr = 1200, rx.LocalAddr()
	fill(m.Buf[:1200], 0)
	if _, err := tx.WriteBatch(one.Messages()); err != nil {
		return errors.New("a single 1200-byte datagram over MTU 1100 was refused: " + err.Error())
	}
	recvN(t, rx, NewSlab(1, 2048).Messages(), 1)
	if !tx.GSO() {
		return nil
	}
	big := gsoMessage(rx.LocalAddr(), 1200, 4, 0)
	n, err := tx.WriteBatch(big.Messages())
	var se *SizeError
	if n != 0 || !errors.As(err, &se) || se.MTU != mtu || se.MaxPayload() != mtu-28 || se.Size != 1200 {
		t.Errorf("GSO of 1200-byte segments over MTU %d: %d, %v (%+v)", mtu, n, err, se)
		return nil
	}
	fit := gsoMessage(rx.LocalAddr(), se.MaxPayload(), 4, 0)
	if _, err := tx.WriteBatch(fit.Messages()); err != nil {
		return errors.New("GSO of MaxPayload-byte segments: " + err.Error())
	}
	got := recvN(t, rx, NewSlab(8, 2048).Messages(), 4)
	expectAll(t, got, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tx.LocalAddr().Port()),
		func(uint32) int { return mtu - 28 })
	return nil
}

// setLoopback brings lo up with the given MTU in the calling thread's network namespace.
func setLoopback(mtu int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
