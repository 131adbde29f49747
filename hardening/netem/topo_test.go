package netem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Addresses of the two hosts (see netns.sh): the sender's side a, the receiver's side b.
const (
	addrA = "198.18.0.1"
	addrB = "198.18.0.2"
)

// topoSeq numbers the topologies of this process: IDs are sttnm-PID-N.
var topoSeq atomic.Int64

// topo is a pair of network namespaces made by netns.sh, deleted when the test ends.
type topo struct {
	t    *testing.T
	id   string
	rate string
}

// script is the path of netns.sh next to this file.
func script(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "netns.sh")
}

// runScript runs netns.sh with args and returns its stdout; stderr goes into the error.
func runScript(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{script(t)}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("netns.sh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), err
}

// requireNetns skips the test unless this process may make network namespaces (root, and
// "ip netns add" permitted) and the tools are there or can be installed; it also removes
// namespaces left by a crashed earlier run.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netem: needs root to create network namespaces (run as root: make test-net)")
	}
	if _, err := runScript(t, "check"); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Skipf("netem: network namespaces unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := runScript(t, "deps"); err != nil {
		t.Skipf("netem: the tools (ip, tc, nft, ping) are missing and could not be installed: %v", err)
	}
	if _, err := runScript(t, "clean-stale"); err != nil {
		t.Fatal(err)
	}
}

// newTopo creates the two namespaces joined by a rate link (e.g. "100mbit") without loss.
func newTopo(t *testing.T, rate string) *topo {
	t.Helper()
	requireNetns(t)
	tp := &topo{t: t, id: fmt.Sprintf("sttnm-%d-%d", os.Getpid(), topoSeq.Add(1)), rate: rate}
	t.Cleanup(func() {
		if _, err := runScript(t, "down", tp.id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := runScript(t, "up", tp.id, rate); err != nil {
		t.Fatal(err)
	}
	return tp
}

// setLoss applies a loss pattern of netns.sh (none, all, random:N, burst) to both directions.
func (tp *topo) setLoss(pattern string) {
	tp.t.Helper()
	if _, err := runScript(tp.t, "loss", tp.id, pattern); err != nil {
		tp.t.Fatal(err)
	}
}

// setMTU sets the MTU of the link at both ends.
func (tp *topo) setMTU(bytes int) {
	tp.t.Helper()
	if _, err := runScript(tp.t, "mtu", tp.id, strconv.Itoa(bytes)); err != nil {
		tp.t.Fatal(err)
	}
}

// in returns argv that runs argv inside side "a" or "b".
func (tp *topo) in(side string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", tp.id + "-" + side}, argv...)
}

// linkStats are the counters of netns.sh stats, keyed "a qdisc_dropped" and so on.
type linkStats map[string]int64

// stats reads the counters of both sides.
func (tp *topo) stats() linkStats {
	tp.t.Helper()
	out, err := runScript(tp.t, "stats", tp.id)
	if err != nil {
		tp.t.Fatal(err)
	}
	st := linkStats{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			tp.t.Fatalf("netns.sh stats: %q", l)
		}
		st[f[0]+" "+f[1]] = n
	}
	for _, k := range []string{"a qdisc_dropped", "a qdisc_sent_packets", "b nft_seen", "b nft_dropped", "a nft_dropped"} {
		if _, ok := st[k]; !ok {
			tp.t.Fatalf("netns.sh stats: no %q in:\n%s", k, out)
		}
	}
	return st
}

// sub returns the counters' growth from before to s.
func (s linkStats) sub(before linkStats) linkStats {
	d := linkStats{}
	for k, v := range s {
		d[k] = v - before[k]
	}
	return d
}

// pingRTT measures the idle round trip a→b with ICMP (20 pings 10 ms apart) and returns the
// minimum and average in milliseconds.
func (tp *topo) pingRTT() (minMs, avgMs float64) {
	tp.t.Helper()
	argv := tp.in("a", "ping", "-q", "-n", "-c", "20", "-i", "0.01", "-W", "1", addrB)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		tp.t.Fatalf("ping: %v: %s", err, out)
	}
	m := regexp.MustCompile(`= ([0-9.]+)/([0-9.]+)/`).FindSubmatch(out)
	if m == nil {
		tp.t.Fatalf("ping: no rtt line in %s", out)
	}
	minMs, _ = strconv.ParseFloat(string(m[1]), 64)
	avgMs, _ = strconv.ParseFloat(string(m[2]), 64)
	return minMs, avgMs
}

// guardFor bounds a transfer of size bytes: it only turns a hang into a failure, at a goodput
// (1 Mbit/s) far below anything a working link gives, never what a test measures.
func guardFor(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size*8/1e6)*time.Second
}
