// Package delayline is a userspace UDP delay line: a forwarder that delays, reorders, rate-limits
// and drops datagrams between one client and one target, to measure transports on paths with
// delay variation without root or a kernel qdisc (issue 10: a session must not collapse when
// datagrams overtake each other).
//
// A Line listens on a local address and forwards every datagram to the target from a socket of
// its own; what the target sends back goes to the client address last seen. It serves one
// client: a second client would take over the replies. Each direction has its own Config:
//
//   - Delay, plus an independent per-datagram Jitter drawn from a uniform distribution on
//     [-Jitter, +Jitter] or a normal one with σ = Jitter, the total clamped at zero. Datagrams
//     are released by due time, so they reorder exactly when the variation exceeds their spacing
//     (with ±1 ms and datagrams 10 µs apart, almost every datagram is overtaken).
//   - Rate: a bottleneck in bytes per second in front of the delay, with a drop-tail queue of
//     QueueBytes.
//   - Loss: independent random loss.
//   - Seed: the PCG seed of the loss and jitter draws, so a run is reproducible for the same
//     arrival sequence.
//
// Each direction runs two goroutines: a reader (recvmmsg batches, one timestamp per batch, the
// decision, a push into a heap ordered by due time) and a releaser that sleeps on a time.Timer
// set to the head's due time and sends what is due with sendmmsg. Nothing spins. What waits is
// bounded by MaxPackets and MaxBytes per direction (drops counted); datagram buffers come from a
// pool, so steady-state forwarding does not allocate per datagram. Release times have the
// granularity of Go timers (tens of microseconds, up to about a millisecond on a busy machine):
// a late timer releases everything then due together, still in due order.
//
// Stats counts, per direction, what was forwarded, what was dropped and why, and how many
// datagrams were released while one that arrived before them still waited (reordered).
//
// Capacity: on the 2-core development machine (loopback, 1200-byte datagrams, no impairment,
// sender and sink in the same process, BenchmarkForward) one direction forwards 165 000 to
// 230 000 datagrams/s, 1.6 to 2.2 Gbit/s of payload, with the two cores shared with the sender
// and the sink. A transport measured through the line shares those cores too: without jitter
// sttfast moves about 0.8 Gbit/s through it and quic-go 0.35 (benchmarks' jitter suite), so the
// faster number is partly the line's limit; treat results within a factor of two or three of the
// isolated capacity as the line's, not the transport's. Run
//
//	go test -run '^$' -bench Forward ./hardening/netem/delayline/
//
// to measure a machine.
//
// cmd/delayline puts a line in front of a server by hand:
//
//	delayline -listen 127.0.0.1:9000 -to 127.0.0.1:9001 -delay 5ms -jitter 1ms
package delayline
