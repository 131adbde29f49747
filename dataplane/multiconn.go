package dataplane

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio"
)

// MultiConn unites several PacketConns (a UDP socket and WebSocket connections, say) into one,
// so that one engine, and one session, sees every path to a peer: a session moves between them
// (migrate.go) without leaving its engine, whose TX loop alone owns its send keys. This is the
// answer to "a session lives in one engine over one conn": rather than hand a session from one
// engine to another, the engine's conn becomes every path at once (docs/ARCHITECTURE.md,
// "Sessions that move").
//
// Addresses say which path they belong to: the first conn (the primary, typically UDP) uses
// plain addresses; every other conn has a tag, and its peers' addresses carry it as an IPv6 zone
// (TagAddr: 127.0.0.1:9080 read over the "ws" conn is [::ffff:127.0.0.1%ws]:9080). WriteBatch
// routes each message by its address's tag and hands the conn the plain address. A tag is
// unique per MultiConn and must not be the name of a network interface.
//
// Each conn is read by a goroutine of its own into a buffer of its own (or into what the conn
// lends, batchio.BatchLender); the engine's RX loop takes one conn's batch at a time with
// LendBatch, in those buffers, and the batch goes back to its reader at the loop's next read, so
// several paths cost no copy per packet (ReadBatch copies, for callers that keep packets). A
// conn other than the primary that fails (a WebSocket connection that ended) is only dropped
// from the union: its packets stop, writes to it are counted as dropped, and the sessions on it
// move elsewhere by their own failover. MultiConn implements ReliableConn for its reliable
// paths, and the engine asks PathReliable per address.
type MultiConn struct {
	paths atomic.Pointer[[]*connPath] // copy on write: the TX loop reads it per batch
	addMu sync.Mutex

	ready chan *pathReader // batches read by the conns' goroutines
	cur   *pathReader      // the batch ReadBatch is copying out
	lent  *pathReader      // the batch LendBatch handed out last, its reader's again at the next read
	done  chan struct{}

	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	// Drops counts datagrams written to a path that had ended or to a tag with no path.
	drops atomic.Uint64
}

// connPath is one member of a MultiConn.
type connPath struct {
	conn  PacketConn
	tag   string
	rel   ReliableConn // nil for a datagram path
	ended atomic.Bool  // its reads failed for good: writes to it are dropped

	// What went over this path (packets as the path frames them: a GRO read counts each
	// segment), for the node's counters by path kind.
	rxPackets, rxBytes, txPackets, txBytes atomic.Uint64
}

var _ batchio.BatchLender = (*MultiConn)(nil)

// pathReader is the batch one conn's goroutine read, waiting for ReadBatch to copy it out or for
// LendBatch to hand it out.
type pathReader struct {
	path   *connPath
	read   func([]batchio.Message) (int, error) // the conn's reads, lent when it lends (batchio.BatchReader)
	msgs   []batchio.Message
	n, off int
	next   chan struct{} // ReadBatch or LendBatch hands the buffers back
	// the last address tagged, so a connection's packets are tagged without a lookup each
	raw, tagged netip.AddrPort
}

// multiReadBatch is how many messages each conn's reader holds: 16 buffers of 64 KiB (a GRO
// super-packet or a WebSocket message each) per path.
const multiReadBatch = 16

// multiPath is implemented by a conn that carries paths of several kinds (MultiConn).
type multiPath interface {
	// PathReliable reports whether the path to addr is reliable and ordered.
	PathReliable(addr netip.AddrPort) bool
	// Routes reports whether addr belongs to one of its paths (its tag is known).
	Routes(addr netip.AddrPort) bool
}

// ErrPathTag reports a MultiConn tag that is empty or already in use.
var ErrPathTag = errors.New("sttfast: path tag empty or already in use")

// NewMultiConn unites primary (whose addresses are untagged) with nothing else yet; AddPath adds
// the others, before or after the engine starts.
func NewMultiConn(primary PacketConn) *MultiConn {
	m := &MultiConn{ready: make(chan *pathReader, 4), done: make(chan struct{})}
	paths := []*connPath{m.newPath(primary, "")}
	m.paths.Store(&paths)
	m.startReader(paths[0])
	return m
}

