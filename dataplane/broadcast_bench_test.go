package dataplane

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkBroadcastWidth is SendToAll's fan-out on one goroutine at two widths (issue 15's
// linearity goal): each round writes one 1200-byte message to every session of a hub engine with
// Broadcast and lets the hub's TX loop pack, seal and send it, then (untimed) delivers it to every
// peer engine, which reads it and acknowledges, and hands the ACKs back to the hub (timed again:
// processing them is the sender's work). ns/msg is the hub's time per delivered message. Every
// message is acknowledged before the next round, so a session holds at most one message in
// flight: this measures SendToAll's own per-session work, without the working set of data in
// flight that the two-process fanout1000 row of the peers report also pays for. cpu-ns/msg is the
// same work counted in this thread's CPU time (Linux), which time spent descheduled on a busy
// machine does not inflate.
func BenchmarkBroadcastWidth(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			runtime.LockOSThread() // threadCPU reads this thread's clock
			defer runtime.UnlockOSThread()
			h := newHub(b, n)
			msg := make([]byte, 1200)
			bufs := make([][]byte, n)
			for i := range bufs {
				bufs[i] = make([]byte, 0, 2048)
			}
			var cpu threadCPU // the timed parts' CPU time on this thread: robust to a busy machine
			round := func() {
				cpu.start()
				if sent, err := Broadcast(h.sessions, msg); err != nil || sent != n {
					b.Fatalf("Broadcast = %d, %v", sent, err)
				}
				h.a.step()
				cpu.stop()
				b.StopTimer()
				h.fanout()
				for i, p := range h.peers {
					if p.bst == nil {
						p.bst, _ = p.s.AcceptStream(b.Context())
					}
					if _, err := p.bst.ReadMessage(bufs[i][:0]); err != nil {
						b.Fatal(err)
					}
					p.step()
				}
				b.StartTimer()
				cpu.start()
				h.collect()
				cpu.stop()
			}
			warm(100, round)
			cpu.reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				round()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
			if cpu.ok {
				b.ReportMetric(float64(cpu.total)/float64(b.N)/float64(n), "cpu-ns/msg")
			}
		})
	}
}
