package ctrl

import "sync"

// expiringSet remembers keys until they expire, bounded to max entries (the oldest go first when
// it is full). The responder uses one for HELLO nonces seen within the clock window and one for
// the ids of sessions it created within the handshake timeout, so neither a replayed HELLO nor a
// replayed AUTH_PROOF can make it repeat work it already did.
type expiringSet[K comparable] struct {
	mu    sync.Mutex
	m     map[K]int64 // key -> expiry (Unix ns)
	order []K         // insertion order, a ring; grows by doubling up to max
	head  int         // oldest entry in order
	n     int
	max   int
}

// initialOrder is the ring's first size: the bounds (1<<20 session ids, 32768 nonces) are for a
// node under a handshake storm, and allocating them up front cost every node 9 MiB of heap.
const initialOrder = 64

func newExpiringSet[K comparable](max int) *expiringSet[K] {
	return &expiringSet[K]{m: make(map[K]int64), order: make([]K, min(max, initialOrder)), max: max}
}

// grow doubles the ring, oldest entry first, up to max. mu held.
func (s *expiringSet[K]) grow() {
	order := make([]K, min(2*len(s.order), s.max))
	for i := 0; i < s.n; i++ {
		order[i] = s.order[(s.head+i)%len(s.order)]
	}
	s.order, s.head = order, 0
}

// add inserts k with expiry exp unless it is present and unexpired; it reports whether k was
// new. now prunes expired entries from the old end.
func (s *expiringSet[K]) add(k K, now, exp int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	if e, ok := s.m[k]; ok && e > now {
		return false
	}
	if s.n == len(s.order) && len(s.order) < s.max {
		s.grow()
	}
	if s.n == len(s.order) {
		s.popOldest()
	}
	s.order[(s.head+s.n)%len(s.order)] = k
	s.n++
	s.m[k] = exp
	return true
}

// contains reports whether k is present and unexpired.
func (s *expiringSet[K]) contains(k K, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return ok && e > now
}

// prune drops expired entries from the old end; entries are added with non-decreasing expiry
// per set, so the scan stops at the first live one. mu held.
func (s *expiringSet[K]) prune(now int64) {
	for s.n > 0 {
		k := s.order[s.head]
		if e, ok := s.m[k]; ok && e > now {
			return
		}
		s.popOldest()
	}
}

// popOldest forgets the entry at the old end of the ring. mu held, n > 0.
func (s *expiringSet[K]) popOldest() {
	var zero K
	delete(s.m, s.order[s.head])
	s.order[s.head] = zero
	s.head = (s.head + 1) % len(s.order)
	s.n--
}

func (s *expiringSet[K]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
