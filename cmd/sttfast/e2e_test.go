package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestListenDial64MiB sends a 64 MiB random file from dial to listen --once: both exit 0 and
// the sha256 of what listen wrote equals the file's.
func TestListenDial64MiB(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 64<<20, 1)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed)
	d.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s (%d bytes received)", got, sum, l.outSize())
	}
	if d.outSize() != 0 {
		t.Errorf("a plain dial wrote %d bytes to stdout", d.outSize())
	}
}

// TestWrongSeed checks that a dial with another seed exits 1 with one clear line, and that the
// listener keeps serving: a dial with the right seed then goes through.
func TestWrongSeed(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	other := writeSeed(t, "other.seed")
	in, sum := randomFile(t, 1<<20, 2)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()

	bad := startProc(t, "dial-wrong", openFile(t, in), nil, "dial", "--addr", addr, "--seed", other, "--timeout", "2s")
	bad.expectExit(1)
	lines := bad.stderr()
	want := "sttfast: dial " + addr + ": no answer (no node there, a firewall, or a different seed)"
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr %q; want exactly %q", lines, want)
	}
	// The listener saw it, and says so once (the dial sent a HELLO every 0.2-2 s for 2 s).
	refused := `^refused a HELLO from 127\.0\.0\.1:\d+: its MAC does not match our seed \(a peer with another seed\?\)$`
	l.waitLine(refused)
	n := 0
	for _, line := range l.stderr() {
		if regexp.MustCompile(refused).MatchString(line) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the listener logged %d refusal lines for one wrong-seed dial: %q", n, l.stderr())
	}

	good := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed)
	good.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
}

// TestRelayFanOut runs a relay, three subscribers (dial --recv) and one publisher (dial): each
// subscriber receives every byte in order; stopping the relay ends the subscribers with 0.
func TestRelayFanOut(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	const size = 8 << 20
	in, sum := randomFile(t, size, 3)
	r := startProc(t, "relay", nil, nil, "relay", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--interval", "1s")
	addr := r.listenAddr()
	var subs []*proc
	for i := range 3 {
		s := startProc(t, fmt.Sprintf("sub%d", i), nil, nil, "dial", "--addr", addr, "--seed", seed, "--recv")
		s.waitLine(`^connected to udp://`) // from here on the relay forwards to it
		subs = append(subs, s)
	}
	pub := startProc(t, "publisher", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed)
	pub.expectExit(0)
	for _, s := range subs {
		s.waitOutput(size)
	}
	r.signal(syscall.SIGTERM)
	r.expectExit(0)
	for _, s := range subs {
		s.expectExit(0) // the relay's SESSION_CLOSE (code 8) ends a subscriber normally
		if s.outSize() != size {
			t.Errorf("%s received %d bytes, want %d", s.name, s.outSize(), size)
		}
		if got := s.outHash(); got != sum {
			t.Errorf("%s: sha256 %s, want %s", s.name, got, sum)
		}
	}
	if !strings.Contains(strings.Join(r.stderr(), "\n"), "relay: totals: ") {
		t.Errorf("no totals line from the relay")
	}
}

// TestServeAdmin checks serve's admin endpoint around a transfer: /sessions shows the live
// session with its byte counts moving, /metrics counters increase, DELETE closes a session (the
// peer exits) and answers 404 for an unknown id.
func TestServeAdmin(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--admin", "127.0.0.1:0")
	admin := srv.waitLine(`^admin on (http://\S+)$`)
	addr := srv.listenAddr()

	before := fetchMetrics(t, admin)
	if n := len(fetchSessions(t, admin)); n != 0 {
		t.Fatalf("%d sessions before any dial", n)
	}

	// A transfer whose stdin the test feeds: the session stays up between the two halves.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	d := startProc(t, "dial", pr, nil, "dial", "--addr", addr, "--seed", seed)
	pr.Close()
	chunk := make([]byte, 1<<20)
	pw.Write(chunk)
	first := waitSession(t, admin, func(s sessionInfo) bool { return s.StreamBytesRecv >= 1<<20 })
	if first.Peer == "" || len(first.ID) != 16 || first.AgeSeconds < 0 || first.BytesReceived < 1<<20 || first.Streams < 1 {
		t.Fatalf("implausible session: %+v", first)
	}
	pw.Write(chunk)
	second := waitSession(t, admin, func(s sessionInfo) bool { return s.StreamBytesRecv >= 2<<20 })
	if second.ID != first.ID || second.BytesReceived <= first.BytesReceived || second.BytesSent <= first.BytesSent {
		t.Fatalf("numbers did not move: %+v then %+v", first, second)
	}
	pw.Close()
	d.expectExit(0)

	after := fetchMetrics(t, admin)
	for _, k := range []string{"sttfast_packets_received_total", "sttfast_packets_sent_total",
		"sttfast_bytes_received_total", "sttfast_bytes_sent_total", "sttfast_handshakes_ok_total"} {
		if after[k] <= before[k] {
			t.Errorf("%s did not increase: %v then %v", k, before[k], after[k])
		}
	}
	if after["sttfast_bytes_received_total"]-before["sttfast_bytes_received_total"] < 2<<20 {
		t.Errorf("bytes received grew by less than the 2 MiB sent")
	}
	if after["go_gc_cycles_total"] < before["go_gc_cycles_total"] {
		t.Errorf("go_gc_cycles_total went down")
	}

	// DELETE: a subscriber-style session is closed by the admin, and its dial exits 1 saying so
	// (an application close ended this subscription only).
	sub := startProc(t, "recv", nil, nil, "dial", "--addr", addr, "--seed", seed, "--recv")
	subID := sub.waitLine(`^connected to udp://\S+ \(session ([0-9a-f]+)\)$`)
	// The subscriber's session by id: the dial's may still be listed while it drains.
	live := waitSession(t, admin, func(s sessionInfo) bool { return s.ID == subID })
	if code := httpDelete(t, admin+"/sessions/"+live.ID); code != http.StatusNoContent {
		t.Fatalf("DELETE: status %d", code)
	}
	sub.expectExit(1)
	if want := "sttfast: dial " + addr + " --recv: the peer closed the session: closed by admin (code 256)"; lastLine(sub) != want {
		t.Errorf("subscriber's last line %q; want %q", lastLine(sub), want)
	}
	if code := httpDelete(t, admin+"/sessions/0123456789abcdef"); code != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown id: status %d", code)
	}
	if code := httpDelete(t, admin+"/sessions/xyz"); code != http.StatusBadRequest {
		t.Fatalf("DELETE of a malformed id: status %d", code)
	}
	resp, err := http.Get(admin + "/debug/pprof/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof: %v %v", err, resp)
	}
	resp.Body.Close()
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}

