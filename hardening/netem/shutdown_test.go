package netem

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetemShutdownCloseLost: sttfast listen stopped with SIGTERM ends its session with a
// SESSION_CLOSE (code 8). Here the link loses exactly one packet from the listener right after the
// signal (netns.sh first:1), i.e. that SESSION_CLOSE, and the dialer (sttfast dial --recv, an
// idle session) must still learn that the listener shut down: a graceful shutdown should resend
// the close during its drain period, as ctrl.Node.Shutdown does (maxCloseCopies copies at
// half-PTO intervals). Found here: the command used Node.Close, which sends the close once, so
// the dialer waited out its 30 s idle timeout and exited 1; on a path losing p of its packets a
// fraction p of graceful shutdowns looked like crashes (seen: 2 in 11 at 20% loss). Fixed by
// stopNode (cmd/sttfast/signals.go); the dialer now exits 0 about 20 ms after the signal.
func TestNetemShutdownCloseLost(t *testing.T) {
	tp := newTopo(t, "100mbit")
	seed := writeSeed(t)
	l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--quiet")...)
	l.waitLine(`^listening on udp://`, procGuard)
	d := startProc(t, "dial --recv", stdoutHash, nil, tp.in("a", sttfastBin, "dial", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--recv")...)
	d.waitLine(`^connected to udp://`, procGuard)
	// The session is idle (keep-alives every 10 s): the next packet the listener sends is the
	// SESSION_CLOSE its SIGTERM triggers, and that is the one the link loses.
	tp.setLoss("first:1")
	stopped := l.signal(syscall.SIGTERM)
	l.expectExit(0, procGuard)
	status := d.wait(procGuard)
	took := time.Since(stopped)
	dropped := tp.stats()["a nft_dropped"]
	t.Logf("dialer exited %d, %v after the listener's SIGTERM; the link dropped %d packet(s) towards it; stderr %q",
		status, took.Round(time.Millisecond), dropped, d.stderr())
	if status != 0 || took > 5*time.Second {
		t.Errorf("the dialer did not learn of the graceful shutdown: exit %d after %v (%s), want exit 0 (the peer shut down, code 8) at once",
			status, took.Round(time.Millisecond), strings.Join(d.stderr(), " | "))
	}
}
