package recovery

// SetMaxDatagramSize lowers the datagram size the Sender counts in, for a path found narrower
// than the size given to Init (the data plane's reaction to EMSGSIZE). Windows stay in bytes:
// the congestion window, ssthresh and what is in flight are unchanged, and packets already sent
// keep their sizes in the history. What is counted in datagrams follows the new size: the
// window's floor (MinWindowPackets, or BBR's four packets), the increments of congestion
// avoidance and BBR's quanta. A size not below the current one (or not positive) is ignored:
// the Sender never grows its unit here (path MTU discovery would, through its own checks).
func (s *Sender) SetMaxDatagramSize(n int) {
	if !s.initialized || n <= 0 {
		return
	}
	c := &s.cc
	if n < c.mss {
		c.minWindow = c.minWindow / c.mss * n
		c.mss = n
	}
	if b := s.bbr; s.useBBR && n < b.mss {
		b.minCwnd = b.minCwnd / b.mss * n
		b.mss = n
	}
}

// MaxDatagramSize returns the datagram size the Sender counts in: Config.MaxDatagramSize, or
// what SetMaxDatagramSize lowered it to.
func (s *Sender) MaxDatagramSize() int {
	if !s.initialized {
		return DefaultMaxDatagramSize
	}
	if s.useBBR {
		return s.bbr.mss
	}
	return s.cc.mss
}

// RaiseMaxDatagramSize raises the datagram size the Sender counts in, for a path on which path
// MTU discovery confirmed larger packets (an acknowledged probe). It mirrors SetMaxDatagramSize:
// windows stay in bytes, and what is counted in datagrams (the window's floor, the increments
// of congestion avoidance, BBR's quanta) follows the new size. A size not above the current one
// is ignored.
func (s *Sender) RaiseMaxDatagramSize(n int) {
	if !s.initialized || n <= 0 {
		return
	}
	c := &s.cc
	if n > c.mss {
		c.minWindow = c.minWindow / c.mss * n
		c.mss = n
	}
	if b := s.bbr; s.useBBR && n > b.mss {
		b.minCwnd = b.minCwnd / b.mss * n
		b.mss = n
	}
}