func (m *MultiConn) newPath(c PacketConn, tag string) *connPath {
	return &connPath{conn: c, tag: tag, rel: reliablePath(c)}
}

// AddPath adds conn as the path tagged tag: its peers are TagAddr(addr, tag). On a closed
// MultiConn it closes conn and returns net.ErrClosed.
func (m *MultiConn) AddPath(conn PacketConn, tag string) error {
	m.addMu.Lock()
	defer m.addMu.Unlock()
	select {
	case <-m.done:
		conn.Close()
		return net.ErrClosed
	default:
	}
	old := *m.paths.Load()
	if tag == "" {
		return ErrPathTag
	}
	for _, p := range old {
		if p.tag == tag {
			return ErrPathTag
		}
	}
	p := m.newPath(conn, tag)
	paths := append(old[:len(old):len(old)], p)
	m.paths.Store(&paths)
	m.startReader(p)
	return nil
}

// TagAddr is addr as it appears on the MultiConn path tagged tag (addr itself for "", the
// primary path).
func TagAddr(addr netip.AddrPort, tag string) netip.AddrPort {
	if tag == "" {
		return addr
	}
	return netip.AddrPortFrom(netip.AddrFrom16(addr.Addr().As16()).WithZone(tag), addr.Port())
}

// AddrTag is the tag of the MultiConn path addr belongs to ("" for the primary path).
func AddrTag(addr netip.AddrPort) string { return addr.Addr().Zone() }

// UntagAddr is addr as the network knows it, without its path tag.
func UntagAddr(addr netip.AddrPort) netip.AddrPort {
	if addr.Addr().Zone() == "" {
		return addr
	}
	return netip.AddrPortFrom(addr.Addr().WithZone("").Unmap(), addr.Port())
}

// pathOf returns the path addr is routed to: the one with its tag, or nil.
func pathOf(paths []*connPath, addr netip.AddrPort) *connPath {
	tag := addr.Addr().Zone()
	if tag == "" {
		return paths[0]
	}
	for _, p := range paths[1:] {
		if p.tag == tag {
			return p
		}
	}
	return nil
}

func (m *MultiConn) startReader(p *connPath) {
	// Lending is safe here: the reader reads again only once ReadBatch or LendBatch is done with
	// the batch (next).
	r := &pathReader{path: p, next: make(chan struct{}, 1)}
	r.read, r.msgs = batchio.BatchReader(p.conn, multiReadBatch, rxBufSize)
	m.wg.Add(1)
	go m.read(r)
}

// read is one conn's reader goroutine.
func (m *MultiConn) read(r *pathReader) {
	defer m.wg.Done()
	primary := r.path.tag == ""
	for {
		n, err := r.read(r.msgs)
		if n > 0 {
			r.path.countRead(r.msgs[:n])
			r.tag(n)
			select {
			case m.ready <- r:
			case <-m.done:
				return
			}
			select {
			case <-r.next:
			case <-m.done:
				return
			}
		}
		if err == nil {
			continue
		}
		select {
		case <-m.done:
			return
		default:
		}
		if !primary || errors.Is(err, net.ErrClosed) {
			// A secondary path that ended (or any path closed under us) is dropped from the
			// union; the primary's transient errors (ICMP-induced refusals) are not an end.
			r.path.ended.Store(true)
			return
		}
	}
}

// packetsIn counts the packets and bytes of msgs, each GSO/GRO segment a packet.
func packetsIn(msgs []batchio.Message) (packets, bytes uint64) {
	for i := range msgs {
		m := &msgs[i]
		bytes += uint64(m.N)
		if m.Seg > 0 && m.N > m.Seg {
			packets += uint64((m.N + m.Seg - 1) / m.Seg)
		} else {
			packets++
		}
	}
	return packets, bytes
}

