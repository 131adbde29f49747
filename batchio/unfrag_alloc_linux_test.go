//go:build !batchio_portable && !race

package batchio

import "testing"

// A path MTU probe is sent without allocating: the socket option callbacks are made once.
func TestWriteUnfragmentedAllocs(t *testing.T) {
	tx, rx := loopbackPair(t, "udp4", "127.0.0.1:0", Options{}, Options{DisableGRO: true, RecvBuffer: testRecvBuf})
	s := NewSlab(1, 2000)
	m := &s.Messages()[0]
	m.N, m.Addr = 1500, rx.LocalAddr()
	if a := testing.AllocsPerRun(50, func() { tx.WriteUnfragmented(s.Messages()) }); a != 0 {
		t.Fatalf("WriteUnfragmented allocates %.1f times per call", a)
	}
}
