package dataplane

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
)

// The engine over a reliable, ordered path (reliable.go), driven by hand over reliable memConns:
// ordered, lossless, with a byte budget that drops what exceeds it, as wspath does.

var _ ReliableConn = (*wspath.Conn)(nil)

// newReliablePair is newPair over reliable memConns with the given budget.
func newReliablePair(t testing.TB, cfg Config, budget int) (a, b *side) {
	t.Helper()
	return newPairOn(t, cfg, func(local netip.AddrPort) *memConn { return newReliableMemConn(local, budget) })
}

// reliableTransfer moves data from a to b over one stream, in messages of up to msgLen bytes,
// until b has read it all. drainEvery is how many of a's TX iterations the path takes to deliver
// what was written (1: every iteration). It returns what b read and counts a's packets and those
// of full size.
type transferStats struct{ aPackets, aFull int }

func reliableTransfer(t *testing.T, a, b *side, data []byte, msgLen, drainEvery int) ([]byte, transferStats) {
	t.Helper()
	var ts transferStats
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var pst *Stream
	got := make([]byte, 0, len(data))
	full := a.s.payloadSize()
	off := 0
	for round := 0; len(got) < len(data); round++ {
		if round > 1_000_000 {
			t.Fatalf("transfer stuck at %d of %d bytes", len(got), len(data))
		}
		for off < len(data) {
			n := min(msgLen, len(data)-off)
			ok, err := st.TryWriteMessage(data[off : off+n])
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			off += n
		}
		a.step()
		if round%drainEvery != 0 {
			continue // the path has not delivered yet: what a wrote stays in it
		}
		for _, m := range a.conn.out {
			ts.aPackets++
			if m.N == full {
				ts.aFull++
			}
		}
		moved := deliver(a, b)
		if pst == nil && moved > 0 {
			if pst, err = b.s.AcceptStream(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		for pst != nil && len(got) < len(data) {
			n := min(msgLen, len(data)-len(got))
			if pst.recv.Readable() < n+frame.VarintLen(uint64(n)) {
				break
			}
			if got, err = pst.ReadMessage(got); err != nil {
				t.Fatal(err)
			}
		}
		b.step()
		moved += deliver(b, a)
		if moved == 0 {
			// Nothing moved: a waits for an ACK that b delays. Run b's clock to its ACK deadline
			// instead of sleeping.
			b.stepAt(recovery.Now() + recovery.Time(reliableAckDelay))
			deliver(b, a)
		}
	}
	// The last ACKs, so that a's send buffers are released. Time is real: on a slow run a's
	// probe timeout can fire before the last ACK arrives, and the probe (a PING-only packet) is
	// in flight until b acknowledges it too, so exchange until nothing is (a few rounds at most).
	for i := 0; i < 10; i++ {
		deliver(a, b)
		b.stepAt(recovery.Now() + recovery.Time(reliableAckDelay))
		deliver(b, a)
		a.step()
		if a.s.sender.BytesInFlight() == 0 {
			break
		}
	}
	return got, ts
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// TestReliableBulkTransfer moves 32 MiB byte-exact over a reliable path: nothing declared lost,
// nothing retransmitted, packets of DefaultReliablePacketSize, fewer than one ACK per 8 data
// packets, nothing dropped by the path's budget.
func TestReliableBulkTransfer(t *testing.T) {
	size := 32 << 20
	if testing.Short() || raceEnabled {
		size = 8 << 20
	}
	a, b := newReliablePair(t, Config{}, 512<<10)
	if !a.e.Reliable() || !b.e.Stats().Reliable {
		t.Fatal("engines over a reliable conn do not say so")
	}
	if got := a.s.payloadSize(); got != DefaultReliablePacketSize {
		t.Fatalf("packet size %d, want %d", got, DefaultReliablePacketSize)
	}
	data := randomBytes(size, 12)
	got, ts := reliableTransfer(t, a, b, data, 60000, 1)
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	ss := a.s.Stats()
	if ss.PacketsLost != 0 || ss.RetransmittedBytes != 0 {
		t.Fatalf("over a reliable path: %d packets lost, %d bytes retransmitted; want 0, 0", ss.PacketsLost, ss.RetransmittedBytes)
	}
	if a.conn.drops != 0 || b.conn.drops != 0 {
		t.Fatalf("the path dropped %d / %d packets for its budget", a.conn.drops, b.conn.drops)
	}
	if ts.aFull*10 < ts.aPackets*9 {
		t.Fatalf("%d of %d packets of full size %d, want >= 90%%", ts.aFull, ts.aPackets, DefaultReliablePacketSize)
	}
	bTx := b.e.Stats().TxDatagrams
	if bTx*8 >= uint64(ts.aPackets) {
		t.Fatalf("b sent %d packets (ACKs) for a's %d data packets, want fewer than 1 per 8", bTx, ts.aPackets)
	}
	if n := a.s.sender.BytesInFlight(); n != 0 {
		t.Fatalf("%d bytes still unacknowledged after the last ACK", n)
	}
	t.Logf("%d data packets (%d full), %d ACK packets, %d path holds", ts.aPackets, ts.aFull, bTx, a.e.Stats().PathHeld)
}

// TestReliableSlowPathHoldsData lets the path deliver only every fourth TX iteration: the
// engine never hands it more than its budget (no drops), the data waits in the send buffers,
// and it all arrives byte-exact without a retransmission.
func TestReliableSlowPathHoldsData(t *testing.T) {
	const budget = 256 << 10
	a, b := newReliablePair(t, Config{}, budget)
	st, err := a.s.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// One exchange, so that b's stream credit (4 MiB) replaces the protocol's initial 64 KiB.
	if err := st.WriteMessage([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	a.step()
	deliver(a, b)
	b.step()
	deliver(b, a)
	// Fill the send buffer, then run a's TX loop many times with the path not draining.
	msg := randomBytes(1<<20, 3)
	for {
		ok, err := st.TryWriteMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	for i := 0; i < 50; i++ {
		a.step()
		a.e.notify(a.s) // as a writer would: the session is served again at once
	}
	if a.conn.drops != 0 || a.conn.held > budget {
		t.Fatalf("path holds %d of a %d budget, %d dropped; want none dropped", a.conn.held, budget, a.conn.drops)
	}
	if a.conn.held < budget-2*(DefaultReliablePacketSize+reliableFraming) {
		t.Fatalf("path holds only %d of a %d budget: the engine did not fill it", a.conn.held, budget)
	}
	if a.e.Stats().PathHeld == 0 {
		t.Fatal("PathHeld not counted")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A second stream moves data through the slow path to completion.
	data := randomBytes(6<<20, 4)
	a2, b2 := newReliablePair(t, Config{}, budget)
	got, _ := reliableTransfer(t, a2, b2, data, 60000, 4)
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if a2.conn.drops != 0 || b2.conn.drops != 0 {
		t.Fatalf("the slow path dropped %d / %d packets", a2.conn.drops, b2.conn.drops)
	}
	if ss := a2.s.Stats(); ss.PacketsLost != 0 || ss.RetransmittedBytes != 0 {
		t.Fatalf("%d packets lost, %d bytes retransmitted; want 0, 0", ss.PacketsLost, ss.RetransmittedBytes)
	}
}

// TestReliableGapResent drops one data packet at the receiving end (a full receive queue is the
// one way an ordered path loses a packet): the next ACK proves it gone and its data is resent,
// with no congestion reaction.
func TestReliableGapResent(t *testing.T) {
	a, b := newReliablePair(t, Config{}, 1<<20)
	data := randomBytes(200000, 5)
	st, _ := a.s.OpenStream(t.Context())
	if err := st.WriteMessage(data); err != nil {
		t.Fatal(err)
	}
	a.step()
	dgs, _ := takeCopies(a)
	if len(dgs) < 4 {
		t.Fatalf("%d packets", len(dgs))
	}
	inject(b, append(dgs[:2:2], dgs[3:]...)...) // the third never reaches b's engine
	pst, err := b.s.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pumpUntil(t, a, b, nil, func() bool { return pst.recv.Readable() >= len(data)+4 })
	got, err := pst.ReadMessage(nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	ss := a.s.Stats()
	if ss.PacketsLost != 1 || ss.CongestionEvents != 0 {
		t.Fatalf("%d packets lost, %d congestion events; want 1, 0", ss.PacketsLost, ss.CongestionEvents)
	}
}