// countRead adds a read batch to the path's counters.
func (p *connPath) countRead(msgs []batchio.Message) {
	pk, b := packetsIn(msgs)
	p.rxPackets.Add(pk)
	p.rxBytes.Add(b)
}

// countWrite adds a written run to the path's counters.
func (p *connPath) countWrite(msgs []batchio.Message) {
	pk, b := packetsIn(msgs)
	p.txPackets.Add(pk)
	p.txBytes.Add(b)
}

// TaggedTraffic sums what the tagged (non-primary) paths carried: packets and bytes received
// and sent. The engine's own counters hold every path; a node subtracts this from them to
// report its UDP and WebSocket traffic apart.
func (m *MultiConn) TaggedTraffic() (rxPackets, rxBytes, txPackets, txBytes uint64) {
	for _, p := range (*m.paths.Load())[1:] {
		rxPackets += p.rxPackets.Load()
		rxBytes += p.rxBytes.Load()
		txPackets += p.txPackets.Load()
		txBytes += p.txBytes.Load()
	}
	return
}

// tag rewrites the source addresses of r.msgs[:n] to the path's tagged form.
func (r *pathReader) tag(n int) {
	r.n, r.off = n, 0
	if r.path.tag == "" {
		return
	}
	for i := range r.msgs[:n] {
		a := r.msgs[i].Addr
		if a != r.raw {
			r.raw, r.tagged = a, TagAddr(a, r.path.tag)
		}
		r.msgs[i].Addr = r.tagged
	}
}

// ReadBatch blocks until some path has read packets and copies them into msgs (whose buffers
// must hold 64 KiB, as the engine's do). After Close it returns net.ErrClosed.
func (m *MultiConn) ReadBatch(msgs []batchio.Message) (int, error) {
	return m.take(msgs, false)
}

// LendBatch is ReadBatch without the copy (batchio.BatchLender): each Message's Buf is the
// packet in its path reader's buffer (or in what the path lent that reader), N long, the
// caller's until its next ReadBatch or LendBatch, which hands the batch back to its reader. The
// engine's RX loop reads this way, so that the union of paths costs no copy per packet.
func (m *MultiConn) LendBatch(msgs []batchio.Message) (int, error) {
	return m.take(msgs, true)
}

func (m *MultiConn) take(msgs []batchio.Message, lend bool) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if r := m.lent; r != nil { // the caller is done with what the last lend handed out
		m.lent = nil
		r.next <- struct{}{}
	}
	if m.cur == nil {
		select {
		case m.cur = <-m.ready:
		case <-m.done:
			return 0, net.ErrClosed
		}
	}
	r := m.cur
	k := 0
	for ; k < len(msgs) && r.off < r.n; k++ {
		src, dst := &r.msgs[r.off], &msgs[k]
		dst.Seg, dst.Addr = src.Seg, src.Addr
		if lend {
			dst.Buf, dst.N = src.Buf[:src.N:src.N], src.N
		} else {
			dst.N = copy(dst.Buf[:cap(dst.Buf)], src.Buf[:src.N])
			if dst.N < src.N {
				dst.Seg = 0 // cut short: at least the datagrams it holds whole stay apart
			}
		}
		r.off++
	}
	if r.off == r.n {
		m.cur = nil
		if lend {
			m.lent = r
		} else {
			r.next <- struct{}{}
		}
	}
	return k, nil
}

