package dataplane

import (
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/dataplane/streambuf"
)

// sendBudget bounds what all the streams of a session hold for sending: bytes written and not
// yet acknowledged, sent or not (Config.SessionSendBuffer). Without it each stream may buffer
// its own SendBuffer, so a session's memory grew with the number of streams (1000 streams could
// hold 4 GiB) rather than with the data the path can carry.
//
// A writer charges its bytes to the budget before it copies them into its stream's buffer, and
// the acknowledgement that frees them gives them back (as does the end of the stream). Writers
// that find the budget spent wait in arrival order: the oldest is the only one that may take
// what is freed, and passes the turn on once it has what it needs, so a large message is never
// starved by a stream of small ones and a release wakes one goroutine, not all of them.
//
// The budget is allocated on a session's first write (Session.sendBudget): an idle session holds
// only the pointer.
type sendBudget struct {
	used atomic.Int64 // bytes charged to streams
	peak atomic.Int64 // highest used ever (SessionStats, tests)
	// used changes with every charge and acknowledgement, limit and nwait almost never: apart,
	// a writer spending its reserve reads nwait without pulling the line the ack path writes.
	_     [48]byte
	limit atomic.Int64 // Config.SessionSendBuffer, raised as send buffers grow (raise)
	nwait atomic.Int32 // len(queue), readable without mu

	mu    sync.Mutex
	queue []*Stream // writers waiting for budget, oldest first; grows once, then reused

	node *nodeQueue // the node's count of what all sessions hold (nodequeue.go)
}

// sendBudget returns the session's budget, creating it on first use. Writers call it; the
// transport only ever sees a budget through a stream that charged it.
func (s *Session) sendBudget() *sendBudget {
	if b := s.budget.Load(); b != nil {
		return b
	}
	b := &sendBudget{node: &s.e.table.queued}
	b.limit.Store(int64(s.e.cfg.SessionSendBuffer))
	if !s.budget.CompareAndSwap(nil, b) {
		return s.budget.Load()
	}
	return b
}

// grab takes up to n bytes, and at least lo, if that many are free; it returns how many it took
// (0: none).
func (b *sendBudget) grab(lo, n int64) int64 {
	for {
		u := b.used.Load()
		free := b.limit.Load() - u
		if free < lo || free <= 0 {
			return 0
		}
		m := min(n, free)
		if b.used.CompareAndSwap(u, u+m) {
			for p := b.peak.Load(); u+m > p && !b.peak.CompareAndSwap(p, u+m); p = b.peak.Load() {
			}
			b.node.bytes.Add(m)
			return m
		}
	}
}

// grabMessage takes need bytes for one small message and, while the budget is ample (at least
// half of it stays free after), extra more as the writer's reserve; it returns how many it took
// (0: need bytes are not free).
func (b *sendBudget) grabMessage(need, extra int64) int64 {
	for {
		u := b.used.Load()
		l := b.limit.Load()
		free := l - u
		if free < need {
			return 0
		}
		m := need
		if free-need-extra >= l/2 {
			m += extra
		}
		if b.used.CompareAndSwap(u, u+m) {
			for p := b.peak.Load(); u+m > p && !b.peak.CompareAndSwap(p, u+m); p = b.peak.Load() {
			}
			b.node.bytes.Add(m)
			return m
		}
	}
}

// raise lifts the limit to n (never lowers it) and, when writers wait, wakes the oldest to try
// with the new room. Called with the session lock held by a writer growing its send buffer.
func (b *sendBudget) raise(n int64) {
	for {
		l := b.limit.Load()
		if n <= l {
			return
		}
		if b.limit.CompareAndSwap(l, n) {
			break
		}
	}
	b.wakeOldest(nil)
}

// give returns n bytes and, when writers wait, wakes the oldest: through locked.wakeLater when
// the caller holds that session's lock (a loop), at once when locked is nil. The order (give
// back, then look for waiters) against the waiter's (queue, then look at what is free) is what
// makes a lost wake-up impossible: Go's atomics are sequentially consistent.
func (b *sendBudget) give(n int64, locked *Session) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	b.node.release(n)
	b.wakeOldest(locked)
}

