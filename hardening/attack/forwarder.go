package attack

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// Forwarder is a one-client UDP relay placed between a real peer and the listener: the peer
// dials the forwarder's address, the forwarder sends everything on to the target from its own
// upstream socket and relays the answers back. It records a copy of every datagram in both
// directions (up to a bound), and can delay each direction, which raises the RTT the listener
// measures (and with it how long a closed session lingers). To the listener, the forwarder's
// upstream socket is the peer's address.
type Forwarder struct {
	front, back *batchio.Conn
	target      netip.AddrPort
	client      atomic.Pointer[netip.AddrPort]
	delay       atomic.Int64 // one-way, nanoseconds, applied to both directions
	hold        atomic.Pointer[func(Direction, []byte) bool]

	frontMu sync.Mutex // serialises writes on front
	backMu  sync.Mutex // serialises writes on back: the pump and WriteBatch share it
	mu      sync.Mutex
	caps    [2][]Captured // ToTarget, ToClient
	held    [][]byte
	max     int
	wg      sync.WaitGroup
}

// Direction of a captured datagram.
type Direction int

// Directions.
const (
	ToTarget Direction = iota // client → listener
	ToClient                  // listener → client
)

// Captured is one recorded datagram.
type Captured struct {
	B  []byte
	At time.Time
}

// NewForwarder starts a forwarder to target that keeps at most maxCapture datagrams per
// direction.
func NewForwarder(target netip.AddrPort, maxCapture int) (*Forwarder, error) {
	opts := batchio.Options{RecvBuffer: 8 << 20, SendBuffer: 8 << 20, DisableGSO: true, DisableGRO: true}
	front, err := batchio.Listen("udp4", "127.0.0.1:0", opts)
	if err != nil {
		return nil, err
	}
	back, err := batchio.Listen("udp4", "127.0.0.1:0", opts)
	if err != nil {
		front.Close()
		return nil, err
	}
	f := &Forwarder{front: front, back: back, target: target, max: maxCapture}
	f.wg.Add(2)
	go f.pump(front, back, ToTarget)
	go f.pump(back, front, ToClient)
	return f, nil
}

// Addr is where the client should dial.
func (f *Forwarder) Addr() netip.AddrPort { return f.front.LocalAddr() }

// UpstreamAddr is the forwarder's address as the listener sees it: the peer's address.
func (f *Forwarder) UpstreamAddr() netip.AddrPort { return f.back.LocalAddr() }

// SetDelay sets the one-way delay applied to datagrams forwarded from now on.
func (f *Forwarder) SetDelay(d time.Duration) { f.delay.Store(int64(d)) }

// SetHold installs a filter: a datagram for which hold returns true is recorded as held and
// not forwarded (an on-path attacker who withholds a packet to use it later). nil forwards all.
func (f *Forwarder) SetHold(hold func(dir Direction, d []byte) bool) {
	if hold == nil {
		f.hold.Store(nil)
		return
	}
	f.hold.Store(&hold)
}

// Held returns the datagrams withheld so far, in order.
func (f *Forwarder) Held() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.held...)
}

// Captures returns the datagrams recorded so far in direction d (shared, read-only).
func (f *Forwarder) Captures(d Direction) []Captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caps[d][:len(f.caps[d]):len(f.caps[d])]
}

// Close stops the forwarder.
func (f *Forwarder) Close() {
	f.front.Close()
	f.back.Close()
	f.wg.Wait()
}

// WriteBatch sends msgs to their addresses from the upstream socket, i.e. from the address the
// listener knows as the peer's: the on-path attacker's replay. It implements [Sender].
func (f *Forwarder) WriteBatch(msgs []batchio.Message) (int, error) {
	f.backMu.Lock()
	defer f.backMu.Unlock()
	return f.back.WriteBatch(msgs)
}

// pump reads from in and forwards to out, recording what passes.
func (f *Forwarder) pump(in, out *batchio.Conn, dir Direction) {
	defer f.wg.Done()
	slab := batchio.NewSlab(64, 64<<10)
	msgs := slab.Messages()
	delayed := make(chan delayedBatch, 4096)
	go f.delayed(out, dir, delayed)
	defer close(delayed)
	for {
		n, err := in.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		var batch []batchio.Message
		for i := range msgs[:n] {
			m := &msgs[i]
			if dir == ToTarget {
				a := m.Addr
				f.client.Store(&a)
			}
			it := m.Datagrams()
			for d, ok := it.Next(); ok; d, ok = it.Next() {
				c := append([]byte(nil), d...)
				if h := f.hold.Load(); h != nil && (*h)(dir, c) {
					f.mu.Lock()
					f.held = append(f.held, c)
					f.mu.Unlock()
					continue
				}
				f.record(dir, c, now)
				batch = append(batch, batchio.Message{Buf: c, N: len(c)})
			}
		}
		dst := f.target
		if dir == ToClient {
			p := f.client.Load()
			if p == nil {
				continue
			}
			dst = *p
		}
		for i := range batch {
			batch[i].Addr = dst
		}
		if d := time.Duration(f.delay.Load()); d > 0 {
			delayed <- delayedBatch{due: now.Add(d), msgs: batch}
			continue
		}
		f.write(out, dir, batch)
	}
}

// delayedBatch is a batch waiting for its due time (FIFO: every batch has the same delay).
type delayedBatch struct {
	due  time.Time
	msgs []batchio.Message
}

// delayed sends each queued batch at its due time.
func (f *Forwarder) delayed(out *batchio.Conn, dir Direction, q <-chan delayedBatch) {
	for b := range q {
		if d := time.Until(b.due); d > 0 {
			time.Sleep(d) // emulated path latency, not synchronisation
		}
		f.write(out, dir, b.msgs)
	}
}

// write sends a batch on out under its write lock (back for ToTarget, front for ToClient).
func (f *Forwarder) write(out *batchio.Conn, dir Direction, msgs []batchio.Message) {
	lock := &f.frontMu
	if dir == ToTarget {
		lock = &f.backMu
	}
	lock.Lock()
	for len(msgs) > 0 {
		n, err := out.WriteBatch(msgs)
		if err != nil || n == 0 {
			break
		}
		msgs = msgs[n:]
	}
	lock.Unlock()
}

func (f *Forwarder) record(dir Direction, b []byte, at time.Time) {
	f.mu.Lock()
	if len(f.caps[dir]) < f.max {
		f.caps[dir] = append(f.caps[dir], Captured{B: b, At: at})
	}
	f.mu.Unlock()
}
