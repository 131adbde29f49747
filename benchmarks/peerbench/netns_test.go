package peerbench

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNetSpec(t *testing.T) {
	for _, c := range []struct {
		spec          netSpec
		pattern, link string
	}{
		{netSpec{Rate: "100mbit"}, "none", "100 Mbit/s"},
		{netSpec{Rate: "1gbit", Loss: 5}, "random:5", "1 Gbit/s"},
		{netSpec{Rate: "500kbit", Loss: 20}, "random:20", "500 kbit/s"},
	} {
		if p := c.spec.pattern(); p != c.pattern {
			t.Errorf("%+v: pattern %q, want %q", c.spec, p, c.pattern)
		}
		if l := c.spec.linkName(); l != c.link {
			t.Errorf("%+v: link %q, want %q", c.spec, l, c.link)
		}
	}
}

func TestParseNetnsStats(t *testing.T) {
	before, err := parseNetnsStats("a qdisc_sent_bytes 1000\na qdisc_dropped 2\nb nft_seen 10\nb nft_dropped 1\n")
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseNetnsStats("a qdisc_sent_bytes 5000\na qdisc_dropped 7\nb nft_seen 110\nb nft_dropped 6\nb udp_rcvbuf_errors 3\n")
	if err != nil {
		t.Fatal(err)
	}
	d := statsDelta(before, after)
	want := map[string]int64{"a qdisc_sent_bytes": 4000, "a qdisc_dropped": 5, "b nft_seen": 100, "b nft_dropped": 5, "b udp_rcvbuf_errors": 3}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	s := &NetnsStats{Counters: d}
	if share, ok := s.dataDropShare(); !ok || share != 0.05 {
		t.Fatalf("data drop share %v %v, want 0.05", share, ok)
	}
	if _, ok := (*NetnsStats)(nil).dataDropShare(); ok {
		t.Fatal("a sample without link counters has a drop share")
	}
	for _, bad := range []string{"a qdisc_dropped", "a qdisc_dropped x"} {
		if _, err := parseNetnsStats(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCommandPrefix(t *testing.T) {
	args := []string{"recv", "--bind", netnsRecvIP}
	if exe, a := command(nil, "/bin/peerbench", args); exe != "/bin/peerbench" || !reflect.DeepEqual(a, args) {
		t.Fatalf("no prefix: %s %v", exe, a)
	}
	prefix := []string{"ip", "netns", "exec", "sttnm-1-1-b"}
	exe, a := command(prefix, "/bin/peerbench", args)
	if exe != "ip" || strings.Join(a, " ") != "netns exec sttnm-1-1-b /bin/peerbench recv --bind 198.18.0.2" {
		t.Fatalf("prefixed: %s %v", exe, a)
	}
	if len(prefix) != 4 {
		t.Fatal("command changed its prefix")
	}
}

// TestBindFlag: the orchestrator's --bind reaches the child's options, and a child without it
// binds to loopback as before.
func TestBindFlag(t *testing.T) {
	o := Options{Contender: "quic-go", Workload: "ns100m5", Bind: netnsSendIP, Addrs: []string{netnsRecvIP + ":4433"}}
	args := o.args(roleSend)
	got := defaultOptions()
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	got.flags(fs)
	fs.String("addr", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatal(err)
	}
	if got.Bind != netnsSendIP || got.bindAddr() != "198.18.0.1:0" {
		t.Fatalf("bind %q (%s) from %v", got.Bind, got.bindAddr(), args)
	}
	if d := defaultOptions(); d.bindAddr() != "127.0.0.1:0" || strings.Contains(strings.Join(d.args(roleRecv), " "), "--bind") {
		t.Fatalf("default bind %s, args %v", d.bindAddr(), d.args(roleRecv))
	}
}

// TestNetnsPlan: the suite runs the three contenders interleaved on the six links in order (so
// each rate's pair is made once), each transfer limited to 120 s; a dry run needs no root.
func TestNetnsPlan(t *testing.T) {
	var log bytes.Buffer
	rep, err := orchestrate(runConfig{Suite: "netns", DryRun: true, Rounds: 2}, &log)
	if err != nil {
		t.Fatal(err)
	}
	items := plan(rep.contenders, rep.workloadsBy, rep.Budgets)
	if len(items) != 6*2*3 {
		t.Fatalf("%d runs, want 6 links x 2 rounds x 3 contenders", len(items))
	}
	want := []string{"sttfast", "sttfast-bbr", "quic-go"}
	rates := []string{}
	for i, it := range items {
		if it.C.Name() != want[i%3] {
			t.Fatalf("run %d is %s, want %s (interleaved)", i, it.C.Name(), want[i%3])
		}
		if it.W.Net == nil || it.W.Kind != kindTransfer || it.B.Duration != netnsTransferLimit || it.B.Warmup != 0 {
			t.Fatalf("run %d: %+v %+v", i, it.W, it.B)
		}
		if n := len(rates); n == 0 || rates[n-1] != it.W.Net.Rate {
			rates = append(rates, it.W.Net.Rate)
		}
	}
	if !reflect.DeepEqual(rates, []string{"100mbit", "1gbit"}) {
		t.Fatalf("link rates in run order %v: each should come once", rates)
	}
	if !strings.Contains(log.String(), "at most") {
		t.Fatalf("the estimate does not say it is an upper bound:\n%s", log.String())
	}
}

func TestNetnsGoalRows(t *testing.T) {
	var ws []Workload
	for _, n := range suites["netns"].workloads {
		w, err := workloadByName(n)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var cs []Contender
	for _, n := range suites["netns"].contenders {
		c, err := contenderByName(n)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	med := map[string]float64{
		"ns100m0/sttfast": 90, "ns100m5/sttfast": 72, "ns100m20/sttfast": 20,
		"ns100m0/quic-go": 80, "ns100m5/quic-go": 40, "ns100m20/quic-go": 4,
		"ns100m0/sttfast-bbr": 90, "ns100m5/sttfast-bbr": 85, "ns100m20/sttfast-bbr": 45,
		"ns1g0/sttfast": 900, "ns1g5/sttfast": 200, // no 20% and no quic-go at 1 Gbit/s
	}
	rows := netnsGoalRows(ws, cs, med)
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 2 sttfast contenders x 2 links x 2 losses", len(rows))
	}
	byKey := map[string]netnsGoalRow{}
	for _, r := range rows {
		if r.Contender == "quic-go" {
			t.Fatal("quic-go judged against sttfast's targets")
		}
		byKey[r.Contender+"/"+r.Link+"/"+string(rune('0'+r.Loss/5))] = r
	}
	check := func(key string, ratio float64, met bool, quicRatio, quicX float64) {
		t.Helper()
		r, ok := byKey[key]
		if !ok {
			t.Fatalf("no row %s", key)
		}
		eq := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-9 }
		if !eq(r.Ratio, ratio) || r.Met() != met || !eq(r.QuicRatio, quicRatio) || !eq(r.QuicX, quicX) {
			t.Fatalf("%s: %+v, want ratio %v met %v quic ratio %v x %v", key, r, ratio, met, quicRatio, quicX)
		}
	}
	check("sttfast/100 Mbit/s/1", 0.8, true, 0.5, 1.8)                    // exactly 80%: met
	check("sttfast/100 Mbit/s/4", 20.0/90, false, 0.05, 5)                // 22% < 50%
	check("sttfast-bbr/100 Mbit/s/4", 0.5, true, 0.05, 11.25)             // exactly 50%: met
	check("sttfast/1 Gbit/s/1", 200.0/900, false, math.NaN(), math.NaN()) // no quic-go
	check("sttfast/1 Gbit/s/4", math.NaN(), false, math.NaN(), math.NaN())
}

// TestNetnsMarkdown renders a made-up run: the table has a row per link and loss with the three
// contenders, an incomplete transfer says so, the goals are judged and the command is quoted.
func TestNetnsMarkdown(t *testing.T) {
	rep := &runReport{Suite: "netns", Command: "peerbench run --suite netns --rounds 1", Budgets: map[string]budget{}}
	for _, n := range []string{"sttfast", "sttfast-bbr", "quic-go"} {
		c, _ := contenderByName(n)
		rep.contenders = append(rep.contenders, c)
	}
	for _, n := range []string{"ns100m0", "ns100m5", "ns100m20"} {
		w, _ := workloadByName(n)
		rep.workloadsBy = append(rep.workloadsBy, w)
		rep.Budgets[n] = budget{Duration: netnsTransferLimit, Rounds: 1}
	}
	add := func(w, c string, mbps float64, complete bool, seen, dropped int64) {
		s := &Sample{Contender: c, Workload: w, Recv: &Result{Windowed: true, WindowS: 1, Bytes: uint64(mbps * 1e6 / 8),
			Transfer: &TransferStats{Total: 64 << 20, Verified: 64 << 20, Complete: complete, Seconds: 1}},
			Netns: &NetnsStats{Counters: map[string]int64{"b nft_seen": seen, "b nft_dropped": dropped, "a qdisc_dropped": seen / 100}}}
		derive(s, mustWorkload(t, w))
		rep.Samples = append(rep.Samples, s)
	}
	add("ns100m0", "sttfast", 92, true, 1000, 0)
	add("ns100m0", "sttfast-bbr", 93, true, 1000, 0)
	add("ns100m0", "quic-go", 88, true, 1000, 0)
	add("ns100m5", "sttfast", 70, true, 1000, 50)
	add("ns100m5", "sttfast-bbr", 85, true, 1000, 50)
	add("ns100m5", "quic-go", 40, true, 1000, 50)
	add("ns100m20", "sttfast", 15, true, 1000, 200)
	add("ns100m20", "sttfast-bbr", 30, true, 1000, 200)
	add("ns100m20", "quic-go", 3, false, 1000, 200)
	var b bytes.Buffer
	if err := writeNetnsMarkdown(&b, rep, "netns-x.json"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"peerbench run --suite netns --rounds 1",
		"| link | loss | sttfast | sttfast-bbr | quic-go | data packets dropped by nftables |",
		"| 100 Mbit/s | none | **92.0** (92.0 - 92.0) | **93.0** (93.0 - 93.0) | **88.0** (88.0 - 88.0) | 0.0% |",
		"| 100 Mbit/s | 20% | **15.0** (15.0 - 15.0) | **30.0** (30.0 - 30.0) | **3.00** (3.00 - 3.00), 1 incomplete | 20.0% |",
		"| sttfast | 100 Mbit/s | 5% | >= 80% of loss-free | 76% | missed | 45% | 1.75x |",
		"| 100 Mbit/s | 5% | 10 | 10 | 10 |",
		"| sttfast-bbr | 100 Mbit/s | 5% | >= 80% of loss-free | 91% | met | 45% | 2.12x |",
		"| sttfast-bbr | 100 Mbit/s | 20% | >= 50% of loss-free | 32% | missed | 3% | 10.00x |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

// TestNetnsSuite runs two links of the netns suite with a tiny transfer through the real
// orchestrator, namespaces and child processes (root only; skipped, with the reason, where
// namespaces cannot be made): every run must end with verified bytes and link counters, the
// pair must be gone afterwards, and the report must be written.
func TestNetnsSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: makes network namespaces and starts 6 process pairs")
	}
	out := t.TempDir()
	var log bytes.Buffer
	rc := runConfig{Suite: "netns", Workloads: "ns100m0,ns1g5", Out: out, Date: "test", Exe: os.Args[0], Env: []string{childEnv + "=1"},
		Total: 512 << 10, budget: func(Workload) budget { return budget{Duration: 30 * time.Second, Rounds: 1} }}
	rep, err := orchestrate(rc, &log)
	t.Logf("orchestrator log:\n%s", log.String())
	var skip *skipError
	if errors.As(err, &skip) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) != 6 {
		t.Fatalf("%d runs, want 3 contenders x 2 links", len(rep.Samples))
	}
	for _, s := range rep.Samples {
		t.Run(s.Contender+"/"+s.Workload, func(t *testing.T) {
			if s.Error != "" || s.Recv == nil || s.Recv.Transfer == nil || s.Recv.Transfer.Verified == 0 {
				t.Fatalf("sample %+v", s)
			}
			if s.Netns == nil || s.Netns.Counters["b nft_seen"] == 0 {
				t.Fatalf("no data packets counted on the link: %+v", s.Netns)
			}
			if s.Workload == "ns1g5" && s.Netns.Counters["b nft_dropped"] == 0 {
				t.Fatalf("5%% loss dropped nothing: %+v", s.Netns)
			}
			t.Log(transferSummary(s))
		})
	}
	for _, s := range rep.Samples {
		if s.Netns != nil {
			if _, err := os.Stat(filepath.Join("/run/netns", s.Netns.ID+"-a")); err == nil {
				t.Errorf("namespace %s-a is still there", s.Netns.ID)
			}
		}
	}
	if err := writeReports(rc, rep, "peerbench run --suite netns (test)", &log); err != nil {
		t.Fatalf("reports: %v", err)
	}
	for _, f := range []string{"netns-test.md", "netns-test.json"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || len(b) == 0 {
			t.Errorf("report %s missing or empty: %v", f, err)
		}
	}
}
