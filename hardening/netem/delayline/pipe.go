package delayline

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// batchSize is how many datagrams one recvmmsg or sendmmsg moves.
const batchSize = 32

// readBufSize holds any UDP payload, so nothing is ever truncated.
const readBufSize = 64 << 10

// pipe is one direction: a reader goroutine that timestamps, decides and queues, and a releaser
// goroutine that sends what is due.
type pipe struct {
	in, out *batchio.Conn
	// dest returns where released datagrams go (the target, or the client last seen); !ok drops.
	dest func() (netip.AddrPort, bool)
	// accept filters and notes the source of each datagram read (the client, or the target only).
	accept func(from netip.AddrPort) bool
	sh     *shaper
	clock  func() int64
	done   <-chan struct{}

	mu      sync.Mutex
	q       dueHeap
	qBytes  int
	nextSeq uint64 // reader only
	wake    chan struct{}
	c       counters
	order   overtakes // releaser only
	queued  atomic.Int64
}

func newPipe(in, out *batchio.Conn, cfg Config, clock func() int64, done <-chan struct{}) *pipe {
	return &pipe{in: in, out: out, sh: newShaper(cfg), clock: clock, done: done, wake: make(chan struct{}, 1)}
}

// read runs until the socket is closed.
func (p *pipe) read() {
	msgs := make([]batchio.Message, batchSize)
	for i := range msgs {
		msgs[i].Buf = make([]byte, readBufSize)
	}
	for {
		n, err := p.in.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (ICMP-reported refusal): the socket still works
		}
		now := p.clock() // one timestamp per batch: they were all in the socket by now
		for i := range n {
			m := &msgs[i]
			p.c.received.Add(1)
			if !p.accept(m.Addr) {
				p.c.foreign.Add(1)
				continue
			}
			p.enqueue(now, m.Buf[:m.N])
		}
	}
}

// enqueue decides d's fate and queues it, waking the releaser when d is the new head.
func (p *pipe) enqueue(now int64, d []byte) {
	due, why := p.sh.decide(now, len(d))
	switch why {
	case dropLoss:
		p.c.loss.Add(1)
		return
	case dropQueue:
		p.c.queue.Add(1)
		return
	}
	p.mu.Lock()
	if len(p.q) >= p.sh.cfg.MaxPackets || p.qBytes+len(d) > p.sh.cfg.MaxBytes {
		p.mu.Unlock()
		p.c.limit.Add(1)
		return
	}
	pk := newPacket(d, due, p.nextSeq)
	p.nextSeq++
	p.q.push(pk)
	p.qBytes += len(d)
	p.queued.Store(int64(len(p.q)))
	head := p.q[0] == pk
	p.mu.Unlock()
	if head {
		select {
		case p.wake <- struct{}{}:
		default: // a wake-up is already pending; the releaser rereads the head anyway
		}
	}
}

// release sends datagrams as they fall due until the line closes. It sleeps on a timer set to
// the head's due time, so an idle or waiting line costs no CPU.
func (p *pipe) release() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*packet, 0, batchSize)
	msgs := make([]batchio.Message, batchSize)
	for {
		batch, wait := p.due(batch[:0])
		if len(batch) > 0 {
			if !p.send(batch, msgs) {
				return
			}
			continue
		}
		if wait > 0 {
			timer.Reset(time.Duration(wait))
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.done:
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// due pops the datagrams due now (at most a batch) in due order; with none due it returns how
// long until the head is (0: the queue is empty).
func (p *pipe) due(batch []*packet) ([]*packet, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	for len(p.q) > 0 && len(batch) < cap(batch) && p.q[0].due <= now {
		pk := p.q.pop()
		p.qBytes -= len(pk.buf)
		batch = append(batch, pk)
	}
	p.queued.Store(int64(len(p.q)))
	if len(batch) == 0 && len(p.q) > 0 {
		return batch, p.q[0].due - now
	}
	return batch, 0
}

// send writes a batch and recycles its packets; false once the socket is closed.
func (p *pipe) send(batch []*packet, msgs []batchio.Message) bool {
	defer func() {
		for _, pk := range batch {
			freePacket(pk)
		}
	}()
	for _, pk := range batch {
		if p.order.release(pk.seq) {
			p.c.reordered.Add(1)
		}
	}
	to, ok := p.dest()
	if !ok {
		p.c.noClient.Add(uint64(len(batch)))
		return true
	}
	msgs = msgs[:len(batch)]
	for i, pk := range batch {
		msgs[i] = batchio.Message{Buf: pk.buf, N: len(pk.buf), Addr: to}
	}
	for len(msgs) > 0 {
		n, err := p.out.WriteBatch(msgs)
		p.c.forwarded.Add(uint64(n))
		if err == nil {
			break
		}
		if errors.Is(err, net.ErrClosed) {
			return false
		}
		p.c.sendErr.Add(1) // the datagram at n failed; the rest still go
		msgs = msgs[n+1:]
	}
	return true
}

func (p *pipe) stats() Stats { return p.c.snapshot(int(p.queued.Load())) }
