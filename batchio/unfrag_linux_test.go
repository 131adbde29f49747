//go:build !batchio_portable

package batchio

import (
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// WriteUnfragmented sends like WriteBatch and leaves the socket as it found it: in the
// kernel's default mode, under which the handshake's padded datagrams may still be fragmented.
func TestWriteUnfragmentedRestoresMode(t *testing.T) {
	for _, nw := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp", "[::1]:0"}} {
		t.Run(nw.network, func(t *testing.T) {
			tx, rx := loopbackPair(t, nw.network, nw.addr, Options{}, Options{DisableGRO: true})
			s := NewSlab(1, 9000)
			m := &s.Messages()[0]
			m.N, m.Addr = 8972, rx.LocalAddr()
			fill(m.Buf[:m.N], 0)
			if n, err := tx.WriteUnfragmented(s.Messages()); n != 1 || err != nil {
				t.Fatalf("WriteUnfragmented = %d, %v", n, err)
			}
			got := recvN(t, rx, NewSlab(1, 9000).Messages(), 1)
			expectAll(t, got, tx.LocalAddr(), func(uint32) int { return 8972 })
			mode, err := tx.pmtuDiscMode()
			if err != nil {
				t.Fatal(err)
			}
			if mode != unix.IP_PMTUDISC_WANT {
				t.Fatalf("path MTU discovery mode after WriteUnfragmented = %d, want IP_PMTUDISC_WANT (%d)", mode, unix.IP_PMTUDISC_WANT)
			}
		})
	}
}

// On a link of MTU 1100 (loopback of a private network namespace), a 1200-byte datagram sent
// with WriteUnfragmented is refused with a *SizeError, as a path MTU probe must be, while the
// same datagram sent with WriteBatch is still fragmented and delivered.
func TestWriteUnfragmentedNarrowLink(t *testing.T) {
	inNarrowNamespace(t, 1100, unfragNarrowChecks)
}

func unfragNarrowChecks(t *testing.T, mtu int) error {
	tx, err := Listen("udp4", "127.0.0.1:0", Options{})
	if err != nil {
		return err
	}
	defer tx.Close()
	rx, err := Listen("udp4", "127.0.0.1:0", Options{DisableGRO: true, RecvBuffer: testRecvBuf})
	if err != nil {
		return err
	}
	defer rx.Close()
	one := NewSlab(1, 1200)
	m := &one.Messages()[0]
	m.N, m.Addr = 1200, rx.LocalAddr()
	fill(m.Buf[:1200], 0)
	n, err := tx.WriteUnfragmented(one.Messages())
	var se *SizeError
	if n != 0 || !errors.As(err, &se) || !errors.Is(err, syscall.EMSGSIZE) || se.Size != 1200 {
		return errors.New("an unfragmented 1200-byte datagram over MTU 1100 was not refused with EMSGSIZE")
	}
	if se.MTU != mtu {
		t.Errorf("SizeError MTU = %d, want %d", se.MTU, mtu)
	}
	if _, err := tx.WriteBatch(one.Messages()); err != nil {
		return errors.New("after WriteUnfragmented, a plain 1200-byte datagram was refused: " + err.Error())
	}
	recvN(t, rx, NewSlab(1, 2048).Messages(), 1)
	m.N = mtu - 28
	if _, err := tx.WriteUnfragmented(one.Messages()); err != nil {
		return errors.New("an unfragmented datagram of the link's size was refused: " + err.Error())
	}
	recvN(t, rx, NewSlab(1, 2048).Messages(), 1)
	return nil
}
