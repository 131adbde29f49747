// Package peerbench is the cross-transport benchmark harness of sttfast: it runs sttfast and
// its peers (quic-go, kcp-go, SRT through srt-live-transmit) plus two ceilings (plain UDP with
// batch I/O and GSO/GRO, and AES-256-GCM sealing on one core) over loopback, each side in its own
// process, and writes the reports under benchmarks/results.
//
// # Method
//
// A measurement is a pair of processes started by the orchestrator (peerbench run): a receiver
// ("recv" role) that binds port 0 and prints "READY <addr>[,<addr>...]" on stdout, and a sender
// ("send" role) that connects to it. One side measures: the receiver for throughput workloads
// (goodput is counted where the bytes arrive, after they were compared byte for byte with the
// deterministic content the sender wrote, in order), the sender for ping-pong latency and
// handshakes. The measuring side starts a warm-up when the first unit of work completes, then
// prints "MARK start" and, one measurement window later, "MARK end"; the orchestrator forwards
// both marks to the other process so that both sample their own counters (GC cycles, CPU time,
// bytes sent) over the same window, and each acknowledges with "MARKED start|end". Once the end
// mark is acknowledged the orchestrator sends "STOP" on the sender's stdin, then on the
// receiver's, and each prints one "RESULT <json>" line before it exits. Nothing synchronises by sleeping: every step waits for a line, an event or a deadline,
// and a child that misses its deadline is killed with its whole process group.
//
// Contenders run interleaved (A B C A B C ...) for several rounds and the reports show medians
// with min-max. A content mismatch anywhere is an error that voids the sample; it is never
// reported as a number.
//
// # Layout
//
// The jitter suite (jitter.go) puts a userspace delay line between the two processes, and the
// longfat suite (longfat.go) the same line with a rate limit and a long round trip; the netns
// suite (netns.go) runs them in two network namespaces made by hardening/netem/netns.sh, each
// child started behind "ip netns exec" and bound to its namespace's address (--bind).
//
// One file per contender (stt.go, quicgo.go, kcp.go, srt.go, udpceiling.go, aesceiling.go), the
// workloads that are shared by every stream transport (workload.go), the child process runtime
// (child.go, control.go), the orchestrator (orchestrator.go, plan.go), and the reports
// (report.go, svg.go). Goals judged from two medians of one run are in goals.go; issue 16's
// handshake rate with forward secrecy (the sttfast-fs variant) against the seed-only one is in
// fsgoal.go.
//
// The peers run at their best (issue 15, a fair race): each takes a knob set in its contender
// name ("kcp-go@window=1024/mtu=1400/nodelay=fast", knobs.go), the plain name runs the tuned
// setting per workload (constants in the peer's file), "peerbench sweep" runs a peer's grid and
// writes results/sweep-DATE.{md,json} (sweep.go), and the orchestrator installs srt-tools when
// srt-live-transmit is missing and it runs as root (install.go).
package peerbench
