package peerbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/sttfast/sttfast/batchio"
)

// udpCeiling is what the kernel's loopback path carries with the same batch I/O sttfast uses
// (recvmmsg/sendmmsg, GSO on send, GRO on receive, 8 MiB socket buffers) and nothing else: no
// crypto, no reliability, no flow or congestion control. Every workload moves datagrams of
// ceilingPacket bytes (the packet sttfast's path MTU discovery settles on over loopback), numbered and checked at the receiver like everyone's bytes; what the
// receiver cannot keep up with is dropped by the kernel and reported as lost, not as an error.
// Message workloads are counted in bytes (so msg/s = goodput / message size): the ceiling is
// the packet path, whatever the application's message size.
type udpCeiling struct{}

// ceilingPacket is the packet size of the ceilings (udp-ceiling's datagrams, aes-ceiling's
// packets): what sttfast's sessions end at on loopback, where path MTU discovery climbs from
// 1200 to its default ceiling of 8972 bytes (a 9000-byte IPv4 jumbo frame), so that the machine's
// limit row compares sttfast with the packet path and AES cost it actually uses.
const ceilingPacket = 8972

const (
	udpDatagram = ceilingPacket
	udpSockBuf  = 8 << 20
	udpBatch    = 64
)

func (u *udpCeiling) Name() string { return "udp-ceiling" }

func (u *udpCeiling) Class() Class { return classCeiling }

func (u *udpCeiling) Describe() string {
	return "sttfast's batchio over loopback: sendmmsg with UDP GSO (64 messages of up to 7 x 8972-byte datagrams per call), recvmmsg with GRO into 64 KiB buffers, 8 MiB socket buffers; no crypto, no reliability, no flow or congestion control; every datagram numbered and content-checked at the receiver; the ping-pong (rtt) is not batchio but a plain net.UDPConn on each side (WriteToUDPAddrPort, ReadFromUDPAddrPort in the netpoller), 64-byte datagrams"
}

func (u *udpCeiling) Supports(w Workload) bool {
	return w.Kind == kindStream && w.Name != "bulk10s" || w.Kind == kindRTT
}

func (u *udpCeiling) Available() error { return nil }

func (u *udpCeiling) Custom(Workload) bool { return true }

func udpListen() (*batchio.Conn, error) {
	return batchio.Listen("udp", "127.0.0.1:0", batchio.Options{RecvBuffer: udpSockBuf, SendBuffer: udpSockBuf, BatchSize: udpBatch})
}

func udpInfo(e *Env, c *batchio.Conn) {
	r, _ := c.Buffers()
	e.Info("gso", strconv.FormatBool(c.GSO()))
	e.Info("gro", strconv.FormatBool(c.GRO()))
	e.Info("socket_recv_buffer", strconv.Itoa(r))
	e.Info("udp_payload", strconv.Itoa(udpDatagram))
}

func (u *udpCeiling) RunRecv(ctx context.Context, e *Env) error {
	if e.W.Kind == kindRTT {
		return plainEcho(e)
	}
	c, err := udpListen()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer c.Close()
	udpInfo(e, c)
	e.Ready([]string{c.LocalAddr().String()})
	go func() { <-e.Stop(); c.Close() }()
	slab := batchio.NewSlab(udpBatch, batchio.GROBufferSize)
	msgs := slab.Messages()
	v := DatagramVerifier{p: e.P, size: udpDatagram}
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("read: %w", err)
		}
		got := 0
		for i := range msgs[:n] {
			it := msgs[i].Datagrams()
			for d, ok := it.Next(); ok; d, ok = it.Next() {
				if err := v.Check(d); err != nil {
					return err
				}
				got += len(d)
			}
		}
		e.M.SetLoss(v.Lost, v.Late)
		e.M.Add(got, got/udpDatagram)
	}
	if !e.WindowDone() {
		return errors.New("stopped before the measurement window closed")
	}
	return nil
}

func (u *udpCeiling) RunSend(ctx context.Context, e *Env) error {
	if e.W.Kind == kindRTT {
		return plainPing(e)
	}
	c, err := udpListen()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer c.Close()
	udpInfo(e, c)
	to, err := netip.ParseAddrPort(e.O.Addrs[0])
	if err != nil {
		return fmt.Errorf("receiver address: %w", err)
	}
	// Each message is one GSO send of as many datagrams as fit in 64 KiB.
	perMsg := min(batchio.MaxSegments, 65507/udpDatagram)
	slab := batchio.NewSlab(udpBatch, perMsg*udpDatagram)
	msgs := slab.Messages()
	var seq uint64
	for !e.Stopped() {
		for i := range msgs {
			m := &msgs[i]
			for j := 0; j < perMsg; j++ {
				e.P.FillDatagram(m.Buf[j*udpDatagram:(j+1)*udpDatagram], seq)
				seq++
			}
			m.N, m.Seg, m.Addr = perMsg*udpDatagram, udpDatagram, to
		}
		if _, err := c.WriteBatch(msgs); err != nil {
			if e.Stopped() || errors.Is(err, net.ErrClosed) {
				break
			}
			return fmt.Errorf("write: %w", err)
		}
		e.M.Add(len(msgs)*perMsg*udpDatagram, 0)
	}
	return nil
}
