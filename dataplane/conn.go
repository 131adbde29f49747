package dataplane

import (
	"net/netip"
	"sync"

	"github.com/sttfast/sttfast/batchio"
)

// PacketConn is the path an engine moves packets over (see batchio.PacketConn): the RX loop
// reads and the TX loop writes, each from one goroutine.
type PacketConn = batchio.PacketConn

// gsoConn is implemented by paths that accept GSO super-packets (Message.Seg > 0).
type gsoConn interface {
	GSO() bool
	MaxGSOSegments() int
}

// groConn is implemented by paths that may return GRO-coalesced reads.
type groConn interface{ GRO() bool }

// MaxHandshakeSize bounds a handshake datagram; larger ones are dropped before any work.
const MaxHandshakeSize = 2048

// Datagram is a pooled copy of one handshake datagram, the unit that travels between the data
// plane and the control plane. Handshakes are rare and may use the pool's slow path.
type Datagram struct {
	buf  [MaxHandshakeSize]byte
	N    int
	Addr netip.AddrPort
	// Engine is the engine that received it, or that must send it.
	Engine *Engine
}

var datagramPool = sync.Pool{New: func() any { return new(Datagram) }}

// NewDatagram returns an empty datagram from the pool.
func NewDatagram() *Datagram { return datagramPool.Get().(*Datagram) }

// Bytes returns the datagram's contents.
func (d *Datagram) Bytes() []byte { return d.buf[:d.N] }

// Buffer returns the whole backing array for building a datagram in place.
func (d *Datagram) Buffer() []byte { return d.buf[:0:MaxHandshakeSize] }

// Free returns the datagram to the pool; it must not be used afterwards.
func (d *Datagram) Free() {
	d.N = 0
	d.Engine = nil
	datagramPool.Put(d)
}