// wakeOldest wakes the oldest waiting writer, if any, to try again: through locked.wakeLater when
// the caller holds that session's lock in a loop, at once when locked is nil.
func (b *sendBudget) wakeOldest(locked *Session) {
	if b.nwait.Load() == 0 {
		return
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		if locked != nil {
			locked.wakeLater(b.queue[0].wwake)
		} else {
			b.queue[0].wwake.Notify()
		}
	}
	b.mu.Unlock()
}

// head reports whether st is the oldest waiter.
func (b *sendBudget) head(st *Stream) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) > 0 && b.queue[0] == st
}

func (b *sendBudget) enqueue(st *Stream) {
	b.mu.Lock()
	b.queue = append(b.queue, st)
	b.nwait.Store(int32(len(b.queue)))
	b.mu.Unlock()
}

// dequeue removes st from the queue; if that makes another writer the oldest, it is woken to try
// with what is left.
func (b *sendBudget) dequeue(st *Stream) {
	b.mu.Lock()
	for i, w := range b.queue {
		if w == st {
			copy(b.queue[i:], b.queue[i+1:])
			b.queue[len(b.queue)-1] = nil
			b.queue = b.queue[:len(b.queue)-1]
			if i == 0 && len(b.queue) > 0 {
				b.queue[0].wwake.Notify()
			}
			break
		}
	}
	b.nwait.Store(int32(len(b.queue)))
	b.mu.Unlock()
}

// chargeClosed marks a stream whose send buffer is gone: it holds no budget and takes none.
const chargeClosed = -1

// charge takes between lo and n bytes of the session's send budget for the writer of st,
// waiting (in arrival order, within the write deadline) until at least lo are free. It returns
// how many bytes it took; the caller writes at most that many, and gives back what it did not
// write with uncharge. wmu held.
func (st *Stream) charge(lo, n int) (int, error) {
	b := st.s.sendBudget()
	if b.nwait.Load() == 0 {
		if m := b.grab(int64(lo), int64(n)); m > 0 {
			return st.addCharge(b, m)
		}
	}
	st.returnReserve() // a waiter holds nothing beyond what it has written
	b.enqueue(st)
	defer b.dequeue(st)
	for {
		st.wwake.Arm()
		if b.head(st) {
			if m := b.grab(int64(lo), int64(n)); m > 0 {
				st.wwake.Disarm()
				return st.addCharge(b, m)
			}
		}
		if err := st.failure(); err != nil {
			st.wwake.Disarm()
			return 0, err
		}
		err := st.park(st.wwake, &st.writeDl)
		st.wwake.Disarm()
		if err != nil {
			return 0, err
		}
	}
}

// addCharge records m bytes taken from b as held by st, unless the stream's send buffer is gone,
// in which case they go straight back.
func (st *Stream) addCharge(b *sendBudget, m int64) (int, error) {
	for {
		c := st.charged.Load()
		if c == chargeClosed {
			b.give(m, nil)
			if err := st.failure(); err != nil {
				return 0, err
			}
			return 0, ErrStreamClosed
		}
		if st.charged.CompareAndSwap(c, c+m) {
			return int(m), nil
		}
	}
}

// messageReserve is the budget a writer of small messages takes beyond its message, to spend on
// the messages after it without touching the session's budget: a 64-byte message otherwise pays
// two atomic updates of counters the acknowledgement path also writes (the budget's used and the
// stream's charged), every message, where spending a reserve the writer alone owns costs a
// subtraction. It is small against any budget (a quarter of a chunk), taken only by a writer
// already streaming (bytes unacknowledged) while half the budget stays free, and given back
// by the acknowledgement that empties the stream or that comes while a writer waits for budget
// (unchargeAcked), when its own writer waits for budget or for buffer space, and at
// CloseWrite: an idle stream holds none.
const messageReserve = 4 << 10

// chargeMessage takes need bytes of the session's budget for one whole message that fits in the
// send buffer: from the stream's reserve when it holds enough and nobody waits for budget, else
// from the budget (with a new reserve when the stream is streaming), else in the budget's queue
// (charge). wmu held.
func (st *Stream) chargeMessage(need int) error {
	if st.s.sendBudget().nwait.Load() != 0 {
		st.returnReserve()
	} else if st.chargeQuick(need) {
		return nil
	}
	_, err := st.charge(need, need)
	return err
}

