package main

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestBenchProbabilistic: bench --probabilistic reports the five entropy classes of a
// probabilistic stream over the seeded lossy link, with sent, delivered and abandoned counts
// that add up, and the reliable baseline delivers everything.
func TestBenchProbabilistic(t *testing.T) {
	b := startProc(t, "bench", nil, nil, "bench", "--probabilistic", "--loss", "0.1", "--delay", "1ms",
		"--messages", "200", "--rate", "0", "--deadline", "200ms", "--baseline", "--json")
	b.expectExit(0)
	raw, err := os.ReadFile(b.out)
	if err != nil {
		t.Fatal(err)
	}
	var r probBenchResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("bench --probabilistic --json: %v: %s", err, raw)
	}
	if len(r.Runs) != 2 || r.Runs[0].Kind != "probabilistic" || r.Runs[1].Kind != "reliable" {
		t.Fatalf("runs: %s", raw)
	}
	for _, run := range r.Runs {
		if len(run.Classes) != 5 {
			t.Fatalf("%s: %d classes", run.Kind, len(run.Classes))
		}
		for _, c := range run.Classes {
			if c.Sent != 200 || c.Delivered > c.Sent || uint64(c.Sent-c.Delivered) > c.Abandoned {
				t.Errorf("%s %s: sent %d delivered %d abandoned %d", run.Kind, c.Class, c.Sent, c.Delivered, c.Abandoned)
			}
			if run.Kind == "reliable" && c.Delivered != c.Sent {
				t.Errorf("reliable %s: delivered %d of %d", c.Class, c.Delivered, c.Sent)
			}
		}
	}
}

// TestListenDialProbabilistic: dial --probabilistic sends stdin on a probabilistic stream that
// listen writes out (on a clean loopback nothing is abandoned) and says so on stderr.
func TestListenDialProbabilistic(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 1<<20, 3)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed, "--probabilistic", "--chunk", "4KiB")
	d.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Errorf("sha256 received %s, sent %s (%d bytes received)", got, sum, l.outSize())
	}
	if !strings.Contains(strings.Join(d.stderr(), "\n"), "probabilistic stream: 256 messages") {
		t.Errorf("dial --probabilistic said: %q", d.stderr())
	}
}

// TestRelayProbabilistic: a probabilistic publisher's stream goes through the relay as a
// probabilistic stream (the relay says so) and reaches the subscriber whole on a clean loopback.
func TestRelayProbabilistic(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	const size = 1 << 20
	in, sum := randomFile(t, size, 5)
	r := startProc(t, "relay", nil, nil, "relay", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--interval", "0")
	addr := r.listenAddr()
	sub := startProc(t, "sub", nil, nil, "dial", "--addr", addr, "--seed", seed, "--recv")
	sub.waitLine(`^connected to udp://`)
	pub := startProc(t, "publisher", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed,
		"--probabilistic", "--deadline", "5s", "--chunk", "8KiB")
	pub.expectExit(0)
	sub.waitOutput(size)
	r.waitLine(`stream \d+ is probabilistic \(deadline 5s\): forwarded as such`)
	r.signal(syscall.SIGTERM)
	r.expectExit(0)
	sub.expectExit(0)
	if got := sub.outHash(); got != sum {
		t.Errorf("subscriber: sha256 %s, want %s (%d bytes)", got, sum, sub.outSize())
	}
}

// TestBenchRelayFeed: bench --relay-feed runs the 30 frames/s feed through the in-process relay
// both ways, reports both subscribers of both runs and draws the SVG.
func TestBenchRelayFeed(t *testing.T) {
	svg := t.TempDir() + "/feed.svg"
	b := startProc(t, "bench", nil, nil, "bench", "--relay-feed", "--loss", "0.05", "--delay", "1ms",
		"--deadline", "500ms", "--duration", "1s", "--cc", "bbr", "--svg", svg)
	b.expectExit(0)
	out, err := os.ReadFile(b.out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"probabilistic subscriber 1:", "probabilistic subscriber 2:", "reliable      subscriber 1:", "reliable      subscriber 2:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if plot, err := os.ReadFile(svg); err != nil || !strings.Contains(string(plot), "<polyline") {
		t.Errorf("svg: %v, %d bytes", err, len(plot))
	}
}
