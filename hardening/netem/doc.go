// Package netem holds sttfast's network hardening tests; it has no library code.
//
//   - TestNetemTransfer (root): two network namespaces joined by a veth pair (netns.sh), a tbf
//     bottleneck of 100 Mbit/s or 1 Gbit/s with a 10 ms queue, loss injected in the kernel by
//     nftables (1%, 5%, 20% random, and bursts). Transfers are byte-exact, goodput at 1% loss
//     is at least 80% of the loss-free goodput, and congestion control keeps the queue from
//     overflowing. make test-net runs it with 256 MiB per transfer and writes a report.
//   - TestSoak: a bulk stream and a small-message stream between two processes on loopback
//     (sttpeer soak against sttfast serve), sampling RSS, goroutines, GC cycles and goodput into
//     a CSV; memory stays flat and nothing leaks. Two minutes in make test, an hour in make soak.
//   - peerfail_test.go: a peer killed with SIGKILL is detected within the idle timeout, a restarted
//     peer dials again at once, and a listener restart (SIGKILL or SIGTERM) gives a dialer
//     mid-transfer an error it can act on in bounded time.
//   - TestJitterTransfer (issue 10): two in-process ctrl nodes joined through a userspace delay
//     line on 127.0.0.1 (package delayline): 5 ms each way with ±1 ms and ±4 ms uniform jitter in
//     both directions, for CUBIC and BBR. Byte-exact, and no 10 s without a new byte (a stall).
//   - TestResumeFromAnotherHost (root, issue 13): dial --state killed with SIGKILL on host a at
//     half of 64 MiB; dial --resume on a third host c (netns.sh third), on another link, finishes
//     the session byte-exact, and the stale state is refused afterwards.
//   - TestNetemProbabilistic (root, issue 14): a probabilistic stream between the two namespaces
//     (sttpeer probsend and probrecv) at 5% and 20% nftables random loss, written in bulk and as
//     a paced feed: every entropy class meets its delivery target, no class is resent more than
//     its target needs on the measured loss rate, every message is delivered or reported lost,
//     the reader reaches the end without stalling and memory stays bounded.
//   - shutdown_test.go (root): a graceful stop reaches the peer even when the link loses the first
//     SESSION_CLOSE (a bug these tests found in the command, now fixed).
//
// The processes are the real sttfast command and sttpeer (./sttpeer), a driver on the ctrl
// API for what the command cannot be asked: end-of-transfer statistics, a short idle timeout,
// the soak client, a congestion controller (--cc). Reordering and delay jitter on a real socket
// path are TestJitterTransfer's; duplication is covered in process by ctrl's TestEndToEnd over
// dataplane/impair links (lossyLinks in ctrl/e2e_test.go).
package netem
