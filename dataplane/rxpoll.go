package dataplane

import (
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
)

// The reader-side receive (docs/ARCHITECTURE.md, "Latency paths"). A reader that is about to
// park while its engine is in a request/response exchange receives on the socket itself for a
// short while: it takes the RX baton (Engine.rxMu), reads without waiting (recvmmsg with
// MSG_DONTWAIT beside the RX loop parked in the netpoller) and runs what it read through the
// RX loop's own code (rxLoop.batch). Its reply then needs no hand-off from the RX loop's
// goroutine to its own, which on a small VM is an idle vCPU's wake-up.

// batchPoller is a PacketConn that can also be read without waiting (*batchio.Conn, the UDP
// path). Other conns (WebSocket, MultiConn, test wrappers) keep the RX loop as their only
// reader.
type batchPoller interface {
	TryReadBatch(msgs []batchio.Message) (int, error)
	// HoldReadWakes and ReleaseReadWakes bracket a poll, or through the engine's lease the
	// polls of one exchange (keepLease): while held, the datagrams the poller takes and the
	// replies it sends do not wake the runtime's netpoller thread (the RX loop's park), which
	// on a small VM costs more than the round trip's work.
	HoldReadWakes() bool
	ReleaseReadWakes()
}

// pollBatch is how many receive buffers a polling reader reads into: an exchange brings a
// packet or a few, and each buffer holds a GRO train of one flow.
const pollBatch = 4

// exchangeGap: a reader waits in an exchange when its own stream wrote since it last polled
// (Stream.kicked) and its engine sent inline (runInline) within this time, i.e. it has just
// written a request or a reply. A reader of a one-way stream does not poll, whatever other
// streams of its engine do.
const exchangeGap = 100 * time.Microsecond

// DefaultReadPoll is Config.ReadPoll's default: about a round trip between two processes of a
// loaded 2-core VM (measured in profiles/README.md).
const DefaultReadPoll = 100 * time.Microsecond

// initPoll prepares the poll path when the engine's conn can be polled. Before Start marks the
// engine started, so a reader that sees started sees these fields.
func (e *Engine) initPoll(rx *rxLoop) {
	p, ok := e.conn.(batchPoller)
	if !ok || e.cfg.ReadPoll <= 0 {
		return
	}
	e.rx = rx
	e.pollMsgs = batchio.NewSlab(pollBatch, rxBufSize).Messages()
	e.poller = p
}

// pollRx receives and processes what is queued on the socket, on the caller's goroutine, unless
// someone else holds the RX baton (the RX loop at work, another polling reader). It reports how
// many receive buffers it filled (0 when someone else holds the baton).
func (e *Engine) pollRx() int {
	if !e.rxMu.TryLock() {
		return 0
	}
	n, err := e.poller.TryReadBatch(e.pollMsgs)
	if err == nil && n > 0 {
		e.ctr.rxPolled.Add(1)
		e.rx.batch(e.pollMsgs[:n])
	}
	e.rxMu.Unlock()
	return max(n, 0)
}

// pollFor receives on the socket until need bytes are readable on st or Config.ReadPoll is
// spent, yielding the core between tries: the thread the peer process or the netpoller wakes
// may be waiting for this core, and a spin that held it made round trips slower (a plain
// spin: p50 11-14 µs in quiet moments but p99 700-850 µs when the machine is loaded). While
// it polls, the socket's readiness does not wake the runtime's netpoller (HoldReadWakes): the
// wake-ups of the thread parked for the RX loop, one per datagram taken here and one per
// datagram sent, were most of the round trip (profiles/README.md, "Round trip, piece by
// piece"). It reports whether need bytes became readable. rmu held.
func (st *Stream) pollFor(need int) bool {
	e := st.s.e
	if !e.started.Load() || e.poller == nil {
		return false
	}
	if !st.kicked.Load() || !st.kicked.CompareAndSwap(true, false) {
		return false // this stream wrote nothing since: it does not wait for an answer
	}
	now := recovery.Now()
	if int64(now)-e.lastInline.Load() >= int64(exchangeGap) {
		return false
	}
	end := now.Add(e.cfg.ReadPoll)
	if d := st.readDl.Load(); d != 0 {
		if left := time.Until(time.Unix(0, d)); left < e.cfg.ReadPoll {
			end = now.Add(max(left, 0))
		}
	}
	held := e.adoptLease() || e.poller.HoldReadWakes()
	got := e.pollUntil(st, need, end, &held)
	switch {
	case held && got:
		e.keepLease(recovery.Now())
	case held:
		e.poller.ReleaseReadWakes()
	}
	return got
}

