package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/stc"
)

// memConn is a PacketConn that records what the TX loop writes, so a test can hand it to the
// other side's RX loop itself: the hot path runs on the test goroutine, deterministically.
type memConn struct {
	local netip.AddrPort
	slab  *batchio.Slab
	out   []batchio.Message // written since the last take, Addr rewritten to the source
	to    []netip.AddrPort  // destination of each message in out

	// A reliable memConn (newReliableMemConn) is a ReliableConn: ordered and lossless, with a
	// byte budget for what was written and not yet taken, beyond which writes are dropped and
	// counted (as wspath does), and Writable reporting what is left of it.
	reliable bool
	budget   int
	held     int // bytes written since the last take, framing included
	drops    int // datagrams dropped for the budget
}

func (c *memConn) Reliable() bool              { return c.reliable }
func (c *memConn) MaxPacket() int              { return 64 << 10 }
func (c *memConn) Writable(netip.AddrPort) int { return max(0, c.budget-c.held) }

// newReliableMemConn returns a reliable memConn holding up to budget bytes between takes.
func newReliableMemConn(local netip.AddrPort, budget int) *memConn {
	c := newMemConnSize(local, 256, 64<<10)
	c.reliable, c.budget = true, budget
	return c
}

func newMemConn(local netip.AddrPort) *memConn { return newMemConnSize(local, 256, 64<<10) }

// newMemConnSize holds up to n written messages of up to size bytes between takes.
func newMemConnSize(local netip.AddrPort, n, size int) *memConn {
	c := &memConn{local: local, slab: batchio.NewSlab(n, size), to: make([]netip.AddrPort, 0, n)}
	c.out = c.slab.Messages()[:0]
	return c
}

func (c *memConn) ReadBatch([]batchio.Message) (int, error) { select {} }
func (c *memConn) LocalAddr() netip.AddrPort                { return c.local }
func (c *memConn) Close() error                             { return nil }

// WriteBatch copies each message into the slab, stamping it with this side's address as the
// source the receiver will see.
func (c *memConn) WriteBatch(msgs []batchio.Message) (int, error) {
	all := c.slab.Messages()
	for i := range msgs {
		if c.reliable {
			if cost := msgs[i].N + reliableFraming; c.held+cost > c.budget {
				c.drops++
				continue
			} else {
				c.held += cost
			}
		}
		m := &all[len(c.out)]
		m.N = copy(m.Buf[:cap(m.Buf)], msgs[i].Buf[:msgs[i].N])
		m.Seg = msgs[i].Seg
		m.Addr = c.local
		c.out = all[:len(c.out)+1]
		c.to = append(c.to, msgs[i].Addr)
	}
	return len(msgs), nil
}

func (c *memConn) take() []batchio.Message {
	out := c.out
	c.out = c.slab.Messages()[:0]
	c.to = c.to[:0]
	c.held = 0
	return out
}

// side is one end of an in-process session: an engine that is never started, driven by hand.
type side struct {
	e    *Engine
	conn *memConn
	tx   *txLoop
	rx   *rxLoop
	s    *Session
}

// newPair installs a session between two hand-driven engines with fixed keys.
func newPair(t testing.TB, cfg Config) (a, b *side) {
	t.Helper()
	return newPairOn(t, cfg, newMemConn)
}

// newPairOn is newPair over the in-memory sockets mkConn makes: the initiator at pairAddrA, the
// responder at pairAddrB, the secrets of pairSecrets, established by the responder's FINAL.
func newPairOn(t testing.TB, cfg Config, mkConn func(netip.AddrPort) *memConn) (a, b *side) {
	t.Helper()
	mk := func(local netip.AddrPort) *side {
		c := mkConn(local)
		e := NewEngine(c, cfg, nil)
		return &side{e: e, conn: c, tx: newTxLoop(e), rx: newRxLoop(e)}
	}
	a, b = mk(pairAddrA), mk(pairAddrB)
	i2r, r2i := pairSecrets()
	var err error
	if a.s, err = a.e.Install(SessionParams{ID: pairID, Initiator: true, Peer: pairAddrB, Send: i2r, Recv: r2i}); err != nil {
		t.Fatal(err)
	}
	if b.s, err = b.e.Install(SessionParams{ID: pairID, Peer: pairAddrA, Send: r2i, Recv: i2r, Final: true}); err != nil {
		t.Fatal(err)
	}
	// The responder's FINAL establishes the initiator's side.
	b.step()
	deliver(b, a)
	a.step()
	deliver(a, b)
	if !a.s.Established() {
		t.Fatal("initiator not established after FINAL")
	}
	return a, b
}

