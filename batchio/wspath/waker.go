package wspath

import (
	"net"
	"sync"
)

// wakerTokenLen is the length of the token a waker connection sends first: 16 random bytes that
// identify the Listener, then the waker's index.
const wakerTokenLen = 17

// loopWaker wakes one gnet event loop without allocating: a loopback TCP connection from the
// Listener to itself that the loop serves like any other. A goroutine with frames to send queues
// the connection on the waker and, if the loop has not been woken since it last drained the
// queue, writes one byte; the loop's OnTraffic for the waker drains the queue and flushes each
// connection. (gnet's own Wake and AsyncWrite allocate a closure per call.)
type loopWaker struct {
	idx   int
	nc    net.Conn // our end; the loop reads the other
	one   [1]byte
	mu    sync.Mutex
	armed bool
	list  []*serverConn
	spare []*serverConn
	// barriers are closed by the drain that flushes everything scheduled before them.
	barriers []chan struct{}
}

// schedule queues sc for a flush on the waker's loop.
func (w *loopWaker) schedule(sc *serverConn) {
	w.mu.Lock()
	w.list = append(w.list, sc)
	kick := !w.armed
	w.armed = true
	w.mu.Unlock()
	if kick {
		// At most one byte is in flight per drain, so this never blocks; an error means the
		// Listener is closing and nothing needs to be flushed any more.
		_, _ = w.nc.Write(w.one[:])
	}
}

// barrier returns a channel closed once the loop has flushed every connection scheduled so far.
func (w *loopWaker) barrier() <-chan struct{} {
	done := make(chan struct{})
	w.mu.Lock()
	w.barriers = append(w.barriers, done)
	kick := !w.armed
	w.armed = true
	w.mu.Unlock()
	if kick {
		_, _ = w.nc.Write(w.one[:])
	}
	return done
}

// drain runs on the waker's event loop: it flushes every queued connection.
func (w *loopWaker) drain() {
	w.mu.Lock()
	list := w.list
	w.list, w.spare = w.spare[:0], nil
	w.armed = false
	barriers := w.barriers
	w.barriers = nil
	w.mu.Unlock()
	for i, sc := range list {
		sc.flush()
		list[i] = nil
	}
	for _, b := range barriers {
		close(b)
	}
	w.mu.Lock()
	if w.spare == nil {
		w.spare = list[:0]
	}
	w.mu.Unlock()
}
