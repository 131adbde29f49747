package dataplane

import (
	"sync"

	"github.com/sttfast/sttfast/stc"
)

// Table maps 8-byte session ids to sessions: open addressing with linear probing and
// backward-shift deletion (no tombstones), hashed with xxhash. Lookups run on the RX path for
// every datagram, inserts and deletes on the control path; a RWMutex keeps lookups to one atomic
// add each and lets the rare writers grow the array.
type Table struct {
	mu    sync.RWMutex
	slots []tableSlot // len is a power of two
	n     int
	// queued counts what the sessions of every engine sharing the table hold for sending
	// (nodequeue.go): the node-wide bound Broadcast waits under.
	queued nodeQueue
}

type tableSlot struct {
	id   [8]byte
	hash uint64
	s    *Session
}

const tableMinSlots = 16

// NewTable returns an empty session table. Engines of one node share one table, so a packet
// is found whichever socket of a SO_REUSEPORT group it arrives on.
func NewTable() *Table {
	t := &Table{slots: make([]tableSlot, tableMinSlots)}
	t.queued.cond.L = &t.queued.mu
	return t
}

// Lookup returns the session with id, or nil.
func (t *Table) Lookup(id [8]byte) *Session {
	h := stc.HashSessionID(id)
	t.mu.RLock()
	s := t.find(id, h)
	t.mu.RUnlock()
	return s
}

func (t *Table) find(id [8]byte, h uint64) *Session {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.s == nil {
			return nil
		}
		if sl.hash == h && sl.id == id {
			return sl.s
		}
	}
}

// insert adds s under its id; it reports false when the id is already present.
func (t *Table) insert(s *Session) bool {
	h := stc.HashSessionID(s.id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(s.id, h) != nil {
		return false
	}
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	t.place(tableSlot{id: s.id, hash: h, s: s})
	t.n++
	return true
}

func (t *Table) place(e tableSlot) {
	mask := uint64(len(t.slots) - 1)
	for i := e.hash & mask; ; i = (i + 1) & mask {
		if t.slots[i].s == nil {
			t.slots[i] = e
			return
		}
	}
}

func (t *Table) grow() {
	old := t.slots
	t.slots = make([]tableSlot, len(old)*2)
	for _, e := range old {
		if e.s != nil {
			t.place(e)
		}
	}
}

// remove deletes s if it is the session stored under its id.
func (t *Table) remove(s *Session) {
	h := stc.HashSessionID(s.id)
	t.mu.Lock()
	defer t.mu.Unlock()
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.s == nil {
			return
		}
		if sl.s == s {
			break
		}
	}
	// Backward-shift deletion: pull later entries of the probe run into the hole so that every
	// entry stays reachable from its home slot without tombstones.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		sj := &t.slots[j]
		if sj.s == nil {
			break
		}
		home := sj.hash & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = *sj
			i = j
		}
	}
	t.slots[i] = tableSlot{}
	t.n--
}

// Len returns the number of sessions.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

// Snapshot appends every session to dst.
func (t *Table) Snapshot(dst []*Session) []*Session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range t.slots {
		if s := t.slots[i].s; s != nil {
			dst = append(dst, s)
		}
	}
	return dst
}
