package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"
)

// wsListenAddr waits for "listening on ws://..." and returns the address.
func (p *proc) wsListenAddr() string {
	p.t.Helper()
	return p.waitLine(`^listening on (ws://\S+)$`)
}

// TestListenDialWS64MiB sends a 64 MiB random file (16 MiB under the race detector) from dial to
// listen --once over the WebSocket path: both exit 0 and listen wrote exactly the file.
func TestListenDialWS64MiB(t *testing.T) {
	size := 64 << 20
	if raceEnabled {
		size = 16 << 20
	}
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, size, 21)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "ws://127.0.0.1:0/stt", "--seed", seed, "--once")
	addr := l.wsListenAddr()
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed)
	d.expectExit(0)
	l.expectExit(0)
	if l.outSize() != int64(size) {
		t.Fatalf("listen wrote %d bytes; dial sent %d", l.outSize(), size)
	}
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
}

// TestDialDeadUDPThenWS: dial is given a closed UDP port first and a WebSocket address next; it
// completes over WebSocket, says so, and every byte arrives.
func TestDialDeadUDPThenWS(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 1<<20, 22)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "ws://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.wsListenAddr()
	if !regexp.MustCompile(`^ws://127\.0\.0\.1:\d+/stt$`).MatchString(addr) {
		t.Fatalf("listen printed %q; want ws://127.0.0.1:PORT/stt (the default path)", addr)
	}
	dead := closedUDPPort(t)
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", dead, "--addr", addr, "--seed", seed)
	d.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
	if want := "connected via " + addr; !slices.Contains(d.stderr(), want) {
		t.Fatalf("dial's stderr %q lacks %q", d.stderr(), want)
	}
}

// TestRelayUDPAndWS: a relay listening on udp and ws forwards what a publisher sends (over UDP,
// then over WebSocket) to a subscriber on the other transport, every byte in order.
func TestRelayUDPAndWS(t *testing.T) {
	for _, tc := range []struct{ name, pub, sub string }{{"udp-to-ws", "udp", "ws"}, {"ws-to-udp", "ws", "udp"}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := writeSeed(t, "stt.seed")
			const size = 4 << 20
			in, sum := randomFile(t, size, 23)
			r := startProc(t, "relay", nil, nil, "relay", "--addr", "udp://127.0.0.1:0", "--addr", "ws://127.0.0.1:0/stt",
				"--seed", seed, "--interval", "0")
			addrs := r.listenAddrs(2)
			at := map[string]string{"udp": addrs[0], "ws": addrs[1]}
			sub := startProc(t, "sub", nil, nil, "dial", "--addr", at[tc.sub], "--seed", seed, "--recv")
			sub.waitLine(`^connected to ` + tc.sub + `://`) // from here on the relay forwards to it
			pub := startProc(t, "pub", openFile(t, in), nil, "dial", "--addr", at[tc.pub], "--seed", seed)
			pub.expectExit(0)
			sub.waitOutput(size)
			r.signal(syscall.SIGTERM)
			r.expectExit(0)
			sub.expectExit(0)
			if sub.outSize() != size {
				t.Fatalf("the subscriber got %d bytes; want %d", sub.outSize(), size)
			}
			if got := sub.outHash(); got != sum {
				t.Fatalf("the subscriber on %s got sha256 %s; the publisher on %s sent %s", at[tc.sub], got, at[tc.pub], sum)
			}
		})
	}
}

// TestBenchLoopbackWS: bench --transport ws runs in process over the WebSocket path and
// verifies every byte.
func TestBenchLoopbackWS(t *testing.T) {
	p := startProc(t, "bench", nil, nil, "bench", "--transport", "ws", "--duration", "1s", "--quiet", "--json")
	p.expectExit(0)
	r := readBench(t, p)
	if r.Mode != "loopback" || !r.Verified || r.BytesVerified == 0 || r.BytesVerified != r.BytesSent {
		t.Fatalf("bench over ws: %+v", r)
	}
}

// TestBenchRemoteWS: bench --addr ws://... against a serve listening on ws verifies every byte.
func TestBenchRemoteWS(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "ws://127.0.0.1:0/stt", "--seed", seed)
	addr := srv.wsListenAddr()
	b := startProc(t, "bench", nil, nil, "bench", "--addr", addr, "--seed", seed, "--duration", "1s",
		"--sessions", "2", "--streams", "2", "--size", "1000", "--json", "--quiet")
	b.expectExit(0)
	r := readBench(t, b)
	if r.Mode != "remote" || !r.Verified || r.BytesSent == 0 || r.BytesVerified != r.BytesSent || r.Messages != r.BytesSent/1000 {
		t.Fatalf("bench over ws: %+v", r)
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}

