package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// promLine matches a sample line of the text format: name, optional labels, value.
var promLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? ([^ ]+)$`)

// parseProm checks the exposition format strictly and returns the samples by "name{labels}".
// Rules checked: each family has exactly one # HELP then one # TYPE line before its samples,
// samples belong to the last announced family, counters end in _total, values parse.
func parseProm(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := make(map[string]float64)
	types := make(map[string]string)
	var family string
	var sawHelp bool
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(line, " ", 4)
			if len(f) < 4 || f[3] == "" {
				t.Fatalf("line %d: HELP without text: %q", i+1, line)
			}
			if _, dup := types[f[2]]; dup {
				t.Fatalf("line %d: family %s announced twice", i+1, f[2])
			}
			family, sawHelp = f[2], true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != family || !sawHelp {
				t.Fatalf("line %d: TYPE %q not right after its HELP", i+1, line)
			}
			if f[3] != "counter" && f[3] != "gauge" {
				t.Fatalf("line %d: unexpected type %q", i+1, f[3])
			}
			if f[3] == "counter" && !strings.HasSuffix(family, "_total") {
				t.Fatalf("line %d: counter %s does not end in _total", i+1, family)
			}
			types[family] = f[3]
			sawHelp = false
		case strings.HasPrefix(line, "#") || line == "":
			t.Fatalf("line %d: unexpected %q", i+1, line)
		default:
			m := promLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", i+1, line)
			}
			if m[1] != family || types[family] == "" {
				t.Fatalf("line %d: sample %s outside its family (current %s)", i+1, m[1], family)
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: value %q: %v", i+1, m[3], err)
			}
			key := m[1] + m[2]
			if _, dup := samples[key]; dup {
				t.Fatalf("line %d: duplicate sample %s", i+1, key)
			}
			samples[key] = v
		}
	}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("exposition does not end with a newline")
	}
	return samples
}

// TestMetricsFormat checks the hand-written exposition: format rules, every drop and refusal
// reason present with its label, and the values in the right places.
func TestMetricsFormat(t *testing.T) {
	var in metricsInput
	in.node.RxDatagrams, in.node.TxDatagrams = 10, 20
	in.node.RxBytes, in.node.TxBytes = 1000, 2000
	in.node.Drops[dataplane.DropAuth] = 3
	in.node.Accepted = 4
	in.dialsOK = 1
	in.node.Refused[ctrl.RefusedMAC] = 5
	in.node.Sessions = 2
	in.node.UDP = ctrl.PathStats{Sessions: 1, RxDatagrams: 4, TxDatagrams: 5, RxBytes: 400, TxBytes: 500}
	in.node.WS = ctrl.PathStats{Sessions: 1, RxDatagrams: 6, TxDatagrams: 15, RxBytes: 600, TxBytes: 1500}
	in.node.WebSocket.Conns, in.node.WebSocket.Refused, in.node.WebSocket.ClosedProtocol = 1, 2, 3
	in.node.WebSocket.RefusedBy[wspath.RefusedRequest] = 2
	in.node.WebSocket.DropBudget = 12
	in.retransmitted, in.packetsLost = 7, 8
	in.node.PMTUProbesSent, in.node.PMTUProbesAcked, in.node.PMTUProbesLost, in.node.PMTUBlackHoles = 16, 17, 18, 19
	in.node.DrainsCut, in.node.ClosesAnswered = 21, 22
	in.node.WebSocket.RefusedBy[wspath.RefusedEvicted] = 12
	in.node.WebSocket.ClosedTooBig = 13
	in.node.WebSocket.DropPong = 14
	in.node.WebSocket.Pending = 15
	in.rt = runtimeStats{gcCycles: 9, heapBytes: 1 << 40, goroutines: 11, offHeap: 3 << 14}
	var buf bytes.Buffer
	if err := writeMetrics(&buf, &in); err != nil {
		t.Fatal(err)
	}
	s := parseProm(t, buf.String())
	want := map[string]float64{
		"sttfast_packets_received_total":                    10,
		"sttfast_packets_sent_total":                        20,
		"sttfast_bytes_received_total":                      1000,
		"sttfast_bytes_sent_total":                          2000,
		"sttfast_retransmitted_bytes_total":                 7,
		"sttfast_packets_lost_total":                        8,
		"sttfast_pmtu_probes_sent_total":                    16,
		"sttfast_pmtu_probes_acked_total":                   17,
		"sttfast_pmtu_probes_lost_total":                    18,
		"sttfast_pmtu_black_holes_total":                    19,
		"sttfast_drains_cut_total":                          21,
		"sttfast_closes_answered_total":                     22,
		`sttfast_drops_total{reason="auth"}`:                3,
		`sttfast_drops_total{reason="truncated"}`:           0,
		"sttfast_handshakes_ok_total":                       5,
		`sttfast_handshakes_failed_total{reason="bad_mac"}`: 5,
		"sttfast_sessions":                                  2,
		`sttfast_ws_refused_total{reason="evicted"}`:        12,
		`sttfast_ws_closed_total{reason="too_big"}`:         13,
		"sttfast_ws_pongs_dropped_total":                    14,
		"sttfast_ws_pending_upgrades":                       15,
		`sttfast_sessions_by_path{path="udp"}`:              1,
		`sttfast_sessions_by_path{path="ws"}`:               1,
		`sttfast_path_packets_received_total{path="udp"}`:   4,
		`sttfast_path_packets_sent_total{path="ws"}`:        15,
		`sttfast_path_bytes_received_total{path="ws"}`:      600,
		`sttfast_path_bytes_sent_total{path="udp"}`:         500,
		"sttfast_ws_connections":                            1,
		`sttfast_ws_refused_total{reason="request"}`:        2,
		`sttfast_ws_refused_total{reason="conn_cap"}`:       0,
		`sttfast_ws_closed_total{reason="protocol"}`:        3,
		`sttfast_ws_closed_total{reason="text"}`:            0,
		`sttfast_ws_drops_total{reason="budget"}`:           12,
		"go_gc_cycles_total":                                9,
		"go_heap_objects_bytes":                             1 << 40,
		"go_goroutines":                                     11,
		"sttfast_stream_buffer_offheap_bytes":               3 << 14,
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, r := range dataplane.DropReasons() {
		if _, ok := s[`sttfast_drops_total{reason="`+r.String()+`"}`]; !ok {
			t.Errorf("drop reason %s missing", r)
		}
	}
	for _, r := range ctrl.Refusals() {
		if _, ok := s[`sttfast_handshakes_failed_total{reason="`+r.String()+`"}`]; !ok {
			t.Errorf("refusal reason %s missing", r)
		}
	}
	for _, r := range wspath.Refusals() {
		if _, ok := s[`sttfast_ws_refused_total{reason="`+r.String()+`"}`]; !ok {
			t.Errorf("ws refusal reason %s missing", r)
		}
	}
	if strings.Contains(buf.String(), "e+") {
		t.Errorf("integer values must not use exponents:\n%s", buf.String())
	}
}

// TestMetricsEscaping checks HELP and label escaping and special float values.
func TestMetricsEscaping(t *testing.T) {
	if got := escapeLabel("a\\b\"c\nd"); got != `a\\b\"c\nd` {
		t.Errorf("escapeLabel = %q", got)
	}
	if got := escapeHelp("a\\b\nc\"d"); got != `a\\b\nc"d` {
		t.Errorf("escapeHelp = %q", got)
	}
	for v, want := range map[float64]string{0: "0", 12: "12", 0.5: "0.5", 1e300: "1e+300"} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
}
