package netem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/hardening/attack"
	"github.com/sttfast/sttfast/hardening/netem/delayline"
	"github.com/sttfast/sttfast/stc"
)

// stallAfter is issue 10's stall criterion: a transfer that delivers no new byte for this long
// has collapsed, whatever it would do later.
const stallAfter = 10 * time.Second

// jitterGuard bounds a transfer that keeps crawling without ever stalling; it is a hang guard,
// not a throughput requirement.
const jitterGuard = 5 * time.Minute

// settleGuard bounds the wait for the last late ACKs after a transfer; a hang guard.
const settleGuard = 10 * time.Second

// TestJitterTransfer (issue 10) moves a seeded-random payload between two in-process ctrl nodes
// joined through a userspace delay line on 127.0.0.1 (package delayline): 5 ms each way with
// uniform jitter in both directions, so data packets and acknowledgements overtake each other.
// Each transfer must be byte-exact and must never go stallAfter without delivering a byte. It
// runs for CUBIC and BBR, at ±1 ms (the report) and ±4 ms. STT_JITTER_SIZE sets the
// payload (default 8MiB).
func TestJitterTransfer(t *testing.T) {
	size := envSize(t, "STT_JITTER_SIZE", 8<<20)
	payload := make([]byte, size)
	rand.NewChaCha8([32]byte{10}).Read(payload)
	for _, jitter := range []time.Duration{time.Millisecond, 4 * time.Millisecond} {
		for _, cc := range []recovery.Algorithm{recovery.Cubic, recovery.BBR} {
			t.Run(fmt.Sprintf("jitter%v/%v", jitter, cc), func(t *testing.T) {
				path := delayline.Config{Delay: 5 * time.Millisecond, Jitter: jitter, Dist: delayline.Uniform}
				jitterTransfer(t, cc, path, payload)
			})
		}
	}
}

// jitterTransfer sends payload from a dialing node to a listening one through a delay line with
// path in both directions, both nodes using controller cc.
func jitterTransfer(t *testing.T, cc recovery.Algorithm, path delayline.Config, payload []byte) {
	srv := jitterNode(t, cc)
	up, down := path, path
	up.Seed, down.Seed = 1, 2
	line, err := delayline.New("127.0.0.1:0", srv.Addr().String(), up, down)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { line.Close() })
	cli := jitterNode(t, cc)
	ports := socketPorts{srv.Addr().Port(), cli.Addr().Port(), line.Addr().Port(), line.TargetSideAddr().Port()}
	drops0 := ports.drops(t)
	ctx, cancel := context.WithTimeout(context.Background(), jitterGuard)
	defer cancel()
	sess, err := cli.Dial(ctx, "udp://"+line.Addr().String())
	if err != nil {
		t.Fatalf("dial through the delay line: %v", err)
	}
	var got atomic.Int64
	recvDone := make(chan error, 1)
	go func() { recvDone <- receiveExact(ctx, srv, payload, &got) }()
	sendDone := make(chan error, 1)
	go func() { sendDone <- sendAll(ctx, sess, payload) }()
	t0 := time.Now()
	if err := watchProgress(ctx, recvDone, &got, int64(len(payload))); err != nil {
		cancel() // unblocks both sides; the nodes close with the test
		t.Fatalf("%v\n  sender %s\n  line up %v\n  line down %v", err, sessStats(sess), line.Up(), line.Down())
	}
	el := time.Since(t0)
	if err := <-sendDone; err != nil {
		t.Fatalf("sender: %v", err)
	}
	drops := ports.drops(t) - drops0
	t.Logf("%d MiB byte-exact in %.1fs: %.1f Mbit/s; sender %s; line up: %v; kernel socket drops %d",
		len(payload)>>20, el.Seconds(), float64(len(payload))*8/el.Seconds()/1e6, sessStats(sess), line.Up(), drops)
	checkReorderingTolerated(t, sess, srv, func() uint64 { return ports.drops(t) - drops0 })
}

// socketPorts are the UDP ports of the sockets a transfer goes through.
type socketPorts []uint16

// drops sums the kernel's receive drop counters (socket buffer overflows) of the sockets: a
// datagram dropped there is a real loss the line did not make.
func (ps socketPorts) drops(t *testing.T) uint64 {
	t.Helper()
	var sum uint64
	for _, p := range ps {
		d, _, err := attack.SocketDrops(os.Getpid(), p)
		if err != nil {
			t.Fatalf("kernel drops of port %d: %v", p, err)
		}
		sum += d
	}
	return sum
}

