//go:build !batchio_portable

package batchio

import (
	"errors"
	"net"
	"testing"
	"time"
)

// sendSeq sends k 100-byte datagrams numbered from seq to dst.
func sendSeq(t *testing.T, tx *Conn, dst *Conn, seq uint32, k int) {
	t.Helper()
	msgs := NewSlab(k, 100).Messages()
	for i := range msgs {
		fill(msgs[i].Buf, seq+uint32(i))
		msgs[i].N, msgs[i].Addr = 100, dst.LocalAddr()
	}
	if _, err := tx.WriteBatch(msgs); err != nil {
		t.Fatal(err)
	}
}

// TryReadBatch finds nothing on an empty socket without waiting, reads what loopback queued
// (sendmmsg returns after the datagrams are in the receiver's queue), and fails with
// net.ErrClosed after Close.
func TestTryReadBatch(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	msgs := NewSlab(maxPollBatch+2, GROBufferSize).Messages()
	if n, err := rx.TryReadBatch(msgs); n != 0 || err != nil {
		t.Fatalf("TryReadBatch on an empty socket = %d, %v; want 0, nil", n, err)
	}
	const k = 3
	sendSeq(t, tx, rx, 7, k)
	n, err := rx.TryReadBatch(msgs)
	if err != nil || n != k {
		t.Fatalf("TryReadBatch = %d, %v; want %d datagrams", n, err, k)
	}
	for i := range n {
		seq, err := check(msgs[i].Buf[:msgs[i].N])
		if err != nil || seq != 7+uint32(i) || msgs[i].Addr != tx.LocalAddr() {
			t.Fatalf("datagram %d: seq %d from %v (%v); want %d from %v", i, seq, msgs[i].Addr, err, 7+i, tx.LocalAddr())
		}
	}
	// No more than its own header set per call, whatever len(msgs) is.
	sendSeq(t, tx, rx, 100, maxPollBatch+2)
	if n, err := rx.TryReadBatch(msgs); n != maxPollBatch || err != nil {
		t.Fatalf("TryReadBatch of %d queued = %d, %v; want %d", maxPollBatch+2, n, err, maxPollBatch)
	}
	if n, err := rx.TryReadBatch(msgs); n != 2 || err != nil {
		t.Fatalf("TryReadBatch of the rest = %d, %v; want 2", n, err)
	}
	rx.Close()
	if _, err := rx.TryReadBatch(msgs); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryReadBatch after Close: %v; want net.ErrClosed", err)
	}
}

// A TryReadBatch runs while a ReadBatch waits in the netpoller (it does not queue behind the
// socket's read lock), and between them every datagram is received exactly once.
func TestTryReadBatchBesideParkedRead(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{DisableGSO: true}, Options{RecvBuffer: testRecvBuf})
	rx.SetReadDeadline(time.Now().Add(safety))
	const total = 200
	seen := make(chan uint32, total)
	done := make(chan error, 1)
	go func() {
		msgs := NewSlab(4, GROBufferSize).Messages()
		for {
			n, err := rx.ReadBatch(msgs)
			if err != nil {
				done <- err
				return
			}
			for i := range n {
				seq, err := check(msgs[i].Buf[:msgs[i].N])
				if err != nil {
					done <- err
					return
				}
				seen <- seq
			}
		}
	}()
	polled := NewSlab(maxPollBatch, GROBufferSize).Messages()
	got := make(map[uint32]bool)
	record := func(seq uint32) {
		if got[seq] {
			t.Fatalf("datagram %d received twice", seq)
		}
		got[seq] = true
	}
	for seq := uint32(0); seq < total; seq++ {
		sendSeq(t, tx, rx, seq, 1)
		n, err := rx.TryReadBatch(polled)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			s, err := check(polled[i].Buf[:polled[i].N])
			if err != nil {
				t.Fatal(err)
			}
			record(s)
		}
	}
	timeout := time.After(safety)
	for len(got) < total {
		select {
		case s := <-seen:
			record(s)
		case err := <-done:
			t.Fatalf("ReadBatch: %v", err)
		case <-timeout:
			t.Fatalf("received %d of %d datagrams", len(got), total)
		}
	}
	rx.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("parked ReadBatch after Close: %v", err)
	}
}