// leaseSpan is how long the hold of a poll that got its answer outlives it, waiting for the
// exchange's next poll (the reply written, the next answer awaited), which then neither
// holds nor releases: the two epoll_ctl calls a round trip saves were 2.4 µs of its p50 on the
// 2-core VM (profiles/README.md, "The read-wake lease"). The TX loop ends a lapsed lease, so
// after an exchange the RX loop is deaf to the socket for at most this span plus the runtime's
// timer slack (about a millisecond when every P is idle); a goroutine that parks on a stream
// of the engine, an AcceptStream that waits, and Close end it at once.
const leaseSpan = time.Millisecond

// adoptLease takes over the engine's lease, if one is out, as the caller's own hold.
func (e *Engine) adoptLease() bool {
	if e.leaseEnd.Load() == 0 {
		return false
	}
	e.leaseMu.Lock()
	ok := e.leaseEnd.Swap(0) != 0
	e.leaseMu.Unlock()
	return ok
}

// keepLease turns the caller's hold into the engine's lease until now+leaseSpan, and has the
// TX loop's timer fire by then. It releases the hold instead when a lease is already out (two
// readers polled at once) or a goroutine is parked on the engine: that one waits for the RX
// loop. parked is read under leaseMu, which endLease also takes after a parker counted itself,
// so either this sees the parker or the parker sees the lease.
func (e *Engine) keepLease(now recovery.Time) {
	end := now.Add(leaseSpan)
	e.leaseMu.Lock()
	if e.leaseEnd.Load() != 0 || e.parked.Load() > 0 {
		e.leaseMu.Unlock()
		e.poller.ReleaseReadWakes()
		return
	}
	e.leaseEnd.Store(int64(end))
	e.leaseMu.Unlock()
	e.tx.pullTimer(end)
}

// endLease releases the engine's lease if one is out and force is set or it lapsed by now. The
// first look, without the lock, is what the TX loop pays at each pass when no lease is out.
func (e *Engine) endLease(now recovery.Time, force bool) {
	if !leaseDue(e.leaseEnd.Load(), now, force) {
		return
	}
	e.leaseMu.Lock()
	if !leaseDue(e.leaseEnd.Load(), now, force) {
		e.leaseMu.Unlock()
		return
	}
	e.leaseEnd.Store(0)
	e.leaseMu.Unlock()
	e.poller.ReleaseReadWakes()
}

// pollUntil receives until need bytes are readable on st or the clock reaches end. A try that
// fills every poll buffer means a busy socket rather than an exchange: the hold on the
// netpoller's wake-ups ends there (*held false), so the RX loop, with its larger batches, is
// woken for the rest while this reader goes on polling.
func (e *Engine) pollUntil(st *Stream, need int, end recovery.Time, held *bool) bool {
	for {
		if e.pollRx() == len(e.pollMsgs) && *held {
			e.poller.ReleaseReadWakes()
			*held = false
		}
		if st.recv.Readable() >= need {
			return true
		}
		if recovery.Now() >= end {
			return false
		}
		yieldCPU()
	}
}

// leaseDue reports whether a lease ending at end (0: none out) is to be released now.
func leaseDue(end int64, now recovery.Time, force bool) bool {
	return end != 0 && (force || now >= recovery.Time(end))
}