// checkReorderingTolerated asserts on counters, not on speed, what issue 10's collapse looked
// like: the line drops nothing, so a packet the sender declared lost arrived and was only late.
// Every such loss must be proven spurious by its late ACK, except those the kernel really dropped
// (kernelDrops: socket buffers overflowing while a loopback burst outruns a reader on a loaded
// machine) and at most 3% of the packets sent: a late packet whose ACK range was forgotten
// (recovery.MaxRanges) or whose ACK came after the sender stopped remembering it
// (lostRetention) stays unproven. Before the fix about 555 of 7000 were declared lost, none
// proven spurious, and the receiver refused authentic packets as too fragmented; with 256 ACK
// ranges instead of 1024, 2-11% stayed unproven at ±4 ms; now 0-2.5%.
//
// The receiver having every byte does not mean the sender has every ACK: the late ACKs of the
// last losses are still on the line. So the counters are read until they meet the bound or
// settleGuard passes (a hang guard: they settle within a few round trips).
func checkReorderingTolerated(t *testing.T, sess *ctrl.Session, srv *ctrl.Node, kernelDrops func() uint64) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	guard := time.After(settleGuard)
	for settled := false; !settled; {
		st, kd := sess.Stats(), kernelDrops()
		unproven := st.PacketsLost - min(st.PacketsLost, st.SpuriousLosses)
		if unproven <= st.PacketsSent*3/100+kd {
			break
		}
		select {
		case <-tick.C:
		case <-guard:
			settled = true
			t.Errorf("%d of %d packets declared lost were never proven spurious on a line that drops nothing (%d spurious; %d dropped by the kernel)",
				unproven, st.PacketsSent, st.SpuriousLosses, kd)
		}
	}
	if d := srv.Stats().Drops[dataplane.DropFragmented]; d != 0 {
		t.Errorf("the receiver refused %d authentic packets as too fragmented", d)
	}
}

// jitterNode starts a loopback node with controller cc, closed with the test.
func jitterNode(t *testing.T, cc recovery.Algorithm) *ctrl.Node {
	t.Helper()
	seed, err := stc.NewSeed(bytes.Repeat([]byte{10}, 32))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0",
		Transport: dataplane.Config{Congestion: cc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// sendAll writes payload on a new stream in 64 KiB writes and closes the write side.
func sendAll(ctx context.Context, sess *ctrl.Session, payload []byte) error {
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	stopDeadline := context.AfterFunc(ctx, func() { st.SetWriteDeadline(time.Now()) })
	defer stopDeadline()
	for off := 0; off < len(payload); off += 64 << 10 {
		if _, err := st.Write(payload[off:min(off+64<<10, len(payload))]); err != nil {
			return fmt.Errorf("write at offset %d: %w", off, err)
		}
	}
	return st.CloseWrite()
}

// receiveExact accepts the session and its stream and compares every byte read with payload at
// its offset, publishing the count in got; it fails on the first difference, on data past the
// end, and on an end before it.
func receiveExact(ctx context.Context, n *ctrl.Node, payload []byte, got *atomic.Int64) error {
	sess, err := n.Accept(ctx)
	if err != nil {
		return fmt.Errorf("accept session: %w", err)
	}
	st, err := sess.AcceptStream(ctx)
	if err != nil {
		return fmt.Errorf("accept stream: %w", err)
	}
	stopDeadline := context.AfterFunc(ctx, func() { st.SetReadDeadline(time.Now()) })
	defer stopDeadline()
	buf := make([]byte, 64<<10)
	off := 0
	for {
		k, err := st.Read(buf)
		if k > len(payload)-off {
			return fmt.Errorf("%d bytes past the end of the %d-byte payload", k-(len(payload)-off), len(payload))
		}
		if !bytes.Equal(buf[:k], payload[off:off+k]) {
			return fmt.Errorf("content differs in the %d bytes at offset %d", k, off)
		}
		off += k
		got.Store(int64(off))
		switch {
		case errors.Is(err, io.EOF) && off == len(payload):
			return nil
		case errors.Is(err, io.EOF):
			return fmt.Errorf("stream ended at %d of %d bytes", off, len(payload))
		case err != nil:
			return fmt.Errorf("read at offset %d: %w", off, err)
		}
	}
}

// watchProgress waits for the receiver's result, failing when got has not moved for stallAfter
// (the stall) or the context ends.
func watchProgress(ctx context.Context, done <-chan error, got *atomic.Int64, total int64) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("not done within %v: %d of %d bytes", jitterGuard, got.Load(), total)
		case now := <-tick.C:
			if g := got.Load(); g != last {
				last, lastAt = g, now
			} else if now.Sub(lastAt) >= stallAfter {
				return fmt.Errorf("stalled: no new byte for %v at %d of %d bytes", now.Sub(lastAt).Round(time.Second), g, total)
			}
		}
	}
}

// sessStats is the sender's view for the log: what it lost, resent and estimated.
func sessStats(s *ctrl.Session) string {
	st := s.Stats()
	return fmt.Sprintf("sent %d packets, %d declared lost (%d spurious; %d events, %d undone; thresholds %d packets, %v), %d B retransmitted, srtt %v, min rtt %v, cwnd %d B",
		st.PacketsSent, st.PacketsLost, st.SpuriousLosses, st.CongestionEvents, st.UndoneEvents, st.PacketThreshold,
		time.Duration(st.ReorderWindow).Round(time.Microsecond), st.RetransmittedBytes,
		time.Duration(st.SmoothedRTT).Round(time.Microsecond), time.Duration(st.MinRTT).Round(time.Microsecond), st.Window)
}
