package main

import (
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
)

// TestReceiverKilledMidTransfer SIGKILLs a listen --once while a dial sends to it (stdin is a
// pipe the test keeps full, so the transfer is active): the dial must not wait out its idle
// timeout (set to 60 s to make the difference plain) but exit 1 with one line saying the peer
// stopped acknowledging.
func TestReceiverKilledMidTransfer(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	d := startProc(t, "dial", pr, nil, "dial", "--addr", addr, "--seed", seed, "--idle-timeout", "60s")
	pr.Close()
	go func() { // keep the sender busy until it exits (the write then fails)
		buf := make([]byte, 64<<10)
		for {
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
	}()
	l.waitOutput(1 << 20) // data is flowing
	l.signal(syscall.SIGKILL)
	killed := time.Now()
	d.expectExit(1)
	t.Logf("dial exited %v after the receiver's SIGKILL", time.Since(killed).Round(time.Millisecond))
	lines := d.stderr()
	re := regexp.MustCompile(`^sttfast: dial ` + regexp.QuoteMeta(addr) + `: [a-z ]+: the peer stopped acknowledging \(no answer to \d+ probes over [0-9.]+m?s\)$`)
	if len(lines) != 1 || !re.MatchString(lines[0]) {
		t.Fatalf("dial stderr %q; want one line matching %s", lines, re)
	}
}

// TestReaderClosedOutput runs "listen --once | head -c 100": the listener must not die of
// SIGPIPE; it closes the session with a reason the dialer prints at once, and exits 1 with one
// "sttfast:" line.
func TestReaderClosedOutput(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, _ := randomFile(t, 8<<20, 11)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	l := startProcOut(t, "listen", nil, pw, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	pw.Close()
	addr := l.listenAddr()
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed, "--idle-timeout", "60s")
	if _, err := io.ReadFull(pr, make([]byte, 100)); err != nil { // head -c 100
		t.Fatal(err)
	}
	pr.Close()
	d.expectExit(1)
	if lines := d.stderr(); len(lines) != 1 || !strings.HasSuffix(lines[0], ": the peer closed the session: the receiver's output was closed (code 257)") ||
		!strings.HasPrefix(lines[0], "sttfast: dial "+addr+": ") {
		t.Errorf("dial stderr %q", lines)
	}
	l.expectExit(1)
	if last := lastLine(l); last != "sttfast: listen: write stdout: the reader closed it (broken pipe)" {
		t.Errorf("listener's last line %q", last)
	}
	failures := 0
	for _, line := range l.stderr() {
		if strings.HasPrefix(line, "sttfast:") {
			failures++
		}
	}
	if failures != 1 {
		t.Errorf("listener printed %d failure lines:\n%s", failures, strings.Join(l.stderr(), "\n"))
	}
}

// TestListenShowsAddressAsGiven checks the "listening on" line: the host as the user wrote it
// (0.0.0.0, not the socket's [::]), the port actually bound.
func TestListenShowsAddressAsGiven(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://0.0.0.0:0", "--seed", seed)
	got := l.listenAddr()
	if !regexp.MustCompile(`^udp://0\.0\.0\.0:[1-9][0-9]*$`).MatchString(got) {
		t.Errorf("listening on %s; want udp://0.0.0.0:PORT", got)
	}
	l.signal(syscall.SIGTERM)
	l.expectExit(0)
}

// TestAddressErrorsSaidOnce checks that a bad address is a usage error (exit 2) whose line
// names the address once and says what is wrong, an out-of-range port included.
func TestAddressErrorsSaidOnce(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	cases := []struct {
		args []string
		addr string
		want string
	}{
		{[]string{"listen", "--addr", "udp://0.0.0.0:99999", "--seed", seed}, "udp://0.0.0.0:99999", "port 99999 is out of range (0-65535)"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:70000", "--seed", seed}, "udp://127.0.0.1:70000", "port 70000 is out of range"},
		{[]string{"listen", "--addr", "garbage", "--seed", seed}, "garbage", "missing port in address (want udp://HOST:PORT)"},
		{[]string{"relay", "--addr", "udp://h:nosuchport", "--seed", seed}, "udp://h:nosuchport", `unknown port "nosuchport"`},
		{[]string{"serve", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--idle-timeout", "1ms"}, "", "--idle-timeout 1ms: at least 100ms"},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI(nil, tc.args...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want status 2 and one line containing %q", tc.args, code, errOut, tc.want)
		}
		if tc.addr != "" && strings.Count(errOut, tc.addr) != 1 {
			t.Errorf("%v: the address appears %d times in %q", tc.args, strings.Count(errOut, tc.addr), errOut)
		}
	}
}

// TestFailureSaysTheAddressOnce checks that a library error that repeats the command's own
// "what" ("listen ADDR: listen ADDR: ...") is reported once, and that a resolver error says
// which host could not be resolved.
func TestFailureSaysTheAddressOnce(t *testing.T) {
	inner := errors.New("sttfast: listen udp://0.0.0.0:1: something broke")
	if got := failf(inner, "listen udp://0.0.0.0:1").Error(); got != "listen udp://0.0.0.0:1: something broke" {
		t.Errorf("failure %q", got)
	}
	code, _, errOut := runCLI(nil, "listen", "--addr", "udp://nosuchhost.invalid:9000", "--seed", writeSeed(t, "s"))
	if code != exitFailure || errOut != "sttfast: listen udp://nosuchhost.invalid:9000: cannot resolve \"nosuchhost.invalid\" (no such host)\n" {
		t.Errorf("unresolvable host: status %d, stderr %q", code, errOut)
	}
}

// TestDropsByReason checks that the relay's drop count says what it counts.
func TestDropsByReason(t *testing.T) {
	var es dataplane.EngineStats
	if got := dropSummary(&es, 0); got != "drops 0" {
		t.Errorf("no drops: %q", got)
	}
	es.Drops[dataplane.DropUnknownSession] = 12
	es.Drops[dataplane.DropReplay] = 3
	if got := dropSummary(&es, 2); got != "drops 17 (unknown_session 12, replay 3, forward_failed 2)" {
		t.Errorf("drops: %q", got)
	}
}

// TestBenchSummarySaysWhatItCounts checks that the bench summary explains resent bytes with
// nothing declared lost (probe timeouts) and spurious losses.
func TestBenchSummarySaysWhatItCounts(t *testing.T) {
	var b strings.Builder
	printBenchSummary(&b, &benchResult{Mode: "loopback", PacketsSent: 10, Retransmitted: 80 << 10, ProbeTimeouts: 4,
		PacketsLost: 3, SpuriousLosses: 2, Verified: true})
	out := b.String()
	for _, want := range []string{"3 declared lost (2 of them spurious: acknowledged later)",
		"resent    80.0 KiB of stream data, for losses and for 4 probe timeouts"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
