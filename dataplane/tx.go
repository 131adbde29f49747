package dataplane

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/ring"
	"github.com/sttfast/sttfast/stc"
)

// txBufSize is one send buffer: room for a full GSO super-packet.
const txBufSize = 64 << 10

// maxGSOBytes caps the payload of one GSO send (the UDP length field, minus headers).
const maxGSOBytes = 65000

// inlineGap is the quiet time since the last inline send that marks a write as the start of an
// exchange (inline send) rather than the continuation of a stream (TX loop, coalescing).
const inlineGap = 10 * time.Microsecond

// sessionBudget is how many packets one session may pack before the next ready session gets a
// turn, so a bulk sender cannot starve the others.
const sessionBudget = 64

// txLoop is the engine's send goroutine: it owns the ready list, the timer heap, the send keys and
// the outgoing batch.
type txLoop struct {
	e     *Engine
	slab  *batchio.Slab
	msgs  []batchio.Message
	sess  []*Session // sess[i] packed msgs[i] (nil: handshake datagrams), for SizeErrors
	nmsg  int
	open  bool // the last message can take another equal-size segment
	segs  int  // segments in the last message
	jobs  []sealJob
	flush uint64 // number of flushes so far (old send keys are erased only after one)

	readyHead, readyTail *Session
	heap                 timerHeap
	timer                *time.Timer
	armed                atomic.Int64 // deadline the loop's timer is set for (0: none)
	// timerLive: the timer was armed for armed and the loop has not received its tick since, so
	// arming it again for the same deadline would change nothing. Under txMu.
	timerLive bool
	now       recovery.Time

	wakes     []*ring.Waker
	refs      []recovery.FrameRef
	ackRanges []recovery.Range
	frRanges  []frame.Range
	ackCopy   []byte // the ACK frame packCandidateAck sends to a path candidate
	scratch   []*Session
	dead      []deadSession
	narrow    []narrowing // sessions whose packets the route refused, applied by applyNarrow
	probeMsgs []int       // indexes of the batch's path MTU probes, sent unfragmented (send)
	room      int         // reliable path: bytes it takes for the session being served (pathRoom)
	// grp is the peer group of the session being served, if any (peergroup.go); grpAdmitted
	// says the session took its turn in the group during this visit.
	grp         *peerGroup
	grpAdmitted bool
}

// sealJob is a packed packet waiting to be sealed in place just before the batch goes out, so the
// session lock is not held during encryption.
type sealJob struct {
	msg, off, n int // plaintext packet at msgs[msg].Buf[off : off+n]
	hdrLen      int
	pn          uint64
	aead        *stc.AEAD
}

func newTxLoop(e *Engine) *txLoop {
	slab := batchio.NewSlab(e.cfg.BatchSize, txBufSize)
	t := &txLoop{
		e:         e,
		slab:      slab,
		msgs:      slab.Messages(),
		sess:      make([]*Session, e.cfg.BatchSize),
		jobs:      make([]sealJob, 0, e.cfg.BatchSize*64),
		timer:     time.NewTimer(time.Hour),
		refs:      make([]recovery.FrameRef, 0, 256),
		ackRanges: make([]recovery.Range, 0, 64),
		frRanges:  make([]frame.Range, 0, 64),
		probeMsgs: make([]int, 0, 8),
	}
	t.timer.Stop()
	e.tx = t
	return t
}

// run is the TX goroutine. The TX state is guarded by e.txMu (the baton): the loop holds it while
// it works and drops it while parked, so that an application goroutine whose write found the
// loop idle can run one iteration itself (runInline) instead of paying a goroutine wake-up.
func (t *txLoop) run() {
	e := t.e
	fired := false // the timer ticked: it is no longer running (timerLive)
	for {
		e.txMu.Lock()
		if fired {
			t.timerLive, fired = false, false
		}
		t.iterate()
		select {
		case <-e.closing:
			t.finalPass()
			e.txMu.Unlock()
			return
		default:
		}
		if t.readyHead != nil {
			e.txMu.Unlock()
			continue
		}
		// The timer is armed before the last look at the rings: a session queued after that look
		// pulls the timer in (pullTimer) after this Reset, so the later Reset, its own, wins.
		t.parkTimer()
		e.wake.Arm()
		if e.active.Len() > 0 || e.raw.Len() > 0 || e.activeOverflow.Load() {
			e.wake.Disarm()
			e.txMu.Unlock()
			continue
		}
		e.txMu.Unlock()
		select {
		case <-e.wake.C():
		case <-t.timer.C:
			fired = true
		case <-e.closing:
		}
		e.wake.Disarm()
	}
}

