//go:build !race

package dataplane

import (
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// TestAllocsPeerGroup: SendToAll to the sessions of one peer group allocates nothing per packet,
// with room in the group's window and with a window of 4 packets that queues the members and
// wakes them as ACKs come back (the queue's array is reused).
func TestAllocsPeerGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window int // 0: the group's own
	}{{"roomy", 0}, {"contended", 4 * 1200}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 16
			a, b, as, bs := newGroupPair(t, n)
			g := groupOf(a.e, pairAddrB)
			if tc.window != 0 {
				g.ens = recovery.NewEnsemble(tc.window)
			}
			msg := make([]byte, 1000) // 16 members: more than 4 packets per round
			buf := make([]byte, 0, 1024)
			readers := make([]*Stream, n)
			var want uint64
			round := func() {
				if sent, err := Broadcast(as, msg); err != nil || sent != n {
					t.Fatalf("Broadcast = %d, %v", sent, err)
				}
				want += uint64(len(msg)) + 2 // a two-byte length prefix
				for i := 0; ; i++ {
					if i == 1000 {
						t.Fatal("round did not complete")
					}
					a.step()
					deliver(a, b)
					b.stepAt(recovery.Now() + recovery.Time(2*time.Millisecond)) // ACKs due now
					deliver(b, a)
					done := true
					for _, s := range bs {
						done = done && s.ctr.streamBytesRecv.Load() >= want
					}
					if done {
						break
					}
				}
				for i, s := range bs {
					if readers[i] == nil {
						readers[i], _ = s.AcceptStream(t.Context())
					}
					if _, err := readers[i].ReadMessage(buf[:0]); err != nil {
						t.Fatal(err)
					}
				}
			}
			warm(300, round)
			if allocs := testing.AllocsPerRun(300, round); allocs != 0 {
				t.Fatalf("%v allocations per round of %d messages, want 0", allocs, n)
			}
			if tc.window != 0 && cap(g.waiters) == 0 {
				t.Fatal("no member ever waited for the group's window: the contended case did not contend")
			}
		})
	}
}
