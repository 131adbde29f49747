package netem

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestNetemNarrowPath (issue 11, bug 8): between two hosts whose link MTU is 1100 the handshake
// completes (its 1200-byte datagrams are fragmented by the kernel), then every GSO send of
// 1200-byte packets fails with EMSGSIZE. The sttfast command must shrink its packets to the
// 1072 bytes the link carries, say so once on stderr, and deliver the file byte-exact; over a
// link narrower than the 1024-byte floor (MTU 1000) the dial must end at once with "the path
// carries at most 972 bytes", and the listener hear why.
func TestNetemNarrowPath(t *testing.T) {
	tp := newTopo(t, "100mbit")
	seed := writeSeed(t)
	const size = 4 << 20
	path, sum := randomFile(t, size)

	t.Run("mtu1100", func(t *testing.T) {
		tp.setMTU(1100)
		d := tp.pipeFile(t, seed, path, sum, size)
		said := 0
		for _, line := range d.stderr() {
			if strings.HasSuffix(line, ": path MTU 1100: packets shrunk to 1072 bytes") {
				said++
			}
		}
		if said != 1 {
			t.Fatalf("dial said %d times that its packets shrank, want once; stderr:\n%s", said, strings.Join(d.stderr(), "\n"))
		}
	})

	t.Run("below-floor", func(t *testing.T) {
		tp.setMTU(1000)
		in, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://"+addrB+":"+listenPort,
			"--seed", seed, "--once", "--quiet")...)
		l.waitLine(`^listening on udp://`, time.Minute)
		start := time.Now()
		d := startProc(t, "dial", stdoutEvents, in, tp.in("a", sttfastBin, "dial", "--addr", "udp://"+addrB+":"+listenPort,
			"--seed", seed, "--quiet")...)
		// The guard is far below the 30 s idle timeout a silent stall would end with.
		d.expectExit(1, 15*time.Second)
		t.Logf("dial ended %v after it started", time.Since(start).Round(time.Millisecond))
		const want = "the path carries at most 972 bytes"
		if e := strings.Join(d.stderr(), "\n"); !strings.Contains(e, want) || !strings.HasPrefix(e, "sttfast: ") {
			t.Fatalf("dial's stderr does not say %q:\n%s", want, e)
		}
		l.expectExit(1, 15*time.Second)
		if e := strings.Join(l.stderr(), "\n"); !strings.Contains(e, want) {
			t.Fatalf("listener's stderr does not say %q:\n%s", want, e)
		}
	})
}
