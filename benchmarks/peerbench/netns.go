package peerbench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Issue 10 on a kernel path: a fixed-size transfer between two network namespaces joined by a
// veth pair with a tbf bottleneck and nftables random loss in both directions, made by
// hardening/netem/netns.sh (the same links as hardening/netem's TestNetemTransfer, which measures
// sttfast alone). The receiver runs in ID-b at netnsRecvIP, the sender in ID-a at netnsSendIP,
// each started as "ip netns exec ID-x <child command>".

// netSpec is the link of a netns workload: a netns.sh rate and a random loss percentage, the
// same in both directions.
type netSpec struct {
	Rate string // 100mbit, 1gbit (netns.sh up ID RATE)
	Loss int    // percent, nftables numgen random (netns.sh loss ID random:N); 0: none
}

// pattern is the netns.sh loss pattern of the spec.
func (n *netSpec) pattern() string {
	if n.Loss <= 0 {
		return "none"
	}
	return "random:" + strconv.Itoa(n.Loss)
}

// linkName is the rate as the report writes it: "100 Mbit/s", "1 Gbit/s".
func (n *netSpec) linkName() string {
	r := n.Rate
	for _, u := range []struct{ suffix, unit string }{{"gbit", "Gbit/s"}, {"mbit", "Mbit/s"}, {"kbit", "kbit/s"}} {
		if strings.HasSuffix(r, u.suffix) {
			return strings.TrimSuffix(r, u.suffix) + " " + u.unit
		}
	}
	return r
}

// The two hosts of netns.sh: the sender's side a and the receiver's side b.
const (
	netnsSendIP = "198.18.0.1"
	netnsRecvIP = "198.18.0.2"
)

// netnsTransferLimit is how long a transfer between the namespaces may run before it is
// reported incomplete: 64 MiB in 120 s is 4.5 Mbit/s.
const netnsTransferLimit = 120 * time.Second

// netnsScriptPath is where netns.sh lives in the repository.
var netnsScriptPath = filepath.Join("hardening", "netem", "netns.sh")

// findNetnsScript looks for hardening/netem/netns.sh in the working directory, its parents, and
// the parents of the executable (bin/peerbench in the repository).
func findNetnsScript() (string, error) {
	if d, ok := searchUp(func(d string) bool { return fileExists(filepath.Join(d, netnsScriptPath)) }); ok {
		return filepath.Join(d, netnsScriptPath), nil
	}
	return "", fmt.Errorf("%s not found above the working directory or the executable (run from the repository, or pass --netns-script)", netnsScriptPath)
}

// searchUp returns the first directory, from the working directory and then the executable's
// directory up to the root, for which match holds.
func searchUp(match func(dir string) bool) (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for {
			if match(d) {
				return d, true
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
	}
	return "", false
}

// fileExists reports whether path names something that can be stat'ed.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// skipError ends a run that cannot be made here (no network namespaces): the command reports
// the reason and exits 0, writing no report.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

// netnsRunner owns the namespace pair of a run: at most one at a time, replaced when the link
// rate changes, and always deleted at the end (down).
type netnsRunner struct {
	script string
	owner  int
	seq    int
	id     string
	rate   string
	loss   string
	log    io.Writer
}

// newNetnsRunner checks that namespaces can be made here (root, "netns.sh check"), that the
// tools are there (installing them with apt-get where missing, "netns.sh deps"), and removes
// pairs that crashed runs left behind ("netns.sh clean-stale"). An environment where namespaces
// cannot be made is a skipError.
func newNetnsRunner(script string, log io.Writer) (*netnsRunner, error) {
	if script == "" {
		s, err := findNetnsScript()
		if err != nil {
			return nil, err
		}
		script = s
	}
	if os.Geteuid() != 0 {
		return nil, &skipError{"the netns suite needs root (network namespaces, tc and nftables)"}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, &skipError{"no ip command (iproute2) to run the children inside the namespaces"}
	}
	n := &netnsRunner{script: script, owner: os.Getpid(), log: log}
	if _, err := n.run("check"); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return nil, &skipError{"network namespaces cannot be made here: " + err.Error()}
		}
		return nil, err
	}
	if _, err := n.run("deps"); err != nil {
		return nil, &skipError{"the tools (ip, tc, nft) are missing and could not be installed: " + err.Error()}
	}
	if _, err := n.run("clean-stale"); err != nil {
		return nil, err
	}
	return n, nil
}