// fetchMetrics GETs /metrics and parses it strictly.
func fetchMetrics(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != metricsContentType {
		t.Fatalf("metrics content type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parseProm(t, string(b))
}

// fetchSessions GETs /sessions.
func fetchSessions(t *testing.T, admin string) []sessionInfo {
	t.Helper()
	resp, err := http.Get(admin + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ss []sessionInfo
	if err := json.NewDecoder(resp.Body).Decode(&ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

// waitSession polls /sessions until a session satisfies ok (bounded by guard).
func waitSession(t *testing.T, admin string, ok func(sessionInfo) bool) sessionInfo {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		for _, s := range fetchSessions(t, admin) {
			if ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching session within %v: %+v", guard, fetchSessions(t, admin))
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a bounded wait
	}
}

// httpDelete sends DELETE and returns the status code.
func httpDelete(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSignalDuringTransfer sends SIGTERM to one side while data flows (stdin is a pipe the test
// keeps open, so the transfer cannot have finished): both processes exit, none hangs. The
// signalled dial exits 1 (its transfer is incomplete) and the listener sees the session end;
// a signalled listener exits 0 and the dial sees the peer shut down.
func TestSignalDuringTransfer(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	for _, victim := range []string{"dial", "listen"} {
		t.Run("sigterm-"+victim, func(t *testing.T) {
			l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
			addr := l.listenAddr()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			d := startProc(t, "dial", pr, nil, "dial", "--addr", addr, "--seed", seed)
			pr.Close()
			pw.Write(make([]byte, 2<<20))
			l.waitOutput(1 << 20) // data is flowing
			// Each side reports its end in exactly one line. The reason is normally the peer's
			// SESSION_CLOSE (code 8); it is sent once, best effort, so if it were lost the peer
			// would end by idle timeout instead (30 s, inside the guard): the status is the same.
			if victim == "dial" {
				d.signal(syscall.SIGTERM)
				d.expectExit(1)
				if lines := d.stderr(); len(lines) != 1 || !strings.Contains(lines[0], "transfer incomplete: interrupted (SIGTERM)") {
					t.Errorf("dial stderr %q", lines)
				}
				l.expectExit(1)
				if last := lastLine(l); !strings.HasPrefix(last, "sttfast: listen "+addr+": the session from ") {
					t.Errorf("listener's last line %q", last)
				}
			} else {
				l.signal(syscall.SIGTERM)
				l.expectExit(0)
				d.expectExit(1)
				if lines := d.stderr(); len(lines) != 1 || !strings.HasPrefix(lines[0], "sttfast: dial "+addr+": ") {
					t.Errorf("dial stderr %q", lines)
				}
			}
		})
	}
}

// lastLine is the last stderr line of a process.
func lastLine(p *proc) string {
	lines := p.stderr()
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// benchJSON is the part of bench --json the tests read.
type benchJSON struct {
	Mode          string `json:"mode"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesVerified uint64 `json:"bytes_verified"`
	Messages      uint64 `json:"messages"`
	Verified      bool   `json:"verified"`
	Problem       string `json:"problem"`
}

// readBench parses a bench --json summary from a process's stdout.
func readBench(t *testing.T, p *proc) benchJSON {
	t.Helper()
	b, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatal(err)
	}
	var r benchJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("bench --json: %v: %s", err, b)
	}
	return r
}

// TestBenchLoopback runs a short in-process bench: every byte sent is verified.
func TestBenchLoopback(t *testing.T) {
	b := startProc(t, "bench", nil, nil, "bench", "--duration", "1s", "--streams", "2", "--json", "--quiet")
	b.expectExit(0)
	r := readBench(t, b)
	if r.Mode != "loopback" || !r.Verified || r.BytesSent == 0 || r.BytesVerified != r.BytesSent {
		t.Fatalf("bench: %+v", r)
	}
}

// TestBenchManyStreams: bench --streams above the default stream limit (256) used to open 256
// streams and wait for good for the 257th, so the --duration clock never started and the run
// never ended. The bench now asks its nodes for a limit that fits.
func TestBenchManyStreams(t *testing.T) {
	b := startProc(t, "bench", nil, nil, "bench", "--duration", "1s", "--streams", "300", "--size", "4KiB", "--json", "--quiet")
	b.expectExit(0)
	r := readBench(t, b)
	if !r.Verified || r.BytesSent == 0 || r.BytesVerified != r.BytesSent {
		t.Fatalf("bench: %+v", r)
	}
}

// TestBenchRemoteStreamLimit: against a serve whose stream limit is below --streams, bench says
// so in one line and exits 1 instead of waiting for a slot that never comes.
func TestBenchRemoteStreamLimit(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "udp://127.0.0.1:0", "--seed", seed)
	addr := srv.listenAddr()
	b := startProc(t, "bench", nil, nil, "bench", "--addr", addr, "--seed", seed, "--duration", "1s",
		"--streams", "300", "--size", "1000", "--json", "--quiet")
	b.expectExit(1)
	lines := b.stderr()
	want := "sttfast: bench: --streams 300: the server at " + addr + " lets a session open only 256 streams at once"
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Fatalf("stderr %q, want one line starting %q", lines, want)
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}

// TestBenchRemote runs bench --addr against serve: the server verifies every byte and the
// client reports the server's numbers.
func TestBenchRemote(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "udp://127.0.0.1:0", "--seed", seed)
	addr := srv.listenAddr()
	b := startProc(t, "bench", nil, nil, "bench", "--addr", addr, "--seed", seed, "--duration", "1s",
		"--sessions", "2", "--streams", "2", "--size", "1000", "--mtu", "1400", "--json", "--quiet")
	b.expectExit(0)
	r := readBench(t, b)
	if r.Mode != "remote" || !r.Verified || r.BytesSent == 0 || r.BytesVerified != r.BytesSent || r.Messages != r.BytesSent/1000 {
		t.Fatalf("bench: %+v", r)
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}
