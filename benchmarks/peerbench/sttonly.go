package peerbench

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// The workloads only sttfast runs (issue 3): handshakes per second and memory per idle session.
// No peer is measured on them: quic-go's and kcp-go's equivalents (TLS handshakes, sessions that
// exist on the first packet) are different enough that a ratio would mislead.

// handshakeListener is a plain listener that keeps no accepted session queue (nothing calls
// Accept) and has room for every session the dialer makes, live or draining.
func (s *sttContender) handshakeListener(ctx context.Context, e *Env) error {
	node, err := s.listenNode(ctx, e, func(c *ctrl.Config) {
		c.DiscardAccepted = true
		c.MaxSessions = 1 << 20
	})
	if err != nil {
		return err
	}
	defer node.Close()
	e.Ready([]string{node.Addr().String()})
	e.WaitStop()
	st := node.Stats()
	e.Info("accepted", strconv.FormatUint(st.Accepted, 10))
	e.Info("refused", strconv.FormatUint(st.HandshakesFailed(), 10))
	e.Info("handshake_queue_drops", strconv.FormatUint(st.Drops[dataplane.DropHandshakeQueue], 10))
	e.Info("forward_secrecy", strconv.FormatBool(s.fs))
	return nil
}

// handshakeDialer runs Concurrency dial loops from one node: each completed Dial (the session is
// established on both sides) counts one handshake, and the session is closed at once so that the
// listener's table stays small and the run can last. A session whose keys are not of the kind
// configured (forward-secret for sttfast-fs, seed-only for sttfast) fails the run: a rate of the
// wrong handshake would be a wrong number.
func (s *sttContender) handshakeDialer(ctx context.Context, e *Env) error {
	node, err := s.listenNode(ctx, e, nil)
	if err != nil {
		return err
	}
	defer node.Close()
	addr := "udp://" + e.O.Addrs[0]
	var (
		wg       sync.WaitGroup
		failed   atomic.Uint64
		wrongFS  atomic.Uint64 // sessions whose ForwardSecret() is not s.fs
		firstErr atomic.Pointer[error]
	)
	for i := 0; i < max(1, e.O.Concurrency); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !e.Stopped() {
				sess, err := node.Dial(e.stopCtx, addr)
				if err != nil {
					if e.Stopped() {
						return
					}
					failed.Add(1)
					e.M.lost.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				if sess.ForwardSecret() != s.fs {
					wrongFS.Add(1)
				}
				sess.CloseWithError(dataplane.CodeNoError, "")
				e.M.Add(0, 1)
			}
		}()
	}
	wg.Wait()
	e.Info("concurrency", strconv.Itoa(e.O.Concurrency))
	e.Info("failed_dials", strconv.FormatUint(failed.Load(), 10))
	e.Info("forward_secrecy", strconv.FormatBool(s.fs))
	if p := firstErr.Load(); p != nil {
		e.Info("first_dial_error", (*p).Error())
	}
	if n := wrongFS.Load(); n > 0 {
		return fmt.Errorf("%d sessions with ForwardSecret() = %t, want %t", n, !s.fs, s.fs)
	}
	return nil
}

// idleListener measures what idle sessions cost the listener: heap in use and RSS after a full
// collection, before the dialer starts and once it has established every session, divided by the
// number of sessions.
func (s *sttContender) idleListener(ctx context.Context, e *Env) error {
	n := e.O.Sessions
	maxSessions := max(10000, n+64)
	if s.ws {
		if err := wsIdleFiles(e, n); err != nil {
			return err
		}
	}
	var ends sessionEnds
	node, err := s.listenNode(ctx, e, func(c *ctrl.Config) {
		c.DiscardAccepted = true
		c.MaxSessions = maxSessions
		c.OnEvent = ends.record
		if s.ws {
			tuneIdleWSListener(c, e, n)
		}
	})
	if err != nil {
		return err
	}
	defer node.Close()
	before := takeMemSnapshot()
	e.markStart()
	e.Ready([]string{sttListenAddr(node)})
	// The dialer's Dial returns once the session is established, and the listener installs a
	// session before it answers: when the dialer says "dialed", every session is live here.
	select {
	case <-waitMark(e, "dialed"):
	case <-e.Stop():
		return errors.New("stopped before the dialer established its sessions")
	}
	// "Idle" means quiet: a session gives its packet history back after a second without
	// sending, so measure after two.
	select {
	case <-time.After(idleSettle):
	case <-e.Stop():
		return errors.New("stopped while the sessions settled")
	}
	after := takeMemSnapshot()
	live := node.NumSessions()
	e.markEnd()
	if live < n {
		st := node.Stats()
		return fmt.Errorf("only %d of %d sessions are live at the listener; sessions ended: %s; ws path %+v",
			live, n, ends.String(), st.WebSocket)
	}
	e.SetIdle(idleStats(before, after, live, maxSessions))
	e.Info("note", "heap and RSS after runtime.GC and debug.FreeOSMemory, 2 s after the last handshake; includes the handshake replay caches' entries for these sessions (they expire after 11 s and 60 s)")
	e.emit("%s %s", lineMark, markEnd)
	e.WaitStop()
	return nil
}