// iterate is one pass of the TX loop: new work, handshakes, timers, packing, sending. txMu held.
func (t *txLoop) iterate() {
	t.now = recovery.Now()
	t.e.endLease(t.now, false)
	t.drainActive()
	t.sendHandshakes()
	t.runTimers()
	t.serveReady()
	t.send()
	t.applyNarrow()
}

// runInline lets a writer run the TX loop's work on its own goroutine when the loop is parked:
// for request/response traffic it saves the wake-up of the TX goroutine on every message. If the
// loop is busy (or another goroutine holds the baton) it does nothing: the loop will see the work.
func (e *Engine) runInline(reply bool) bool {
	t := e.tx
	if t == nil || e.inlineOff.Load() {
		return false
	}
	// A write right after the previous inline send is a stream of small messages, not a
	// request/response exchange: hand it to the TX loop, whose wake-up lets the following writes
	// pile up and leave together in full packets instead of one packet per message. Unless the
	// write is a reply, to data that arrived on its stream since the stream's previous write:
	// on a loaded machine the peer's answer can be back before the writer's clock moved 10 µs
	// past its own send, and a wake-up of the TX loop would then sit on the round trip.
	if now := int64(recovery.Now()); now-e.lastInline.Load() < int64(inlineGap) && !reply {
		return false
	}
	if !e.txMu.TryLock() {
		return false
	}
	select {
	case <-e.closing:
		e.txMu.Unlock()
		return false
	default:
	}
	t.iterate()
	e.lastInline.Store(int64(recovery.Now()))
	if t.readyHead != nil {
		e.wake.Notify() // work left (budget or batch room): the loop continues it
	} else if d := t.deadline(); d != 0 && (t.armed.Load() == 0 || int64(d) < t.armed.Load()) {
		// The parked loop selects on this timer, so re-arming it is enough. Only an earlier
		// deadline re-arms it: each Reset of a timer a goroutine waits on wakes the runtime's
		// poller or an idle thread, and in a request/response exchange the deadline moves at
		// every message (the ACK due, then the PTO of the reply). A timer left early costs one
		// wake-up of the loop that finds nothing due and arms it for the real deadline. It is
		// lowered as the RX loop lowers it, which may do so at the same time.
		t.pullTimer(d)
		t.timerLive = true
	}
	e.txMu.Unlock()
	return true
}

// finalPass sends what closing sessions queued (SESSION_CLOSE) before the engine stops.
func (t *txLoop) finalPass() {
	t.now = recovery.Now()
	t.drainActive()
	t.sendHandshakes()
	t.serveReady()
	t.send()
	t.applyNarrow()
}

// parkTimer arms the timer for the next deadline before the loop parks, leaving it alone when
// it is already running for that deadline (a Reset would wake the runtime's poller for nothing).
// A timer left running for an earlier deadline than the heap's is re-armed: the loop would wake
// early for nothing. txMu held.
func (t *txLoop) parkTimer() {
	if d := t.deadline(); d != 0 && t.timerLive && int64(d) == t.armed.Load() {
		return
	}
	t.armTimer()
}

// deadline is when the loop must next run: the earliest session deadline of the heap, or the
// end of the engine's read-wake lease (rxpoll.go) if that comes first.
func (t *txLoop) deadline() recovery.Time {
	d := t.heap.min()
	if l := recovery.Time(t.e.leaseEnd.Load()); l != 0 && (d == 0 || l < d) {
		return l
	}
	return d
}

// armTimer sets the timer for the loop's next deadline, or stops it. txMu held.
func (t *txLoop) armTimer() {
	d := t.deadline()
	t.armed.Store(int64(d))
	t.timerLive = d != 0
	if d == 0 {
		t.timer.Stop()
		return
	}
	wait := time.Duration(d - recovery.Now())
	if wait < 0 {
		wait = 0
	}
	t.timer.Reset(wait)
}

