//go:build soak

package netem

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSoak runs sttpeer soak against sttfast serve on loopback: a bulk stream at
// STT_SOAK_RATE and a stream of 64-byte messages at STT_SOAK_SMALL_RATE, both echoed by serve
// and verified byte for byte by the client, for STT_SOAK_DURATION. Every interval it records
// both processes' RSS (/proc/PID/status VmRSS), goroutines and GC cycles (serve's /metrics,
// sttpeer's stats line) and the goodput into a CSV, then judges the run (judgeSoak): RSS flat
// within 5% after the warm-up, no goroutine growth, no errors, no stalled interval, and at the
// end every byte and message back and equal to what was sent. Minutes to hours of wall time:
// built only with the soak tag, which "make soak" sets (judgeSoak's criteria are tested in
// every "make test" by TestJudgeSoak).
func TestSoak(t *testing.T) {
	cfg := loadSoakConfig(t)
	seed := writeSeed(t)
	srv := startProc(t, "serve", stdoutEvents, nil, sttfastBin, "serve", "--addr", "udp://127.0.0.1:0", "--seed", seed,
		"--admin", "127.0.0.1:0", "--quiet")
	admin := srv.waitLine(`^admin on (http://\S+)$`, procGuard)
	addr := srv.listenAddr()
	// Commands go through an OS pipe: exec.Cmd.Wait would wait for the copy out of an io.Pipe.
	cmds, cmdw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer cmdw.Close()
	cli := startProc(t, "soak", stdoutEvents, cmds, sttpeerBin, "soak", "--addr", addr, "--seed", seed,
		"--rate", strconv.FormatInt(cfg.rate, 10), "--small-rate", strconv.Itoa(cfg.smallRate), "--small-size", "64")
	cmds.Close()
	cli.waitEvent("connected", procGuard)
	out, err := newSoakCSV(cfg.csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.close()
	t.Logf("soak: %v, bulk %d B/s each way, %d small messages/s, sample every %v, warm-up %v, GC before sampling %v; CSV %s",
		cfg.duration, cfg.rate, cfg.smallRate, cfg.interval, cfg.warmup, cfg.forceGC, cfg.csvPath)

	start := time.Now()
	tick := time.NewTicker(cfg.interval) // the sampling schedule
	defer tick.Stop()
	var rows []soakRow
	var prev soakStatsLine
	for n := 1; ; n++ {
		select {
		case <-tick.C:
		case <-cli.done:
			t.Fatalf("the soak client exited early (status %d): %v", cli.code, cli.events())
		}
		if cfg.forceGC {
			forceGC(t, admin)
			fmt.Fprintln(cmdw, "gc stats")
		} else {
			fmt.Fprintln(cmdw, "stats")
		}
		var st soakStatsLine
		decode(t, cli.waitEventN("stats", n, procGuard), &st)
		r := sample(t, srv, cli, admin, st, prev, time.Since(start))
		prev = st
		rows = append(rows, r)
		if err := out.write(r); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) >= cfg.duration {
			break
		}
	}
	fmt.Fprintln(cmdw, "stop")
	cli.expectExit(0, procGuard)
	var res soakStatsLine
	decode(t, cli.waitEvent("result", time.Second), &res)
	if res.BulkVerified != res.BulkSent || res.SmallOK != res.SmallSent || res.BulkSent == 0 || res.SmallSent == 0 {
		t.Errorf("not byte-exact: bulk %d sent, %d verified; small %d sent, %d verified", res.BulkSent, res.BulkVerified, res.SmallSent, res.SmallOK)
	}
	srv.signal(syscall.SIGTERM)
	srv.expectExit(0, procGuard)

	sum, bad := judgeSoak(rows, cfg.criteria)
	t.Logf("soak summary (%v): bulk %d bytes and %d small messages echoed and verified, %d key updates\n%s",
		time.Since(start).Round(time.Second), res.BulkVerified, res.SmallOK, res.KeyUpdates, sum)
	for _, b := range bad {
		t.Error(b)
	}
	if os.Getenv("STT_SOAK_CSV") != "" { // make soak: keep the verdict next to the CSV
		verdict := "PASS"
		if len(bad) > 0 {
			verdict = "FAIL\n" + strings.Join(bad, "\n")
		}
		text := fmt.Sprintf("soak %v (bulk %d B/s each way, %d small messages/s, sample every %v, warm-up %v, GC before sampling %v)\n"+
			"bulk %d bytes and %d small messages echoed and verified, %d key updates\n%s\n%s\n",
			cfg.duration, cfg.rate, cfg.smallRate, cfg.interval, cfg.warmup, cfg.forceGC,
			res.BulkVerified, res.SmallOK, res.KeyUpdates, sum, verdict)
		if err := os.WriteFile(strings.TrimSuffix(cfg.csvPath, ".csv")+".txt", []byte(text), 0o644); err != nil {
			t.Error(err)
		}
	}
}