// sessionEnds counts the sessions that ended, by close code and first reason, so that an idle
// run that loses sessions says why.
type sessionEnds struct {
	mu  sync.Mutex
	why map[string]int
}

func (s *sessionEnds) record(ev ctrl.Event) {
	if ev.Kind != ctrl.EventSessionClosed {
		return
	}
	k := fmt.Sprintf("code %d (remote %v) %.80s", ev.Code, ev.Remote, ev.Reason)
	s.mu.Lock()
	if s.why == nil {
		s.why = make(map[string]int)
	}
	s.why[k]++
	s.mu.Unlock()
}

func (s *sessionEnds) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.why) == 0 {
		return "none"
	}
	out := ""
	for k, v := range s.why {
		out += fmt.Sprintf("[%d x %s] ", v, k)
	}
	return out
}

// idleSettle is how long the listener waits after the last handshake before it measures: the
// data plane releases a quiet session's packet history after one second.
const idleSettle = 2 * time.Second

// idleDialer establishes Sessions sessions with Concurrency dials in flight, keeps them, and
// reports its own memory per session too (the initiator's side).
func (s *sttContender) idleDialer(ctx context.Context, e *Env) error {
	n := e.O.Sessions
	var tune func(*ctrl.Config)
	if s.ws {
		if err := wsIdleFiles(e, n); err != nil {
			return err
		}
		tune = func(c *ctrl.Config) { tuneIdleWSDialer(c, n) }
	}
	node, err := s.listenNode(ctx, e, tune)
	if err != nil {
		return err
	}
	if !s.ws {
		// Over ws the node is left to the process's exit: closing ten thousand engines one
		// after the other outlasts the harness's 15 s between STOP and RESULT, and the
		// listener sees the connections end either way.
		defer node.Close()
	}
	addr := sttDialAddr(e.O.Addrs[0])
	before := takeMemSnapshot()
	if s.ws {
		// The dialing node's heap grows by about 0.85 MB per session (an engine each): the
		// collector's last cycles over gigabytes, on a busy 2-core machine, stalled its
		// engines long enough for the listener to give up on some sessions as dead. Nothing
		// here is garbage worth collecting until every session is up.
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	sessions := make([]*ctrl.Session, n)
	var next atomic.Int64
	var failed atomic.Uint64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < max(1, e.O.Concurrency); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || e.Stopped() {
					return
				}
				sess, err := node.Dial(e.stopCtx, addr)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				sessions[i] = sess
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if p := firstErr.Load(); p != nil {
		return fmt.Errorf("%d of %d dials failed, first: %w", failed.Load(), n, *p)
	}
	var after memSnapshot
	if s.ws {
		e.Mark("dialed")
		after = wsDialerMemSnapshot(e)
	} else {
		after = takeMemSnapshot()
	}
	st := idleStats(before, after, node.NumSessions(), 0)
	st.EstablishSeconds = elapsed.Seconds()
	st.HandshakesPerSec = float64(n) / elapsed.Seconds()
	e.SetIdle(st)
	if !s.ws {
		e.Mark("dialed")
	}
	e.WaitStop()
	_ = sessions // held until here: the sessions stay referenced and idle
	return nil
}

func idleStats(before, after memSnapshot, sessions, maxSessions int) *IdleStats {
	st := &IdleStats{Sessions: sessions, HeapInuseBefore: before.HeapInuse, HeapInuseAfter: after.HeapInuse,
		RSSBefore: before.RSS, RSSAfter: after.RSS, GoroutinesBefore: before.Goroutines,
		GoroutinesAfter: after.Goroutines, MaxSessionsConfig: maxSessions}
	if sessions > 0 {
		st.HeapPerSession = (float64(after.HeapInuse) - float64(before.HeapInuse)) / float64(sessions)
		st.RSSPerSession = (float64(after.RSS) - float64(before.RSS)) / float64(sessions)
	}
	return st
}

// waitMark returns a channel closed when the other process sends MARK name.
func waitMark(e *Env, name string) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-e.marks:
				if m == name {
					close(c)
					return
				}
			case <-e.Stop():
				return
			}
		}
	}()
	return c
}