// pullTimer makes the loop's timer fire by d at the latest. Any goroutine may call it after
// queueing a session on the active ring: if the loop is running it will see the ring before it
// parks and arm its own timer; if it is parked, this timer wakes it in time.
func (t *txLoop) pullTimer(d recovery.Time) {
	for {
		a := t.armed.Load()
		if a != 0 && int64(d) >= a {
			return
		}
		if t.armed.CompareAndSwap(a, int64(d)) {
			break
		}
	}
	// Another goroutine may lower armed further between our CAS and our Reset, and its Reset
	// may land first: Reset again until the last one was for what armed holds. (A higher armed
	// is the loop's own arming, which looks at the queued sessions after it.)
	for v := int64(d); ; {
		t.timer.Reset(max(0, time.Duration(recovery.Time(v)-recovery.Now())))
		a := t.armed.Load()
		if a == v || a == 0 || a > v {
			return
		}
		v = a
	}
}

// drainActive moves sessions that gained work onto the ready list.
func (t *txLoop) drainActive() {
	e := t.e
	for {
		s, ok := e.active.Pop()
		if !ok {
			break
		}
		s.txQueued.Store(false)
		t.enqueue(s)
	}
	if e.activeOverflow.Swap(false) {
		t.scratch = e.table.Snapshot(t.scratch[:0])
		for i, s := range t.scratch {
			t.enqueue(s)
			t.scratch[i] = nil
		}
	}
}

func (t *txLoop) enqueue(s *Session) {
	if s.inReadyTx {
		return
	}
	s.inReadyTx = true
	s.readyNextTx = nil
	if t.readyTail == nil {
		t.readyHead = s
	} else {
		t.readyTail.readyNextTx = s
	}
	t.readyTail = s
}

func (t *txLoop) dequeue() *Session {
	s := t.readyHead
	if s == nil {
		return nil
	}
	t.readyHead = s.readyNextTx
	if t.readyHead == nil {
		t.readyTail = nil
	}
	s.readyNextTx = nil
	s.inReadyTx = false
	return s
}

// runTimers queues every session whose deadline has passed.
func (t *txLoop) runTimers() {
	for t.heap.len() > 0 && t.heap.min() <= t.now {
		s := t.heap.peek()
		t.heap.remove(s)
		t.enqueue(s)
	}
}

// serveReady packs for ready sessions round-robin until none has work or the batch is full.
func (t *txLoop) serveReady() {
	// Sessions re-queued during this pass go to the back and are served in the next pass, so
	// one pass visits each session at most once.
	n := 0
	for s := t.readyHead; s != nil; s = s.readyNextTx {
		n++
	}
	for ; n > 0; n-- {
		if !t.hasRoom() {
			t.send()
		}
		s := t.dequeue()
		if s == nil {
			return
		}
		if t.serve(s) {
			t.enqueue(s)
		}
	}
	for i, d := range t.dead {
		// A drained session already has its close error (terminate keeps it); any other came
		// here by the idle timeout or because its peer stopped acknowledging (timers).
		d.s.terminate(d.why)
		t.forget(d.s)
		t.dead[i] = deadSession{}
	}
	t.dead = t.dead[:0]
}

// forget drops a terminated session from the TX loop's structures and erases its send keys.
func (t *txLoop) forget(s *Session) {
	t.heap.remove(s)
	if s.txKeys != nil {
		s.txKeys.Erase()
		s.txKeys = nil
	}
	if r := s.res; r != nil && r.retired != nil {
		t.send() // a seal job of the batch may still name it
		r.retired.Erase()
		r.retired = nil
	}
}

// hasRoom reports whether the batch can take another full packet.
func (t *txLoop) hasRoom() bool {
	if t.nmsg < len(t.msgs) {
		return true
	}
	if !t.open {
		return false
	}
	m := &t.msgs[t.nmsg-1]
	return t.segs < t.e.gso && m.N+t.e.cfg.PayloadSize <= maxGSOBytes
}

