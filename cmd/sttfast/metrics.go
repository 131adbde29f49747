package main

import (
	"bufio"
	"io"
	"math"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/streambuf"
)

// metricsContentType is the Prometheus text exposition format, version 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metricsInput is everything /metrics reports, gathered first so that the text writer is a
// pure function (and testable).
type metricsInput struct {
	node          ctrl.NodeStats
	dialsOK       uint64 // sessions this node established as initiator
	retransmitted uint64 // stream bytes retransmitted, over live and closed sessions
	packetsLost   uint64 // packets declared lost, over live and closed sessions
	rt            runtimeStats
}

// runtimeStats are the Go runtime numbers exported next to the transport's.
type runtimeStats struct {
	gcCycles   uint64
	heapBytes  uint64 // bytes in live and not yet swept heap objects
	goroutines uint64
	offHeap    uint64 // stream-buffer memory outside the heap (streambuf.OffHeapBytes)
}

// readRuntimeStats samples runtime/metrics (no stop-the-world, unlike ReadMemStats).
func readRuntimeStats() runtimeStats {
	s := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return runtimeStats{gcCycles: u(0), heapBytes: u(1), goroutines: u(2), offHeap: uint64(streambuf.OffHeapBytes())}
}

// writeMetrics writes in as Prometheus text format 0.0.4: for each family a # HELP and a # TYPE
// line, then its samples; counters end in _total.
func writeMetrics(w io.Writer, in *metricsInput) error {
	p := &promWriter{w: bufio.NewWriter(w)}
	n := &in.node
	p.counter("sttfast_packets_received_total", "STT packets received by the node, over every path (UDP datagrams, WebSocket messages).", n.RxDatagrams)
	p.counter("sttfast_packets_sent_total", "STT packets sent by the node, over every path.", n.TxDatagrams)
	p.counter("sttfast_bytes_received_total", "STT packet bytes received by the node, over every path.", n.RxBytes)
	p.counter("sttfast_bytes_sent_total", "STT packet bytes sent by the node, over every path.", n.TxBytes)
	p.counter("sttfast_retransmitted_bytes_total", "Stream bytes sent again after a loss, over all sessions.", in.retransmitted)
	p.counter("sttfast_packets_lost_total", "Packets declared lost by loss detection, over all sessions.", in.packetsLost)
	p.counter("sttfast_pmtu_probes_sent_total", "Path MTU discovery probes sent (padded packets testing a larger size).", n.PMTUProbesSent)
	p.counter("sttfast_pmtu_probes_acked_total", "Path MTU discovery probes acknowledged: the path carried their size.", n.PMTUProbesAcked)
	p.counter("sttfast_pmtu_probes_lost_total", "Path MTU discovery probes lost (too large for the path, or lost on it).", n.PMTUProbesLost)
	p.counter("sttfast_pmtu_black_holes_total", "Sessions that found their discovered packet size no longer carried and fell back to the base size.", n.PMTUBlackHoles)
	p.counter("sttfast_closes_answered_total", "Closing sessions whose drain ended early because the peer's SESSION_CLOSE came back (its answer to ours, or its own close).", n.ClosesAnswered)
	p.counter("sttfast_drains_cut_total", "Closing sessions whose drain an ICMP port unreachable from the peer ended early (the peer had gone).", n.DrainsCut)

	p.family("sttfast_drops_total", "counter", "Datagrams discarded on receive, by reason.")
	for _, r := range dataplane.DropReasons() {
		p.sample("sttfast_drops_total", "reason", r.String(), float64(n.Drops[r]))
	}
	p.counter("sttfast_handshakes_ok_total", "Handshakes completed: sessions accepted plus sessions dialed.", n.Accepted+in.dialsOK)
	p.family("sttfast_handshakes_failed_total", "counter", "Handshake messages refused, by reason.")
	for _, r := range ctrl.Refusals() {
		p.sample("sttfast_handshakes_failed_total", "reason", r.String(), float64(n.Refused[r]))
	}
	p.counter("sttfast_clock_answers_total", "HELLOs with our seed but outside the clock window, answered with our time (CLOCK).", n.ClockAnswers)
	p.counter("sttfast_sessions_closed_total", "Sessions that ended, for any reason.", n.SessionsClosed)
	p.counter("sttfast_events_dropped_total", "Events dropped because the event consumer was slow.", n.EventsDropped)
	p.gauge("sttfast_sessions", "Live sessions.", float64(n.Sessions))
	writePathMetrics(p, n)

	p.counter("go_gc_cycles_total", "Completed GC cycles.", in.rt.gcCycles)
	p.gauge("go_heap_objects_bytes", "Bytes in live and unswept heap objects.", float64(in.rt.heapBytes))
	p.gauge("go_goroutines", "Goroutines that currently exist.", float64(in.rt.goroutines))
	p.gauge("sttfast_stream_buffer_offheap_bytes", "Stream-buffer memory outside the Go heap: chunks in use and free ones not yet given back to the kernel.", float64(in.rt.offHeap))
	return p.w.Flush()
}