// run runs netns.sh with args and returns its stdout; its stderr goes into the error.
func (n *netnsRunner) run(args ...string) (string, error) {
	cmd := exec.Command("/bin/sh", append([]string{n.script}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("netns.sh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), err
}

// prepare makes the pair for spec: a new pair when the rate differs from the current one
// (the ID is sttnm-OWNERPID-N, as netns.sh clean-stale expects), then the loss pattern, set
// before every run so that the nftables counters start from zero.
func (n *netnsRunner) prepare(spec *netSpec) error {
	if n.id != "" && n.rate != spec.Rate {
		n.down()
	}
	if n.id == "" {
		n.seq++
		id := fmt.Sprintf("sttnm-%d-%d", n.owner, n.seq)
		if _, err := n.run("up", id, spec.Rate); err != nil {
			return err
		}
		n.id, n.rate, n.loss = id, spec.Rate, ""
		fmt.Fprintf(n.log, "netns: %s-a (sender, %s) and %s-b (receiver, %s), %s link\n", id, netnsSendIP, id, netnsRecvIP, spec.Rate)
	}
	if _, err := n.run("loss", n.id, spec.pattern()); err != nil {
		return err
	}
	n.loss = spec.pattern()
	return nil
}

// down deletes the current pair (netns.sh down also kills whatever still runs inside it).
func (n *netnsRunner) down() {
	if n == nil || n.id == "" {
		return
	}
	if _, err := n.run("down", n.id); err != nil {
		fmt.Fprintf(n.log, "netns: %v\n", err)
	}
	n.id, n.rate, n.loss = "", "", ""
}

// placement runs the receiver in side b and the sender in side a of the current pair.
func (n *netnsRunner) placement() *placement {
	return &placement{
		recvPrefix: []string{"ip", "netns", "exec", n.id + "-b"}, recvBind: netnsRecvIP,
		sendPrefix: []string{"ip", "netns", "exec", n.id + "-a"}, sendBind: netnsSendIP,
	}
}

// stats reads the pair's counters (netns.sh stats: "SIDE KEY VALUE" lines).
func (n *netnsRunner) stats() (map[string]int64, error) {
	out, err := n.run("stats", n.id)
	if err != nil {
		return nil, err
	}
	return parseNetnsStats(out)
}

// parseNetnsStats reads netns.sh stats into "a qdisc_dropped"-style keys.
func parseNetnsStats(out string) (map[string]int64, error) {
	m := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("netns.sh stats: unreadable line %q", l)
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("netns.sh stats: %q: %w", l, err)
		}
		m[f[0]+" "+f[1]] = v
	}
	return m, nil
}

// NetnsStats are a run's link counters: netns.sh stats after the run minus before. Side a is the
// sender's: "b nft_seen"/"b nft_dropped" count data packets arriving at the receiver and those
// nftables dropped, "a nft_*" the acknowledgements; "a qdisc_dropped" the bottleneck's drops of
// data (tc counts a GSO super-packet once).
type NetnsStats struct {
	ID       string           `json:"id"`
	Rate     string           `json:"rate"`
	Loss     string           `json:"loss"`
	Counters map[string]int64 `json:"counters"`
}

// statsDelta is after - before, key by key (counters present only after count from zero).
func statsDelta(before, after map[string]int64) map[string]int64 {
	d := make(map[string]int64, len(after))
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// dataDropShare is the share of data packets nftables dropped at the receiver's side.
func (s *NetnsStats) dataDropShare() (float64, bool) {
	if s == nil {
		return 0, false
	}
	seen := s.Counters["b nft_seen"]
	if seen <= 0 {
		return 0, false
	}
	return float64(s.Counters["b nft_dropped"]) / float64(seen), true
}

// placement is where runPair starts the two children: a command prefix (ip netns exec NAME) and
// the IP each binds to. nil: both on loopback, started directly.
type placement struct {
	recvPrefix, sendPrefix []string
	recvBind, sendBind     string
}

// command returns the executable and arguments of a child, behind prefix when there is one.
func command(prefix []string, exe string, args []string) (string, []string) {
	if len(prefix) == 0 {
		return exe, args
	}
	return prefix[0], append(append(append([]string{}, prefix[1:]...), exe), args...)
}
