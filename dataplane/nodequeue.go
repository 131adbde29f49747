package dataplane

import (
	"sync"
	"sync/atomic"
)

// nodeQueue counts the bytes that all the sessions of a node hold for sending (written to a
// stream and not yet acknowledged: the sum of their send budgets' use), so that Broadcast can wait
// while the node holds Config.NodeSendBuffer. A broadcast to many sessions whose packets are held
// back by congestion control (a peer group's shared window, peergroup.go) would otherwise fill
// every session's send buffer: 1000 sessions of 4 MiB each, memory the path cannot use, taken
// from the pool chunk by chunk and written cold. Waiting writers park on a condition variable
// (nothing allocated); an acknowledgement that takes the count below the bound wakes them.
type nodeQueue struct {
	bytes atomic.Int64
	nwait atomic.Int32  // broadcasters waiting, readable without mu
	waits atomic.Uint64 // times a broadcaster had to wait, ever
	mu    sync.Mutex
	cond  sync.Cond // L is &mu (NewTable)
}

// release gives back n bytes and wakes waiting broadcasters. The order (subtract, then look for
// waiters) against wait's (count itself, then look at the bytes under mu) is what makes a lost
// wake-up impossible.
func (q *nodeQueue) release(n int64) {
	q.bytes.Add(-n)
	if q.nwait.Load() > 0 {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// wait returns once the node holds less than limit bytes for sending (limit <= 0: at once).
func (q *nodeQueue) wait(limit int64) {
	if limit <= 0 || q.bytes.Load() < limit {
		return
	}
	q.waits.Add(1)
	q.mu.Lock()
	q.nwait.Add(1)
	for q.bytes.Load() >= limit {
		q.cond.Wait()
	}
	q.nwait.Add(-1)
	q.mu.Unlock()
}
