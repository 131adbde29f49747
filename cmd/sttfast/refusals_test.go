package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// TestRefusalLogRate: the first refused handshake is said at once in the node's words, later
// ones at most one line per period with the count since the last line (the node's counters, so
// the refusals its own events left out count too), nothing when nothing new was refused, and
// nothing at all with --quiet.
func TestRefusalLogRate(t *testing.T) {
	var lines []string
	now := time.Unix(1700000000, 0)
	var counts refusalCounts
	r := newRefusalLog(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, false)
	r.now = func() time.Time { return now }
	r.stats = func() refusalCounts { return counts }
	macEvent := func(from string) {
		counts.seed++
		r.event(ctrl.Event{Kind: ctrl.EventAuthFailed, Code: uint64(ctrl.RefusedMAC),
			Reason: "refused a HELLO from " + from + ": its MAC does not match our seed (a peer with another seed?)"})
	}

	macEvent("192.0.2.1:1000")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "refused a HELLO from 192.0.2.1:1000") {
		t.Fatalf("first refusal: %q", lines)
	}
	// 56 more in the next 10 s, of which the node reported 2 (one a second at most) and one
	// with its own summary.
	now = now.Add(time.Second)
	counts.seed += 54
	macEvent("192.0.2.1:1001")
	now = now.Add(time.Second)
	r.event(ctrl.Event{Kind: ctrl.EventAuthFailed, Code: uint64(ctrl.RefusedClock),
		Reason: "refused a HELLO from 192.0.2.9:7: its clock is 2h0m0s behind ours (answered with our time) (and 3 more refusals since the last report)"})
	counts.clock++
	now = now.Add(5 * time.Second)
	r.tick() // within the period: nothing
	if len(lines) != 1 {
		t.Fatalf("a line within the period: %q", lines)
	}
	now = now.Add(3 * time.Second)
	r.tick()
	want := "refused 56 more handshakes in the last 10s: 55 from a peer with another seed, 1 from one whose clock is off; " +
		"the latest: refused a HELLO from 192.0.2.9:7: its clock is 2h0m0s behind ours (answered with our time)"
	if len(lines) != 2 || lines[1] != want {
		t.Fatalf("summary %q\nwant %q", lines[1:], want)
	}
	now = now.Add(time.Minute)
	r.tick() // nothing new: silent
	if len(lines) != 2 {
		t.Fatalf("a line with nothing new: %q", lines[2:])
	}
	macEvent("192.0.2.2:5") // the period is long over: said at once
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "refused a HELLO from 192.0.2.2:5") {
		t.Fatalf("after a quiet minute: %q", lines[2:])
	}
	now = now.Add(time.Hour)
	r.tick()
	if len(lines) != 3 {
		t.Fatalf("the line said at once was counted again: %q", lines[3:])
	}

	if q := newRefusalLog(func(string, ...any) { t.Fatal("--quiet logged") }, true); q != nil || q.onEvent() != nil {
		t.Fatal("--quiet still reports refusals")
	}
}

// TestDialNothingListensExitsAtOnce: a dial to a port where nothing listens exits 1 at once
// (the port unreachable), saying so, instead of waiting for the timeout and blaming the seed.
func TestDialNothingListensExitsAtOnce(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := "udp://" + c.LocalAddr().String()
	c.Close()
	start := time.Now()
	d := startProc(t, "dial-nothing", nil, nil, "dial", "--addr", addr, "--seed", seed, "--timeout", "10s")
	d.expectExit(1)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("dial to a closed port took %v", took)
	}
	want := "sttfast: dial " + addr + ": nothing listens there (its host answered: port unreachable)"
	if lines := d.stderr(); len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr %q; want exactly %q", lines, want)
	}
}

// TestListenQuietHidesRefusals: --quiet keeps the refusal lines off stderr.
func TestListenQuietHidesRefusals(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	other := writeSeed(t, "other.seed")
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--quiet")
	addr := l.listenAddr()
	bad := startProc(t, "dial-wrong", nil, nil, "dial", "--addr", addr, "--seed", other, "--timeout", "1s")
	bad.expectExit(1)
	time.Sleep(200 * time.Millisecond)
	for _, line := range l.stderr() {
		if strings.HasPrefix(line, "refused") {
			t.Fatalf("listen --quiet printed %q", line)
		}
	}
}
