package ctrl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sttfast/sttfast/dataplane"
)

// DialAny establishes a session with the first of addrs to complete a handshake, trying them in
// the order given in the manner of Happy Eyeballs (RFC 8305): it dials addrs[0]; when that has
// had no answer within Config.DialStagger (or has failed sooner: nothing listens there, this
// host cannot send there, the name does not resolve), it dials addrs[1] as well, and so on, the
// earlier attempts going on meanwhile. The first handshake to complete wins; the others are
// cancelled, their dial state dropped, and a session that completed at the same moment as the
// winner is closed (code 0). List the preferred address first (the local network before a
// relay far away, UDP before WebSocket). Each attempt counts as a dial in NodeStats.
//
// When every attempt fails the error wraps each one (a *DialError per address, in order), so
// errors.Is holds for any of their reasons: ErrNothingListening, ErrNoAnswer... Its text names
// every address and its reason on one line. A single address fails exactly as Dial does.
func (n *Node) DialAny(ctx context.Context, addrs ...string) (*Session, error) {
	s, _, err := n.DialAnyIndex(ctx, addrs...)
	return s, err
}

// DialAnyIndex is DialAny that also returns the index in addrs of the address the session went
// to (-1 on error), for a caller that reports which path it settled on.
func (n *Node) DialAnyIndex(ctx context.Context, addrs ...string) (*Session, int, error) {
	switch len(addrs) {
	case 0:
		return nil, -1, fmt.Errorf("%w: no address to dial", ErrBadAddress)
	case 1:
		s, err := n.dialOne(ctx, addrs[0])
		if err != nil {
			return nil, -1, err
		}
		return s, 0, nil
	}
	if n.isClosed() {
		return nil, -1, ErrNodeClosed
	}
	return n.race(ctx, addrs, func(ctx context.Context, i int) (*Session, error) { return n.dialOne(ctx, addrs[i]) })
}

// dialResult is how one attempt of a DialAny ended.
type dialResult struct {
	i   int // index in addrs
	s   *Session
	err error
}

// race runs DialAny's attempts over two or more addresses, attempt(ctx, i) dialing addrs[i]. It
// returns only once every attempt it started has returned: none is left running, registered, or
// holding a session.
func (n *Node) race(ctx context.Context, addrs []string, attempt func(ctx context.Context, i int) (*Session, error)) (*Session, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan dialResult, len(addrs)) // never blocks an attempt
	errs := make([]error, len(addrs))            // by address; nil for those not tried or not failed
	next, running := 0, 0
	start := func(why string) {
		i := next
		next, running = next+1, running+1
		n.traceDial("start %d (%s)", i, why)
		go func() {
			s, err := attempt(ctx, i)
			if err == nil {
				n.traceDial("answered %d", i)
			}
			results <- dialResult{i: i, s: s, err: err}
		}()
	}
	stagger := time.NewTimer(n.cfg.DialStagger)
	defer stagger.Stop()
	start("first")
	var won *Session
	wonAt := -1
	for running > 0 {
		// Another attempt may start while nothing has won and the dial is still wanted.
		more := won == nil && next < len(addrs) && ctx.Err() == nil && !n.isClosed()
		var staggered <-chan time.Time
		if more {
			staggered = stagger.C
		}
		select {
		case <-staggered:
			start("stagger")
			stagger.Reset(n.cfg.DialStagger)
		case r := <-results:
			running--
			switch {
			case r.err != nil:
				n.traceDial("failed %d", r.i)
				errs[r.i] = r.err
				if more { // failed early: the next need not wait for the stagger
					start("failure")
					stagger.Reset(n.cfg.DialStagger)
				}
			case won == nil:
				n.traceDial("won %d", r.i)
				won, wonAt = r.s, r.i
				cancel() // the other attempts stop, unregister, and close a late session
			default:
				n.traceDial("lost %d", r.i)
				r.s.CloseWithError(dataplane.CodeNoError, "another address answered first")
			}
		}
	}
	if won != nil {
		return won, wonAt, nil
	}
	return nil, -1, &dialAnyError{errs: slices.DeleteFunc(errs, func(err error) bool { return err == nil })}
}

// dialAnyError is DialAny's error when every attempt failed: each one's, in address order.
type dialAnyError struct{ errs []error }

// Error is "sttfast: dial ADDR1: why1; ADDR2: why2".
func (e *dialAnyError) Error() string {
	var b strings.Builder
	b.WriteString("sttfast: dial ")
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		if de, ok := err.(*DialError); ok {
			b.WriteString(de.Addr + ": " + de.Err.Error())
		} else {
			b.WriteString(strings.TrimPrefix(err.Error(), "sttfast: "))
		}
	}
	return b.String()
}

// Unwrap returns every attempt's error, for errors.Is and errors.As.
func (e *dialAnyError) Unwrap() []error { return e.errs }

// traceDial reports a step of a DialAny to a test (Node.dialTraceForTest), when one listens.
func (n *Node) traceDial(format string, a ...any) {
	if f := n.dialTraceForTest; f != nil {
		f(fmt.Sprintf(format, a...))
	}
}
