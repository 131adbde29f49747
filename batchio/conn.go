package batchio

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

const (
	// DefaultBatchSize is the number of messages per system call when
	// Options.BatchSize is 0: large enough to amortise the syscall, small
	// enough that a batch of 64 KiB GRO buffers fits in a few MiB.
	DefaultBatchSize = 64
	// MaxBatchSize caps Options.BatchSize; the kernel caps the vector of
	// recvmmsg/sendmmsg at UIO_MAXIOV (1024) anyway.
	MaxBatchSize = 1024
	// MaxSegments is the most datagrams one GSO send may carry (the
	// kernel's UDP_MAX_SEGMENTS; newer kernels accept more, 64 is safe
	// everywhere). GRO coalesces at most as many.
	MaxSegments = 64
	// GROBufferSize is the smallest read buffer that can hold any GRO
	// coalesced receive (a UDP payload is at most 65535 bytes).
	GROBufferSize = 64 << 10
	// maxPollBatch is the size of TryReadBatch's header set: a poller wants what one exchange
	// brings, not a bulk batch.
	maxPollBatch = 8
)

// Largest UDP payload one send can carry: 65535 minus the IP and UDP
// headers. A GSO send is a single UDP payload to the kernel, so the same
// limit bounds the sum of its segments.
const (
	maxPayload4 = 65535 - 20 - 8
	maxPayload6 = 65535 - 8
)

var (
	errBadLength = errors.New("batchio: Message.N is negative or exceeds len(Buf)")
	errBadAddr   = errors.New("batchio: Message.Addr is not a valid address")
	errFamily    = errors.New("batchio: IPv6 destination on an IPv4 socket")
	errNilConn   = errors.New("batchio: nil *net.UDPConn")
)

// Options configures a Conn. The zero value is a sensible default:
// kernel buffer sizes, GSO and GRO where the kernel supports them, 64
// messages per system call.
type Options struct {
	// ReusePort sets SO_REUSEPORT before bind (Listen only), so several
	// sockets, one per core, can share a port and let the kernel spread
	// flows across them.
	ReusePort bool
	// RecvBuffer and SendBuffer set SO_RCVBUF/SO_SNDBUF in bytes (0 keeps
	// the default). The FORCE variants are tried first so that privileged
	// processes are not capped by net.core.rmem_max/wmem_max; see
	// Conn.Buffers for the values that took effect.
	RecvBuffer, SendBuffer int
	// DisableGSO and DisableGRO turn the offloads off even where the
	// kernel supports them, e.g. for small read buffers or for comparison.
	DisableGSO, DisableGRO bool
	// BatchSize is the maximum number of messages per system call
	// (default DefaultBatchSize, at most MaxBatchSize). It sizes the
	// preallocated header arrays.
	BatchSize int
}

// Conn is a UDP socket with batched, allocation-free reads and writes.
// One goroutine may read while another writes; see the package comment.
type Conn struct {
	uc     *net.UDPConn
	local  netip.AddrPort
	batch  int
	closed atomic.Bool
	gso    atomic.Bool
	gro    atomic.Bool
	// Effective kernel buffer sizes, read back after setting them.
	recvBuf, sendBuf int
	peer             peerHook // see SetPeerErrorHandler
	sys              sysConn
}

// Listen opens a UDP socket on address ("udp", "udp4" or "udp6") with the
// options applied, SO_REUSEPORT before bind, the rest after.
func Listen(network, address string, o Options) (*Conn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	var lc net.ListenConfig
	if o.ReusePort {
		ctl, err := reusePortControl()
		if err != nil {
			return nil, err
		}
		lc.Control = ctl
	}
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	c, err := NewConn(uc, o)
	if err != nil {
		uc.Close()
		return nil, err
	}
	return c, nil
}