// chargeQuick takes need bytes for one small message if it can without waiting: from the
// reserve, or from a budget with room (taking a new reserve when the stream is streaming), and
// only while nobody waits for budget, so it never jumps the queue. It reports false, having
// taken nothing, otherwise (also when the stream's buffer is gone: charge then says so). wmu
// held, or the send buffer entered alone (writeAlone): either excludes the reserve's other users.
func (st *Stream) chargeQuick(need int) bool {
	b := st.s.sendBudget()
	n := int64(need)
	if b.nwait.Load() != 0 {
		return false
	}
	if st.reserve >= n {
		st.reserve -= n
		return true
	}
	if n >= messageReserve/4 || st.send.End() == st.send.Acked() {
		return false
	}
	m := b.grabMessage(n, messageReserve)
	if m == 0 {
		return false
	}
	if _, err := st.addCharge(b, m); err != nil {
		return false // addCharge gave m back
	}
	if m > n {
		st.reserve += m - n
		st.holdsReserve.Store(true)
	}
	return true
}

// returnReserve gives the stream's unspent reserve back to the session's budget. wmu held.
func (st *Stream) returnReserve() {
	st.reserveDue.Store(false)
	if st.reserve == 0 {
		return
	}
	r := st.reserve
	st.reserve = 0
	st.holdsReserve.Store(false)
	st.uncharge(r, nil)
}

// unchargeAcked gives back the n bytes an acknowledgement freed and, once everything written is
// acknowledged or while a writer waits for budget, the stream's reserve as well. The reserve is the writer's (wmu): taken here when
// no writer is inside, else left to the writer through reserveDue, which it checks after
// unlocking (writerDone). s.mu held.
func (st *Stream) unchargeAcked(n int64, s *Session) {
	st.uncharge(n, s)
	if !st.holdsReserve.Load() {
		return
	}
	if st.send.Acked() != st.send.End() && st.s.budget.Load().nwait.Load() == 0 {
		return
	}
	// Ask first, then try the lock. A failed TryLock means a writer is inside, and it sees
	// reserveDue in writerDone after its unlock: the store comes before the TryLock that saw
	// the lock held, so before the unlock (atomics are sequentially consistent). Asking only
	// after a failed TryLock left a window in which the writer unlocked and checked before
	// the store, and an idle stream kept its reserve until its next write.
	st.reserveDue.Store(true)
	if !st.tryLockWrite() {
		return
	}
	st.reserveDue.Store(false)
	r := st.reserve
	st.reserve = 0
	st.holdsReserve.Store(false)
	st.unlockWrite()
	st.uncharge(r, s)
}

// writerDone ends a write call that held wmu: it gives the reserve back if an acknowledgement
// asked for it while the writer was inside (unchargeAcked). Called after wmu is unlocked.
func (st *Stream) writerDone() {
	if !st.reserveDue.Load() {
		return
	}
	st.lockWrite()
	st.returnReserve()
	st.unlockWrite()
}

// uncharge gives back up to n bytes st holds (acknowledged, or taken and not written). locked is
// the session when its lock is held (see give), nil on the writer's side.
func (st *Stream) uncharge(n int64, locked *Session) {
	if n <= 0 {
		return
	}
	for {
		c := st.charged.Load()
		if c <= 0 {
			return
		}
		d := min(n, c)
		if st.charged.CompareAndSwap(c, c-d) {
			st.s.budget.Load().give(d, locked)
			return
		}
	}
}

// dropSend releases the stream's send buffer (its chunks go back to the pool) and the budget it
// held, once nothing it holds can be sent again: the stream was reset or the session ended.
// s.mu held.
func (st *Stream) dropSend() {
	if st.sendGone {
		return
	}
	st.sendGone = true
	st.send.Release()
	if c := st.charged.Swap(chargeClosed); c > 0 {
		st.s.budget.Load().give(c, st.s)
	}
	// The writer's reserve (wmu, not ours to touch) was in charged, given back just now: a write
	// spending it finds the buffer released and reports the stream closed.
}

// budgetGrain is the least a writer streaming a large message waits for: a chunk, so a crowded
// budget is shared out in chunks rather than in slivers of a packet.
const budgetGrain = streambuf.ChunkSize