// writePathMetrics writes the counters by path kind (udp, ws) and the WebSocket path's own.
func writePathMetrics(p *promWriter, n *ctrl.NodeStats) {
	kinds := []struct {
		name string
		st   *ctrl.PathStats
	}{{ctrl.PathUDP, &n.UDP}, {ctrl.PathWS, &n.WS}}
	byPath := func(name, typ, help string, v func(*ctrl.PathStats) float64) {
		p.family(name, typ, help)
		for _, k := range kinds {
			p.sample(name, "path", k.name, v(k.st))
		}
	}
	byPath("sttfast_sessions_by_path", "gauge", "Live sessions, by the path they run over (udp, ws).",
		func(s *ctrl.PathStats) float64 { return float64(s.Sessions) })
	byPath("sttfast_path_packets_received_total", "counter", "STT packets received, by path kind (UDP datagrams, WebSocket messages).",
		func(s *ctrl.PathStats) float64 { return float64(s.RxDatagrams) })
	byPath("sttfast_path_packets_sent_total", "counter", "STT packets sent, by path kind.",
		func(s *ctrl.PathStats) float64 { return float64(s.TxDatagrams) })
	byPath("sttfast_path_bytes_received_total", "counter", "STT packet bytes received, by path kind (without the path's own framing).",
		func(s *ctrl.PathStats) float64 { return float64(s.RxBytes) })
	byPath("sttfast_path_bytes_sent_total", "counter", "STT packet bytes sent, by path kind.",
		func(s *ctrl.PathStats) float64 { return float64(s.TxBytes) })

	ws := &n.WebSocket
	p.gauge("sttfast_ws_connections", "Open WebSocket connections (upgraded, listened and dialed).", float64(ws.Conns))
	p.counter("sttfast_ws_upgrades_total", "WebSocket upgrades completed (listened and dialed).", ws.Upgrades)
	p.counter("sttfast_ws_connections_closed_total", "Upgraded WebSocket connections that ended, for any reason.", ws.ConnsClosed)
	p.counter("sttfast_ws_peer_closes_total", "WebSocket close frames received from peers.", ws.PeerCloses)
	writeWSRefusals(p, ws)
	p.family("sttfast_ws_drops_total", "counter", "Packets the WebSocket path dropped, by reason: no_peer (no connection to that address), oversize, budget (the connection's outbound budget), queue (the read queue was full).")
	p.sample("sttfast_ws_drops_total", "reason", "no_peer", float64(ws.DropNoPeer))
	p.sample("sttfast_ws_drops_total", "reason", "oversize", float64(ws.DropOversize))
	p.sample("sttfast_ws_drops_total", "reason", "budget", float64(ws.DropBudget))
	p.sample("sttfast_ws_drops_total", "reason", "queue", float64(ws.DropQueue))
}

// writeWSRefusals writes what the ws:// listeners refused, closed and dropped: what hostile
// WebSocket clients cost the node (zero on a node without one).
func writeWSRefusals(p *promWriter, ws *wspath.Stats) {
	p.gauge("sttfast_ws_pending_upgrades", "WebSocket connections waiting for their upgrade request.", float64(ws.Pending))
	p.family("sttfast_ws_refused_total", "counter",
		"TCP connections turned away before their WebSocket upgrade, by reason: request (answered with an HTTP error: not HTTP, wrong method, path or origin, too large), conn_cap (every connection upgraded and MaxConns reached), evicted (the oldest waiting for its upgrade, to make room), deadline (no complete request in time).")
	for _, r := range wspath.Refusals() {
		p.sample("sttfast_ws_refused_total", "reason", r.String(), float64(ws.RefusedBy[r]))
	}
	p.family("sttfast_ws_closed_total", "counter",
		"Upgraded WebSocket connections closed by the node, by reason: protocol (close 1002), text (1003), too_big (1009), idle.")
	for _, c := range []struct {
		reason string
		n      uint64
	}{{"protocol", ws.ClosedProtocol}, {"text", ws.ClosedText}, {"too_big", ws.ClosedTooBig}, {"idle", ws.ClosedIdle}} {
		p.sample("sttfast_ws_closed_total", "reason", c.reason, float64(c.n))
	}
	p.counter("sttfast_ws_pongs_dropped_total", "Pongs not sent because their connection's pong backlog was full (a ping flood from a peer that does not read).", ws.DropPong)
}

// promWriter writes the text format; write errors surface in Flush.
type promWriter struct{ w *bufio.Writer }

// family writes the # HELP and # TYPE lines of a metric family.
func (p *promWriter) family(name, typ, help string) {
	p.w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	p.w.WriteString("# TYPE " + name + " " + typ + "\n")
}

// counter writes a whole unlabelled counter family.
func (p *promWriter) counter(name, help string, v uint64) {
	p.family(name, "counter", help)
	p.w.WriteString(name + " " + strconv.FormatUint(v, 10) + "\n")
}

// gauge writes a whole unlabelled gauge family.
func (p *promWriter) gauge(name, help string, v float64) {
	p.family(name, "gauge", help)
	p.w.WriteString(name + " " + formatFloat(v) + "\n")
}

// sample writes one sample with one label.
func (p *promWriter) sample(name, label, value string, v float64) {
	p.w.WriteString(name + "{" + label + "=\"" + escapeLabel(value) + "\"} " + formatFloat(v) + "\n")
}

// formatFloat renders a sample value as the format wants (integers without exponent).
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeHelp escapes a HELP text: backslash and newline.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabel escapes a label value: backslash, double quote and newline.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
