package peerbench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// The round-trip floor: a 64-byte ping-pong over a plain *net.UDPConn, the way any Go program
// would write it (ReadFromUDPAddrPort, WriteToUDPAddrPort, the runtime's netpoller). It is
// deliberately not built on batchio: sttfast's own socket layer is what is being judged, so a
// change there (raw system calls, the read-wake hold) must not move the floor it is judged
// against.

// plainListen opens the floor's socket on loopback and says what it is in the run's info.
func plainListen(e *Env) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	e.Info("socket", "net.UDPConn")
	return c, nil
}

// plainEcho sends every datagram back to where it came from, checking it first.
func plainEcho(e *Env) error {
	c, err := plainListen(e)
	if err != nil {
		return err
	}
	defer c.Close()
	e.Ready([]string{c.LocalAddr().String()})
	go func() { <-e.Stop(); c.Close() }()
	buf := make([]byte, 65536)
	v := DatagramVerifier{p: e.P, size: e.Size()}
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err == nil {
			if err = v.Check(buf[:n]); err != nil {
				return err
			}
			_, err = c.WriteToUDPAddrPort(buf[:n], from)
		}
		if err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("echo: %w", err)
		}
		e.M.Add(n, 1)
	}
	e.WaitStop()
	return nil
}

// plainPing is the pinger: one datagram out, the same back, timed. A ping lost on loopback
// (it should not happen) is counted and resent after 200 ms.
func plainPing(e *Env) error {
	c, err := plainListen(e)
	if err != nil {
		return err
	}
	defer c.Close()
	to, err := netip.ParseAddrPort(e.O.Addrs[0])
	if err != nil {
		return fmt.Errorf("receiver address: %w", err)
	}
	size := e.Size()
	out, in := make([]byte, size), make([]byte, 65536)
	var h Histogram
	defer func() { e.SetRTT(h.Stats()) }()
	for seq := uint64(0); !e.Stopped(); seq++ {
		e.P.FillDatagram(out, seq)
		t := time.Now()
		if _, err := c.WriteToUDPAddrPort(out, to); err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("ping write: %w", err)
		}
		c.SetReadDeadline(t.Add(200 * time.Millisecond))
		n, err := readEcho(c, in, size, seq)
		if err != nil {
			if e.Stopped() {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				e.M.lost.Add(1)
				continue
			}
			return fmt.Errorf("ping read: %w", err)
		}
		rtt := time.Since(t)
		if n != size || !bytes.Equal(in[:n], out) {
			return fmt.Errorf("%w: echo differs from ping %d", errVerify, seq)
		}
		if e.InWindow() {
			h.Record(uint64(rtt))
		}
		e.M.Add(size, 1)
	}
	return nil
}

// readEcho reads until the echo of ping seq (or a datagram of another size) arrives, skipping
// echoes of earlier pings that were given up on.
func readEcho(c *net.UDPConn, in []byte, size int, seq uint64) (int, error) {
	for {
		n, _, err := c.ReadFromUDPAddrPort(in)
		if err != nil {
			return 0, err
		}
		if n == size && binary.BigEndian.Uint64(in) < seq {
			continue
		}
		return n, nil
	}
}
