package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
)

// narrowConn is a memConn behind a route of the given MTU, as the Linux kernel treats it with
// IP_MTU_DISCOVER left at its default: a GSO message whose segments exceed the route is refused
// with a *batchio.SizeError (EMSGSIZE), a single datagram is fragmented and goes through.
type narrowConn struct {
	*memConn
	mtu      int
	refused  int // messages refused
	maxAfter int // largest datagram accepted in a GSO message
}

func (c *narrowConn) MaxGSOSegments() int { return batchio.MaxSegments }

func (c *narrowConn) WriteBatch(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		m := &msgs[i]
		if m.NumDatagrams() > 1 && m.Seg > batchio.MaxPayload(c.mtu, m.Addr.Addr()) {
			c.memConn.WriteBatch(msgs[:i])
			c.refused++
			return i, &batchio.SizeError{Index: i, Addr: m.Addr, Size: m.Seg, MTU: c.mtu,
				Err: syscall.EMSGSIZE}
		}
		if m.NumDatagrams() > 1 {
			c.maxAfter = max(c.maxAfter, m.Seg)
		}
	}
	return c.memConn.WriteBatch(msgs)
}

// newNarrowPair is newPair whose initiator sends over a route of MTU mtu.
func newNarrowPair(t *testing.T, mtu int) (a, b *side, nc *narrowConn) {
	t.Helper()
	var first *narrowConn
	a, b = newPairOn(t, Config{}, func(local netip.AddrPort) *memConn { return newMemConn(local) })
	// Swap a's socket for the narrow one after the handshake: the handshake's packets are
	// single datagrams, which the kernel fragments.
	first = &narrowConn{memConn: a.conn, mtu: mtu}
	a.e.conn = first
	a.e.gso = batchio.MaxSegments
	return a, b, first
}

// Issue 11, bug 8: over a path narrower than the packets, GSO sends fail with EMSGSIZE. The
// session must shrink its packets to what the route carries, say so once (log and
// EventPathMTU), and complete the transfer byte-exact, instead of retrying silently forever.
func TestNarrowPathShrinksPackets(t *testing.T) {
	a, b, nc := newNarrowPair(t, 1100)
	data := make([]byte, 300<<10)
	var key [32]byte
	key[0] = 8
	rand.NewChaCha8(key).Read(data)
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, st, append(frame.AppendVarint(nil, uint64(len(data))), data...)) // one message
	st.CloseWrite()
	receiveWhole(t, a, b, data, 10*time.Second, func() string {
		return fmt.Sprintf("over MTU 1100: %d GSO messages refused, payload size %d", nc.refused, a.s.payloadSize())
	})
	const fit = 1100 - 28
	if p := a.s.payloadSize(); p != fit {
		t.Fatalf("payload size %d after EMSGSIZE at MTU 1100, want %d", p, fit)
	}
	if nc.refused == 0 || nc.maxAfter > fit {
		t.Fatalf("%d messages refused, largest GSO segment accepted %d: the narrow path was not exercised", nc.refused, nc.maxAfter)
	}
	if got := a.s.sender.MaxDatagramSize(); got != fit {
		t.Fatalf("recovery counts in %d-byte datagrams, want %d", got, fit)
	}
	if want := maxFrameSize(fit); a.s.MaxFrameSize() != want {
		t.Fatalf("MaxFrameSize %d, want %d", a.s.MaxFrameSize(), want)
	}
	var said []Event
	for _, ev := range drainEvents(a.e) {
		if ev.Kind == EventPathMTU {
			said = append(said, ev)
		}
	}
	if len(said) != 1 || said[0].Code != fit || said[0].Reason != "path MTU 1100: packets shrunk to 1072 bytes" {
		t.Fatalf("EventPathMTU: %+v; want exactly one, saying the packets shrank to %d", said, fit)
	}
	if a.e.Stats().TxRefused == 0 {
		t.Fatal("TxRefused did not count the refused datagrams")
	}
	if a.s.Err() != nil {
		t.Fatalf("session ended: %v", a.s.Err())
	}
}

// Below frame.PayloadFloor the session ends at once with a CloseError that says what the path
// carries (matching ErrPathTooNarrow), and the peer hears why.
func TestNarrowPathBelowFloorCloses(t *testing.T) {
	a, b, _ := newNarrowPair(t, 900)
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, st, make([]byte, 64<<10))
	deadline := time.Now().Add(10 * time.Second) // hang guard only
	for a.s.Err() == nil || b.s.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("session still open over MTU 900 (floor %d): a %v, b %v", frame.PayloadFloor, a.s.Err(), b.s.Err())
		}
		if exchangeRound(a, b, nil) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	err = a.s.Err()
	var ce *CloseError
	if !errors.Is(err, ErrPathTooNarrow) || !errors.As(err, &ce) || ce.Code != CodePathTooNarrow ||
		!strings.Contains(ce.Reason, "the path carries at most 872 bytes") {
		t.Fatalf("local close %v; want ErrPathTooNarrow saying the path carries at most 872 bytes", err)
	}
	if err := b.s.Err(); !errors.As(err, &ce) || !ce.Remote || ce.Code != CodePathTooNarrow {
		t.Fatalf("peer's close %v; want a remote CodePathTooNarrow", err)
	}
	if _, err := st.Write([]byte("x")); !errors.Is(err, ErrPathTooNarrow) {
		t.Fatalf("Write after close: %v, want ErrPathTooNarrow", err)
	}
}

// An application frame queued for the configured size that a shrunk packet could not carry
// would never be sent: the session ends rather than shrink under it.
func TestNarrowPathAppFrameTooLarge(t *testing.T) {
	a, b, _ := newNarrowPair(t, 1100)
	big := make([]byte, a.s.MaxFrameSize())
	if err := a.s.SendFrame(0x80, big); err != nil {
		t.Fatal(err)
	}
	st, _ := a.s.OpenStream(context.Background())
	writeRaw(t, st, make([]byte, 64<<10))
	deadline := time.Now().Add(10 * time.Second) // hang guard only
	for a.s.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("session with an oversize application frame still open")
		}
		if exchangeRound(a, b, nil) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	if !errors.Is(a.s.Err(), ErrPathTooNarrow) {
		t.Fatalf("close %v, want ErrPathTooNarrow", a.s.Err())
	}
}

// receiveWhole exchanges a's and b's packets until the first stream b accepted holds every byte
// up to its FIN, then checks that it holds data as one message, byte-exact. guard only bounds a
// hang; stalled says what to report with it.
func receiveWhole(t *testing.T, a, b *side, data []byte, guard time.Duration, stalled func() string) {
	t.Helper()
	deadline := time.Now().Add(guard)
	var bst *Stream
	for bst == nil || !bst.peerFin || bst.recv.Frontier() != bst.peerFinal {
		if time.Now().After(deadline) {
			t.Fatalf("transfer stalled %s", stalled())
		}
		if exchangeRound(a, b, nil) == 0 {
			time.Sleep(100 * time.Microsecond) // nothing in flight: let a timer come due
		}
		b.s.mu.Lock()
		if len(b.s.acceptq) > 0 {
			bst = b.s.acceptq[0]
		}
		b.s.mu.Unlock()
	}
	got, err := bst.ReadMessage(nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes (err %v), want the %d sent, byte-exact", len(got), err, len(data))
	}
}