// slot returns an empty buffer with room for a packet of s (nil for a handshake datagram) of up
// to size bytes to addr: the tail of the current GSO super-packet when it holds s's packets to
// the same peer, else a new message.
func (t *txLoop) slot(s *Session, addr netip.AddrPort, size int) []byte {
	if t.nmsg > 0 && t.open {
		m := &t.msgs[t.nmsg-1]
		if m.Addr == addr && t.sess[t.nmsg-1] == s && t.segs < t.e.gso && m.N+size <= maxGSOBytes && size == m.Seg {
			return m.Buf[m.N:m.N:min(m.N+size, len(m.Buf))]
		}
	}
	if t.nmsg == len(t.msgs) {
		t.send()
	}
	m := &t.msgs[t.nmsg]
	t.sess[t.nmsg] = s
	t.nmsg++
	m.N = 0
	m.Seg = 0
	m.Addr = addr
	t.segs = 0
	t.open = false
	return m.Buf[0:0:size]
}

// commit records a packet of n bytes (tag included) just built at the tail of the last message,
// and queues it for sealing. full says the packet used the whole payload size, so an equal-size
// packet to the same peer may follow it in the same GSO super-packet.
func (t *txLoop) commit(n, hdrLen int, pn uint64, aead *stc.AEAD, full bool) {
	m := &t.msgs[t.nmsg-1]
	if t.segs == 0 {
		m.Seg = n
	}
	t.jobs = append(t.jobs, sealJob{msg: t.nmsg - 1, off: m.N, n: n - stc.TagSize, hdrLen: hdrLen, pn: pn, aead: aead})
	m.N += n
	t.segs++
	t.open = full && n == m.Seg
}

// send seals the batch in place and hands it to the socket.
func (t *txLoop) send() {
	if t.nmsg == 0 {
		return
	}
	for i := range t.jobs {
		j := &t.jobs[i]
		b := t.msgs[j.msg].Buf[j.off : j.off+j.n : j.off+j.n+stc.TagSize]
		j.aead.Seal(b, j.hdrLen, j.pn)
		j.aead = nil
	}
	t.jobs = t.jobs[:0]
	var datagrams, bytes uint64
	for i := range t.msgs[:t.nmsg] {
		m := &t.msgs[i]
		if m.Seg > 0 && m.Seg < m.N {
			datagrams += uint64((m.N + m.Seg - 1) / m.Seg)
		} else {
			datagrams++
		}
		bytes += uint64(m.N)
	}
	e := t.e
	// Path MTU probes go out on their own, with fragmentation forbidden, between the spans of
	// the batch around them, so every packet leaves in the order it was numbered.
	from := 0
	for _, i := range t.probeMsgs {
		t.write(t.msgs[from:i], t.sess[from:i])
		t.writeProbe(t.msgs[i : i+1])
		from = i + 1
	}
	t.probeMsgs = t.probeMsgs[:0]
	t.write(t.msgs[from:t.nmsg], t.sess[from:t.nmsg])
	clear(t.sess[:t.nmsg])
	e.ctr.txBatches.Add(1)
	e.ctr.txDatagrams.Add(datagrams)
	e.ctr.txBytes.Add(bytes)
	t.nmsg = 0
	t.open = false
	t.segs = 0
	t.flush++
}

// write hands msgs, packed by sess, to the socket. A message the route refuses as too large
// counts as lost and the rest still goes (mtu.go).
func (t *txLoop) write(msgs []batchio.Message, sess []*Session) {
	for len(msgs) > 0 {
		n, err := t.e.conn.WriteBatch(msgs)
		if err == nil {
			return
		}
		if n >= len(msgs) || !t.refused(msgs, sess, n, err) {
			t.e.cfg.Logger.Debug("tx write failed", "err", err)
			return
		}
		msgs, sess = msgs[n+1:], sess[n+1:]
		k := t.dropRefused(msgs, sess)
		msgs, sess = msgs[:k], sess[:k]
	}
}

// sendHandshakes moves queued handshake datagrams into the batch.
func (t *txLoop) sendHandshakes() {
	for {
		d, ok := t.e.raw.Pop()
		if !ok {
			return
		}
		t.open = false // a handshake datagram never joins a GSO super-packet
		b := t.slot(nil, d.Addr, d.N)
		b = append(b, d.Bytes()...)
		m := &t.msgs[t.nmsg-1]
		m.N += len(b)
		m.Seg = 0
		t.open = false
		d.Free()
	}
}