// step runs one TX loop iteration: queued sessions, timers, packing, sealing, sending.
func (x *side) step() {
	x.tx.now = recovery.Now()
	x.tx.drainActive()
	x.tx.runTimers()
	x.tx.serveReady()
	x.tx.send()
	x.tx.applyNarrow()
}

// warm runs f n times: the rounds before an allocation count, or a benchmark's timer.
func warm(n int, f func()) {
	for i := 0; i < n; i++ {
		f()
	}
}

// deliver hands everything from's TX loop wrote to to's RX loop.
func deliver(from, to *side) int {
	msgs := from.conn.take()
	if len(msgs) > 0 {
		to.rx.batch(msgs)
	}
	return len(msgs)
}

// hub is one engine holding a session to each of several peer engines, for broadcast tests.
type hub struct {
	a        *side
	peers    []*hubPeer
	byAddr   map[netip.AddrPort]*hubPeer
	sessions []*Session
	scratch  [][]batchio.Message
}

type hubPeer struct {
	*side
	bst *Stream
	in  []batchio.Message
}

func newHub(t testing.TB, n int) *hub {
	t.Helper()
	hubAddr := netip.MustParseAddrPort("10.0.0.1:1000")
	c := newMemConn(hubAddr)
	if n > 128 { // wide hubs (BenchmarkBroadcastWidth): room for a round's packet to every peer
		c = newMemConnSize(hubAddr, 4*n, 16<<10)
	}
	cfg := Config{}
	if n > 128 { // building a wide hub on a busy machine can take longer than the idle timeout
		cfg.IdleTimeout = 10 * time.Minute
	}
	e := NewEngine(c, cfg, nil)
	h := &hub{a: &side{e: e, conn: c, tx: newTxLoop(e), rx: newRxLoop(e)}, byAddr: map[netip.AddrPort]*hubPeer{}}
	for i := 0; i < n; i++ {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(1 + i>>8), byte(i)}), 3000) // distinct past 256 peers
		pc := newMemConn(addr)
		if n > 128 { // a wide hub's peer gets a packet and answers with an ACK per round
			pc = newMemConnSize(addr, 16, 4<<10)
		}
		pe := NewEngine(pc, cfg, nil)
		p := &hubPeer{side: &side{e: pe, conn: pc, tx: newTxLoop(pe), rx: newRxLoop(pe)}}
		var i2r, r2i stc.Secret
		i2r[0], r2i[0] = byte(i), byte(i+100)
		id := [8]byte{9, byte(i), byte(i >> 8)}
		var err error
		if p.s, err = pe.Install(SessionParams{ID: id, Initiator: true, Peer: hubAddr, Send: i2r, Recv: r2i}); err != nil {
			t.Fatal(err)
		}
		hs, err := e.Install(SessionParams{ID: id, Peer: addr, Send: r2i, Recv: i2r, Final: true})
		if err != nil {
			t.Fatal(err)
		}
		h.sessions = append(h.sessions, hs)
		h.peers = append(h.peers, p)
		h.byAddr[addr] = p
	}
	h.a.step()
	h.fanout()
	for _, p := range h.peers {
		p.step()
	}
	h.collect()
	return h
}

// fanout routes what the hub wrote to each peer's RX loop.
func (h *hub) fanout() {
	c := h.a.conn
	for _, p := range h.peers {
		p.in = p.in[:0]
	}
	for i := range c.out {
		if p := h.byAddr[c.to[i]]; p != nil {
			p.in = append(p.in, c.out[i])
		}
	}
	for _, p := range h.peers {
		if len(p.in) > 0 {
			p.rx.batch(p.in)
		}
	}
	c.take()
}

// collect hands every peer's output (ACKs) to the hub's RX loop.
func (h *hub) collect() {
	for _, p := range h.peers {
		if msgs := p.conn.take(); len(msgs) > 0 {
			h.a.rx.batch(msgs)
		}
	}
}