// TestServeAdminPathKind: serve on udp and ws; a session dialed over ws shows path "ws" in
// /sessions, one over udp "udp", and /metrics counts live sessions by path.
func TestServeAdminPathKind(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "udp://127.0.0.1:0", "--addr", "ws://127.0.0.1:0/stt",
		"--seed", seed, "--admin", "127.0.0.1:0")
	admin := srv.waitLine(`^admin on (http://\S+)$`)
	addrs := srv.listenAddrs(2)
	var pipes []*os.File
	for i, a := range addrs {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, pw)
		startProc(t, fmt.Sprintf("dial%d", i), pr, nil, "dial", "--addr", a, "--seed", seed)
		pr.Close()
		pw.Write(make([]byte, 1000))
	}
	for _, kind := range []string{"udp", "ws"} {
		waitSession(t, admin, func(s sessionInfo) bool { return s.Path == kind && s.StreamBytesRecv >= 1000 })
	}
	m := fetchMetrics(t, admin)
	if m[`sttfast_sessions_by_path{path="ws"}`] != 1 || m[`sttfast_sessions_by_path{path="udp"}`] != 1 {
		t.Fatalf("sessions by path: udp %v, ws %v; want 1 and 1", m[`sttfast_sessions_by_path{path="udp"}`], m[`sttfast_sessions_by_path{path="ws"}`])
	}
	// Each path carried its own dialer's 1000 bytes (and more: headers, handshakes, ACKs).
	for _, kind := range []string{"udp", "ws"} {
		if got := m[`sttfast_path_bytes_received_total{path="`+kind+`"}`]; got < 1000 {
			t.Errorf("%s bytes received %v; want >= 1000", kind, got)
		}
		if got := m[`sttfast_path_packets_sent_total{path="`+kind+`"}`]; got == 0 {
			t.Errorf("%s packets sent 0", kind)
		}
	}
	if m["sttfast_ws_connections"] != 1 || m["sttfast_ws_upgrades_total"] != 1 {
		t.Errorf("ws connections %v, upgrades %v; want 1 and 1", m["sttfast_ws_connections"], m["sttfast_ws_upgrades_total"])
	}
	for _, s := range fetchSessions(t, admin) {
		if s.PacketsReceived == 0 || s.PacketsSent == 0 || s.BytesReceived < 1000 {
			t.Errorf("session over %s: %d packets in, %d out, %d bytes in; want them counted", s.Path, s.PacketsReceived, s.PacketsSent, s.BytesReceived)
		}
	}
	for _, pw := range pipes {
		pw.Close()
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}

// TestServeWSClientKilled: a dial over ws is killed (no SESSION_CLOSE, no close frame: its TCP
// connection just ends); serve drops the session rather than keep it to its 10-minute idle
// timeout, and /metrics counts the closed connection.
func TestServeWSClientKilled(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	srv := startProc(t, "serve", nil, nil, "serve", "--addr", "ws://127.0.0.1:0/stt", "--seed", seed,
		"--admin", "127.0.0.1:0", "--idle-timeout", "10m")
	admin := srv.waitLine(`^admin on (http://\S+)$`)
	addr := srv.wsListenAddr()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	dial := startProc(t, "dial", pr, nil, "dial", "--addr", addr, "--seed", seed, "--idle-timeout", "10m")
	pr.Close()
	pw.Write(make([]byte, 1000))
	waitSession(t, admin, func(s sessionInfo) bool { return s.Path == "ws" && s.StreamBytesRecv >= 1000 })
	dial.signal(syscall.SIGKILL)
	// The session goes when the connection's end is reported (ctrl's TestWSClientGone checks
	// that it is that, by its close code); the guard only stops a hang.
	deadline := time.Now().Add(guard)
	for len(fetchSessions(t, admin)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the session of a killed ws client is still listed after %v", guard)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a bounded wait
	}
	m := fetchMetrics(t, admin)
	if m["sttfast_ws_connections_closed_total"] != 1 || m["sttfast_ws_connections"] != 0 || m[`sttfast_sessions_by_path{path="ws"}`] != 0 {
		t.Fatalf("after the kill: ws connections closed %v, open %v, ws sessions %v; want 1, 0, 0",
			m["sttfast_ws_connections_closed_total"], m["sttfast_ws_connections"], m[`sttfast_sessions_by_path{path="ws"}`])
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0)
}
