package impair

import (
	"container/heap"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// PacketConn is the batch datagram interface the wrapper impairs.
type PacketConn = batchio.PacketConn

// Config says how the link misbehaves. Probabilities are per datagram, in [0, 1].
type Config struct {
	// Seed makes the sequence of decisions reproducible.
	Seed uint64
	// Loss drops a datagram.
	Loss float64
	// BurstLen makes every loss drop this many consecutive datagrams (default 1: independent
	// losses); the effective loss rate is then about Loss.
	BurstLen int
	// Duplicate sends a datagram twice.
	Duplicate float64
	// Reorder holds a datagram back by ReorderDelay so that later ones overtake it.
	Reorder float64
	// ReorderDelay is how long a reordered datagram is held (default 1 ms).
	ReorderDelay time.Duration
	// Delay is added to every datagram, and Jitter is a uniform random extra in [0, Jitter).
	Delay, Jitter time.Duration
}

// Stats counts what the link did.
type Stats struct {
	Written, Dropped, Duplicated, Reordered, Delayed uint64
}

// Conn is an impaired PacketConn.
type Conn struct {
	inner PacketConn
	cfg   Config

	mu      sync.Mutex // serializes inner writes and guards rng, queue, burst
	rng     *rand.Rand
	burst   int
	seq     uint64
	out     []batchio.Message
	queue   delayQueue
	wake    chan struct{}
	closed  chan struct{}
	closeMu sync.Once
	wg      sync.WaitGroup

	written, dropped, duplicated, reordered, delayed atomic.Uint64
}

// Wrap returns inner behind an impaired link.
func Wrap(inner PacketConn, cfg Config) *Conn {
	if cfg.BurstLen <= 0 {
		cfg.BurstLen = 1
	}
	if cfg.ReorderDelay <= 0 {
		cfg.ReorderDelay = time.Millisecond
	}
	c := &Conn{
		inner:  inner,
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	c.wg.Add(1)
	go c.delayLoop()
	return c
}

// ReadBatch reads from the inner connection unchanged.
func (c *Conn) ReadBatch(msgs []batchio.Message) (int, error) { return c.inner.ReadBatch(msgs) }

// LocalAddr is the inner connection's address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.inner.LocalAddr() }

// Stats returns what the link has done so far.
func (c *Conn) Stats() Stats {
	return Stats{Written: c.written.Load(), Dropped: c.dropped.Load(), Duplicated: c.duplicated.Load(),
		Reordered: c.reordered.Load(), Delayed: c.delayed.Load()}
}

// Close stops the delay goroutine (queued datagrams are discarded) and closes the inner conn.
func (c *Conn) Close() error {
	c.closeMu.Do(func() { close(c.closed) })
	c.wg.Wait()
	return c.inner.Close()
}

// WriteBatch applies the impairments datagram by datagram (GSO super-packets are split) and
// writes what survives; held datagrams are copied and sent later by the delay goroutine.
func (c *Conn) WriteBatch(msgs []batchio.Message) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = c.out[:0]
	now := time.Now()
	for i := range msgs {
		m := &msgs[i]
		it := m.Datagrams()
		for {
			d, ok := it.Next()
			if !ok {
				break
			}
			c.decide(d, m.Addr, now)
		}
	}
	if len(c.out) > 0 {
		if _, err := c.inner.WriteBatch(c.out); err != nil {
			return 0, err
		}
	}
	return len(msgs), nil
}

// decide applies the impairments to one datagram. mu held.
func (c *Conn) decide(d []byte, to netip.AddrPort, now time.Time) {
	c.written.Add(1)
	cfg := &c.cfg
	if c.burst > 0 {
		c.burst--
		c.dropped.Add(1)
		return
	}
	if cfg.Loss > 0 && c.rng.Float64() < cfg.Loss/float64(cfg.BurstLen) {
		c.burst = cfg.BurstLen - 1
		c.dropped.Add(1)
		return
	}
	copies := 1
	if cfg.Duplicate > 0 && c.rng.Float64() < cfg.Duplicate {
		copies = 2
		c.duplicated.Add(1)
	}
	for k := 0; k < copies; k++ {
		delay := cfg.Delay
		if cfg.Jitter > 0 {
			delay += time.Duration(c.rng.Int64N(int64(cfg.Jitter)))
		}
		if cfg.Reorder > 0 && c.rng.Float64() < cfg.Reorder {
			delay += cfg.ReorderDelay
			c.reordered.Add(1)
		}
		if delay <= 0 {
			c.out = append(c.out, batchio.Message{Buf: d, N: len(d), Addr: to})
			continue
		}
		c.delayed.Add(1)
		c.seq++
		heap.Push(&c.queue, &held{at: now.Add(delay), seq: c.seq, b: append([]byte(nil), d...), to: to})
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

type held struct {
	at  time.Time
	seq uint64 // write order, so equal release times keep the order they were written in
	b   []byte
	to  netip.AddrPort
}

type delayQueue []*held

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(*held)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return x
}

// delayLoop sends held datagrams when their time comes.
func (c *Conn) delayLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	var due []batchio.Message
	for {
		c.mu.Lock()
		now := time.Now()
		due = due[:0]
		for c.queue.Len() > 0 && !c.queue[0].at.After(now) {
			h := heap.Pop(&c.queue).(*held)
			due = append(due, batchio.Message{Buf: h.b, N: len(h.b), Addr: h.to})
		}
		if len(due) > 0 {
			c.inner.WriteBatch(due)
		}
		wait := time.Hour
		if c.queue.Len() > 0 {
			wait = time.Until(c.queue[0].at)
		}
		c.mu.Unlock()
		t.Reset(wait)
		select {
		case <-t.C:
		case <-c.wake:
		case <-c.closed:
			return
		}
	}
}
