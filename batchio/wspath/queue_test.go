package wspath

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/sttfast/sttfast/batchio"
)

// The read queue against a model, through thousands of pushes of random sizes into a small ring
// and reads that copy and that lend in random turns: every packet it accepted comes out once, in
// order, whole; a lent packet is one slice of the ring, exactly its length; and what a lend
// handed over stays as it was while pushes fill the ring, until the next read takes it back (and,
// in race builds, poisons it).
func TestReadQueueLendsWholePackets(t *testing.T) {
	const ring = 1000
	rng := rand.New(rand.NewPCG(15, 5))
	q := newReadQueue(ring)
	peer := netip.MustParseAddrPort("10.0.0.1:7")
	var want [][]byte // accepted, not yet read
	var lent [][]byte // the last lend's packets, with the bytes they must still hold
	var lentCopy [][]byte
	seq := 0
	msgs := make([]batchio.Message, 4)
	bufs := batchio.NewSlab(len(msgs), 400).Messages()
	accepted, lends, pads := 0, 0, 0
	for step := 0; step < 20000; step++ {
		if rng.IntN(3) > 0 { // push
			p := make([]byte, 1+rng.IntN(300))
			for i := range p {
				p[i] = byte(seq + i)
			}
			seq++
			tailBefore := (q.head + q.used) % ring
			if q.push(peer, p) {
				want = append(want, p)
				accepted++
				if tailBefore+recordHeader+len(p) > ring {
					pads++
				}
			}
			for i, b := range lent { // the producer never writes over lent bytes
				if !bytes.Equal(b, lentCopy[i]) {
					t.Fatalf("step %d: lent packet %d changed under a push", step, i)
				}
			}
			continue
		}
		lend := rng.IntN(2) == 0
		var n int
		if lend {
			n, _ = q.take(msgs, nil, true)
			lends++
		} else {
			copy(msgs, bufs)
			n, _ = q.take(msgs, nil, false)
		}
		for i, b := range lent { // taken back: poisoned in race builds
			if poisonLent && !bytes.Equal(b, bytes.Repeat([]byte{poisonByte}, len(b))) {
				t.Fatalf("step %d: lent packet %d not poisoned once taken back", step, i)
			}
		}
		lent, lentCopy = lent[:0], lentCopy[:0]
		for _, m := range msgs[:n] {
			got := m.Buf[:m.N]
			if len(want) == 0 || !bytes.Equal(got, want[0]) || m.Addr != peer {
				t.Fatalf("step %d: read %d bytes from %v, want the next of %d accepted", step, m.N, m.Addr, len(want))
			}
			if lend {
				start := uintptr(unsafe.Pointer(unsafe.SliceData(got))) - uintptr(unsafe.Pointer(unsafe.SliceData(q.buf)))
				if len(got) != cap(m.Buf) || start+uintptr(len(got)) > ring {
					t.Fatalf("step %d: lent %d bytes with cap %d at %d of the ring", step, len(got), cap(m.Buf), start)
				}
				lent = append(lent, got)
				lentCopy = append(lentCopy, bytes.Clone(got))
			}
			want = want[1:]
		}
	}
	if accepted < 5000 || lends < 1000 || pads < 100 {
		t.Fatalf("the run exercised too little: %d accepted, %d lends, %d records placed at the start", accepted, lends, pads)
	}
}
