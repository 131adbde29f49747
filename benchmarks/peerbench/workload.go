package peerbench

import (
	"fmt"
	"strings"
	"time"
)

// Kind is how a workload is run.
type Kind int

const (
	kindStream    Kind = iota // one sender writes messages of Size on one stream, the receiver verifies
	kindRTT                   // ping-pong of Size bytes, one in flight
	kindFanout                // one sender writes every message to N receivers
	kindHandshake             // sttfast only: handshakes per second
	kindIdle                  // sttfast only: memory per idle session
	kindSeal                  // in-process AES-256-GCM sealing, one core
	kindTransfer              // a fixed-size stream transfer through a delay line (jitter.go) or between network namespaces (netns.go)
	kindFanScale              // sttfast only: SendToAll from one node to Width sessions of one listener, sender CPU per delivered message (fanscale.go)
)

// Workload is one row group of the report. Every contender that supports it runs it with the same
// message size, warm-up and window.
type Workload struct {
	Name string
	Kind Kind
	// Size is the message size in bytes (the write size for bulk).
	Size int
	// MeasuredBy is the role that owns the window: "recv" where goodput is verified, "send" where
	// round trips and handshakes complete.
	MeasuredBy string
	Title      string
	// Unit and Higher describe the headline number: which way is better.
	Unit   string
	Higher bool
	// Path, for transfer workloads, is the delay line the orchestrator puts between the processes.
	Path *pathSpec
	// Net, for transfer workloads, is the link between two network namespaces the pair runs on.
	Net *netSpec
	// Width, for fan-out scaling workloads, is how many sessions SendToAll writes to.
	Width int
	// Group names workloads whose rounds the plan interleaves (A1 B1 A2 B2 ...) because a goal
	// compares them with each other; "" runs the workload's rounds back to back as usual.
	Group string
}

const (
	roleRecv = "recv"
	roleSend = "send"
)

var workloads = []Workload{
	{Name: "bulk", Kind: kindStream, Size: 64 << 10, MeasuredBy: roleRecv, Title: "Bulk: 64 KiB writes on one stream", Unit: "Gbit/s", Higher: true},
	{Name: "msg1200", Kind: kindStream, Size: 1200, MeasuredBy: roleRecv, Title: "1200-byte messages on one stream", Unit: "Gbit/s", Higher: true},
	{Name: "msg64", Kind: kindStream, Size: 64, MeasuredBy: roleRecv, Title: "64-byte messages on one stream", Unit: "M msg/s", Higher: true},
	{Name: "rtt", Kind: kindRTT, Size: 64, MeasuredBy: roleSend, Title: "64-byte ping-pong, one in flight (round-trip time)", Unit: "us", Higher: false},
	{Name: "fanout", Kind: kindFanout, Size: 1200, MeasuredBy: roleRecv, Title: "Fan-out: 1200-byte messages from one sender to every receiver", Unit: "Gbit/s", Higher: true},
	{Name: "handshake", Kind: kindHandshake, MeasuredBy: roleSend, Title: "Handshakes per second (one dialing node, concurrent dials)", Unit: "k/s", Higher: true},
	{Name: "idle", Kind: kindIdle, MeasuredBy: roleRecv, Title: "Memory per idle session (listener process)", Unit: "bytes", Higher: false},
	{Name: "bulk10s", Kind: kindStream, Size: 64 << 10, MeasuredBy: roleRecv, Title: "Bulk for a 10 s window: GC cycles in each process", Unit: "GC cycles", Higher: false},
	{Name: "jitter0", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "Bulk transfer through a delay line, 5 ms each way, no jitter", Unit: "Mbit/s", Higher: true,
		Path: &pathSpec{Delay: 5 * time.Millisecond}},
	{Name: "jitter1", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "Bulk transfer through a delay line, 5 ms ± 1 ms uniform each way", Unit: "Mbit/s", Higher: true,
		Path: &pathSpec{Delay: 5 * time.Millisecond, Jitter: time.Millisecond}},
	{Name: "jitter4", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "Bulk transfer through a delay line, 5 ms ± 4 ms uniform each way", Unit: "Mbit/s", Higher: true,
		Path: &pathSpec{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond}},
	{Name: "ns100m0", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "100 Mbit/s, no loss", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "100mbit"}},
	{Name: "ns100m5", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "100 Mbit/s, 5% random loss each way", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "100mbit", Loss: 5}},
	{Name: "ns100m20", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "100 Mbit/s, 20% random loss each way", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "100mbit", Loss: 20}},
	{Name: "ns1g0", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "1 Gbit/s, no loss", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "1gbit"}},
	{Name: "ns1g5", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "1 Gbit/s, 5% random loss each way", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "1gbit", Loss: 5}},
	{Name: "ns1g20", Kind: kindTransfer, Size: 64 << 10, MeasuredBy: roleRecv, Title: "1 Gbit/s, 20% random loss each way", Unit: "Mbit/s", Higher: true,
		Net: &netSpec{Rate: "1gbit", Loss: 20}},
	{Name: "seal", Kind: kindSeal, Size: ceilingPacket, MeasuredBy: roleRecv, Title: "AES-256-GCM seal of 8972-byte packets on one core (no network)", Unit: "GB/s", Higher: true},
	{Name: "open", Kind: kindSeal, Size: ceilingPacket, MeasuredBy: roleRecv, Title: "AES-256-GCM open of 8972-byte packets on one core (no network)", Unit: "GB/s", Higher: true},
	{Name: "fanout10", Kind: kindFanScale, Size: 1200, Width: 10, Group: "fanscale", MeasuredBy: roleRecv,
		Title: "Fan-out cost: SendToAll of 1200-byte messages to 10 sessions", Unit: "ns/msg", Higher: false},
	{Name: "fanout1000", Kind: kindFanScale, Size: 1200, Width: 1000, Group: "fanscale", MeasuredBy: roleRecv,
		Title: "Fan-out cost: SendToAll of 1200-byte messages to 1000 sessions", Unit: "ns/msg", Higher: false},
}

func workloadByName(name string) (Workload, error) {
	for _, w := range workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (have %s)", name, workloadNames())
}

func workloadNames() string {
	var n []string
	for _, w := range workloads {
		n = append(n, w.Name)
	}
	return strings.Join(n, ", ")
}
