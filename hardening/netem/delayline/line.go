package delayline

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// sockBuf is the socket buffer size asked for on both sockets: a burst of a few milliseconds at
// gigabit rates must not overflow the kernel while a goroutine waits for a core.
const sockBuf = 8 << 20

// Line is a running delay line: a UDP forwarder from one client to one target with an
// impairment in each direction.
type Line struct {
	client, target *batchio.Conn // the listening socket, and the socket that talks to the target
	up, down       *pipe
	lastClient     atomic.Pointer[netip.AddrPort]
	done           chan struct{}
	wg             sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

// New starts a line listening on listen (host:port, port 0 picks one) that forwards to target.
// up impairs client-to-target datagrams, down target-to-client ones.
func New(listen, target string, up, down Config) (*Line, error) {
	for _, c := range []Config{up, down} {
		if err := c.validate(); err != nil {
			return nil, err
		}
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("delayline: resolve target %q: %w", target, err)
	}
	to := netip.AddrPortFrom(ta.AddrPort().Addr().Unmap(), ta.AddrPort().Port())
	opts := batchio.Options{RecvBuffer: sockBuf, SendBuffer: sockBuf, DisableGSO: true, DisableGRO: true, BatchSize: batchSize}
	l := &Line{done: make(chan struct{})}
	if l.client, err = batchio.Listen("udp", listen, opts); err != nil {
		return nil, fmt.Errorf("delayline: listen on %q: %w", listen, err)
	}
	family, wildcard := "udp4", "0.0.0.0:0"
	if to.Addr().Is6() {
		family, wildcard = "udp6", "[::]:0"
	}
	if l.target, err = batchio.Listen(family, wildcard, opts); err != nil {
		l.client.Close()
		return nil, fmt.Errorf("delayline: socket towards %v: %w", to, err)
	}
	epoch := time.Now()
	clock := func() int64 { return int64(time.Since(epoch)) } // monotonic
	l.up = newPipe(l.client, l.target, up.withDefaults(), clock, l.done)
	l.up.accept = l.noteClient
	l.up.dest = func() (netip.AddrPort, bool) { return to, true }
	l.down = newPipe(l.target, l.client, down.withDefaults(), clock, l.done)
	l.down.accept = func(from netip.AddrPort) bool { return from == to }
	l.down.dest = l.clientAddr
	for _, p := range []*pipe{l.up, l.down} {
		l.wg.Add(2)
		go func() { defer l.wg.Done(); p.read() }()
		go func() { defer l.wg.Done(); p.release() }()
	}
	return l, nil
}

// noteClient remembers the source of a client datagram (replies go to the latest one).
func (l *Line) noteClient(from netip.AddrPort) bool {
	if cur := l.lastClient.Load(); cur == nil || *cur != from {
		l.lastClient.Store(&from)
	}
	return true
}

func (l *Line) clientAddr() (netip.AddrPort, bool) {
	if a := l.lastClient.Load(); a != nil {
		return *a, true
	}
	return netip.AddrPort{}, false
}

// Addr is the address clients send to.
func (l *Line) Addr() netip.AddrPort { return l.client.LocalAddr() }

// TargetSideAddr is the local address of the socket that talks to the target: with Addr, what a
// test needs to find the line's sockets in /proc/net/udp (their kernel drop counters).
func (l *Line) TargetSideAddr() netip.AddrPort { return l.target.LocalAddr() }

// Up and Down return the counters of each direction (client to target, target to client).
func (l *Line) Up() Stats { return l.up.stats() }

// Down returns the counters of the target-to-client direction.
func (l *Line) Down() Stats { return l.down.stats() }

// Close stops the four goroutines, closes both sockets and discards what still waits. It
// returns once everything has stopped; calling it again returns the first result.
func (l *Line) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeErr = errors.Join(l.client.Close(), l.target.Close())
		l.wg.Wait()
		for _, p := range []*pipe{l.up, l.down} {
			for len(p.q) > 0 {
				freePacket(p.q.pop())
			}
			p.queued.Store(0)
		}
	})
	return l.closeErr
}