// NewConn wraps an existing UDP socket and takes ownership of it (Close
// closes it). Options.ReusePort has no effect here: the socket is already
// bound. On error uc is left open.
func NewConn(uc *net.UDPConn, o Options) (*Conn, error) {
	if uc == nil {
		return nil, errNilConn
	}
	batch := o.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	batch = min(batch, MaxBatchSize)
	c := &Conn{uc: uc, batch: batch}
	if ua, ok := uc.LocalAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		c.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if err := c.init(o); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadBatch blocks until at least one datagram arrives, then fills N,
// Addr and Seg of msgs[:n] (at most the batch size) and returns n. It does
// not allocate. A datagram longer than its Buf is truncated, as with any
// UDP read. After Close it returns net.ErrClosed; a read deadline set on
// the Conn yields an error matching os.ErrDeadlineExceeded.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	return c.readBatch(msgs)
}

// TryReadBatch is ReadBatch that never waits: it returns 0 and no error when no datagram is
// queued. It exists for a goroutine that polls the socket beside a ReadBatch parked in the
// netpoller (a reader of a request/response exchange that would otherwise be woken by the
// goroutine that reads): it has a header set of its own, at most 8 messages, and does not take
// the socket's read lock, so it may run while a ReadBatch waits, but not in two goroutines at
// once. Both may receive parts of what arrives, in either order. It does not allocate. Off
// Linux (and with the batchio_portable tag) it always returns 0: there is no portable
// non-blocking read.
func (c *Conn) TryReadBatch(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	return c.tryReadBatch(msgs)
}

// WriteBatch sends the datagrams of all msgs, blocking (parked in the
// netpoller) while the socket buffer is full, and does not allocate. It
// returns the number of Messages fully sent; on error that is the index of
// the Message that failed, which may have been partly sent (some of its
// datagrams). Messages are validated before anything is sent.
func (c *Conn) WriteBatch(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	for i := range msgs {
		m := &msgs[i]
		if m.N < 0 || m.N > len(m.Buf) {
			return 0, errBadLength
		}
		if !m.Addr.IsValid() {
			return 0, errBadAddr
		}
	}
	return c.writeBatch(msgs)
}

// GSO reports whether writes currently use UDP segmentation offload. It
// can turn false at run time if the kernel refuses GSO for a route.
func (c *Conn) GSO() bool { return c.gso.Load() }

// GRO reports whether reads currently accept coalesced datagrams. It can
// turn false if ReadBatch is given buffers smaller than GROBufferSize.
func (c *Conn) GRO() bool { return c.gro.Load() }

// MaxGSOSegments returns how many datagrams one send can carry: the
// kernel limit MaxSegments while GSO is on, 1 otherwise. The total of one
// send is also bounded by the largest UDP payload (65507 bytes over IPv4,
// 65527 over IPv6); WriteBatch enforces both by splitting.
func (c *Conn) MaxGSOSegments() int {
	if c.gso.Load() {
		return MaxSegments
	}
	return 1
}

// BatchSize returns the maximum number of messages moved per system call.
func (c *Conn) BatchSize() int { return c.batch }

// Buffers returns the socket receive and send buffer sizes in effect, as
// read back from the kernel after applying Options (Linux reports twice
// the requested size: the kernel reserves half for bookkeeping).
func (c *Conn) Buffers() (recv, send int) { return c.recvBuf, c.sendBuf }

// LocalAddr returns the bound address, with IPv4-mapped addresses
// unmapped.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// UDPConn returns the underlying socket, e.g. for socket options this
// package does not cover. Reading or writing it directly bypasses the
// batch machinery but is safe, except that after a [Conn.HoldReadWakes] a
// direct write that finds the socket buffer full is not woken until a
// WriteBatch has also found it full (EPOLLOUT is off until then).
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// SetReadDeadline bounds blocked and future ReadBatch calls, exactly as
// net.Conn's deadline (it is the socket's deadline).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// SetWriteDeadline bounds blocked and future WriteBatch calls.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// Close closes the socket; blocked and later ReadBatch/WriteBatch calls
// return net.ErrClosed. Closing twice returns net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	return c.uc.Close()
}

// mapErr turns the poller's "use of closed network connection" into the
// plain net.ErrClosed sentinel so callers need not unwrap OpErrors, and
// passes other errors (deadlines) through with their context.
func mapErr(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	return err
}