// WriteBatch sends each message over the path its address is tagged with, under the plain
// address. A write to a path that ended, or to a tag with no path, is dropped and counted, as
// the network drops a datagram; an error of a secondary path is not returned either (it must
// not cost the rest of the batch). The primary path's errors are returned with the index of
// the message they concern, as batchio.Conn's (a *batchio.SizeError in particular).
func (m *MultiConn) WriteBatch(msgs []batchio.Message) (int, error) {
	paths := *m.paths.Load()
	for off := 0; off < len(msgs); {
		p := pathOf(paths, msgs[off].Addr)
		end := off + 1
		for end < len(msgs) && pathOf(paths, msgs[end].Addr) == p {
			end++
		}
		run := msgs[off:end]
		switch {
		case p == nil || p.ended.Load():
			m.drops.Add(uint64(len(run)))
		case p.tag == "":
			if n, err := p.conn.WriteBatch(run); err != nil {
				return off + n, err
			}
		default:
			for i := range run {
				run[i].Addr = UntagAddr(run[i].Addr)
			}
			if _, err := p.conn.WriteBatch(run); err != nil {
				m.drops.Add(uint64(len(run)))
			} else {
				p.countWrite(run)
			}
			for i := range run {
				run[i].Addr = TagAddr(run[i].Addr, p.tag)
			}
		}
		off = end
	}
	return len(msgs), nil
}

// PathReliable reports whether the path addr is routed to is reliable and ordered.
func (m *MultiConn) PathReliable(addr netip.AddrPort) bool {
	p := pathOf(*m.paths.Load(), addr)
	return p != nil && p.rel != nil
}

// Routes reports whether addr's tag names one of the paths (an untagged address always does).
func (m *MultiConn) Routes(addr netip.AddrPort) bool { return pathOf(*m.paths.Load(), addr) != nil }

// Reliable reports false: the union is not one reliable path; the engine asks PathReliable.
func (m *MultiConn) Reliable() bool { return false }

// MaxPacket is the smallest largest packet of the reliable paths (64 KiB with none yet), the
// size the engine's sessions use on them.
func (m *MultiConn) MaxPacket() int {
	n := 64 << 10
	for _, p := range *m.paths.Load() {
		if p.rel != nil {
			n = min(n, p.rel.MaxPacket())
		}
	}
	return n
}

// Writable is the reliable path's Writable for addr; a datagram path has no budget to ask
// (congestion control paces it), and a path that ended or is unknown takes nothing.
func (m *MultiConn) Writable(addr netip.AddrPort) int {
	p := pathOf(*m.paths.Load(), addr)
	switch {
	case p == nil || p.ended.Load():
		return 0
	case p.rel == nil:
		return math.MaxInt32
	}
	return p.rel.Writable(UntagAddr(addr))
}

// GSO reports whether the primary path takes GSO super-packets (the others split them).
func (m *MultiConn) GSO() bool {
	g, ok := (*m.paths.Load())[0].conn.(gsoConn)
	return ok && g.GSO()
}

// MaxGSOSegments is the primary path's.
func (m *MultiConn) MaxGSOSegments() int {
	if g, ok := (*m.paths.Load())[0].conn.(gsoConn); ok {
		return g.MaxGSOSegments()
	}
	return 1
}

// GRO reports whether the primary path may return GRO-coalesced reads.
func (m *MultiConn) GRO() bool {
	g, ok := (*m.paths.Load())[0].conn.(groConn)
	return ok && g.GRO()
}

// LocalAddr is the primary path's local address.
func (m *MultiConn) LocalAddr() netip.AddrPort { return (*m.paths.Load())[0].conn.LocalAddr() }

// Paths returns the tags of the paths ("" first, the primary) and whether each has ended.
func (m *MultiConn) Paths() (tags []string, ended []bool) {
	for _, p := range *m.paths.Load() {
		tags = append(tags, p.tag)
		ended = append(ended, p.ended.Load())
	}
	return tags, ended
}

// Dropped counts datagrams written to a path that had ended or did not exist.
func (m *MultiConn) Dropped() uint64 { return m.drops.Load() }

// Close closes every path and waits for their readers; it returns the primary's error.
func (m *MultiConn) Close() error {
	m.closeOnce.Do(func() {
		m.addMu.Lock()
		close(m.done)
		paths := *m.paths.Load()
		m.addMu.Unlock()
		for i, p := range paths {
			if err := p.conn.Close(); i == 0 && err != nil && !errors.Is(err, net.ErrClosed) {
				m.closeErr = err
			}
		}
		m.wg.Wait()
	})
	return m.closeErr
}
