//go:build !batchio_portable

package batchio

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Go runtime registers every socket in its epoll set for EPOLLIN, EPOLLOUT, EPOLLRDHUP,
// edge-triggered, and a thread of the runtime waits in epoll_pwait whenever a P is idle. Each
// datagram that arrives wakes that thread, and so does each datagram sent (the kernel reports
// write space, EPOLLOUT, when the sent buffer is freed), even when a poller (TryReadBatch) takes
// the datagram itself and nobody waits to write. On a small VM those wake-ups, not the work, are
// most of a request/response round trip (profiles/README.md, "Round trip, piece by piece").
//
// HoldReadWakes and ReleaseReadWakes change the socket's registration in the runtime's own epoll
// set (EPOLL_CTL_MOD, found through /proc/self/fdinfo, with the runtime's data word unchanged):
// while held, the mask is empty (errors and hangups are always reported) and a ReadBatch parked
// in the netpoller is not woken; released, the mask is EPOLLIN|EPOLLRDHUP, and the kernel
// re-checks readiness at once, so a datagram that came while held wakes the parked reader then.
// EPOLLOUT stays out of the mask until a WriteBatch finds the socket buffer full: it puts
// EPOLLOUT back for good before it parks. The runtime itself never modifies a registration (it
// only adds and deletes them), so it never sees the change except as fewer events.

// runtimeEpollMask is what the Go runtime registers a socket with (internal/poll's
// netpollopen): the only mask the reader-wake hold will take over.
const runtimeEpollMask = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// epollReg is a socket's registration in the runtime's epoll set, once found.
type epollReg struct {
	mu       sync.Mutex
	searched bool   // find ran (once per Conn: not found stays not found)
	found    bool   // the registration was found and has the runtime's mask
	epfd     int    // the runtime's epoll fd
	data     uint64 // the runtime's data word for the socket (its pollDesc, tagged)
	holds    int    // HoldReadWakes not yet released
	mask     uint32 // the mask now registered
	want     uint32 // the mask modFn registers
	err      error
	modFn    func(fd uintptr) // r.mod, bound once so rc.Control does not allocate
	// outBack: a WriteBatch parked on a full buffer, so EPOLLOUT stays in the mask. Atomic
	// because a WriteBatch reads it without the lock.
	outBack atomic.Bool
}

// find looks for the socket fd in the epoll sets of this process and keeps the one registered
// with the runtime's mask. It runs once per Conn, at its first hold.
func (r *epollReg) find(fd int) {
	dir, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, de := range dir {
		if link, _ := os.Readlink("/proc/self/fd/" + de.Name()); link != "anon_inode:[eventpoll]" {
			continue
		}
		epfd, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		if mask, data, ok := scanEpollInfo("/proc/self/fdinfo/"+de.Name(), fd); ok {
			if mask&^(unix.EPOLLERR|unix.EPOLLHUP) == runtimeEpollMask {
				r.found, r.epfd, r.data, r.mask = true, epfd, data, runtimeEpollMask
			}
			return
		}
	}
}

// scanEpollInfo reads an epoll fd's fdinfo file and returns the registration of fd in it.
func scanEpollInfo(path string, fd int) (mask uint32, data uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if tfd, m, d, lineOK := parseEpollTarget(sc.Text()); lineOK && tfd == fd {
			return m, d, true
		}
	}
	return 0, 0, false
}

// parseEpollTarget parses one target line of an epoll fd's fdinfo
// ("tfd:        5 events: 8000201d data: 3f980b21a0000002  pos:0 ino:... sdev:..."),
// the kernel's format since Linux 3.8: fields are name-colon-value, values of events and
// data in hex.
func parseEpollTarget(line string) (tfd int, mask uint32, data uint64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "tfd:" || f[2] != "events:" || f[4] != "data:" {
		return 0, 0, 0, false
	}
	t, err1 := strconv.ParseUint(f[1], 10, 31)
	m, err2 := strconv.ParseUint(f[3], 16, 32)
	d, err3 := strconv.ParseUint(f[5], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return int(t), uint32(m), d, true
}

// mod registers r.want for fd in the runtime's epoll set. rc.Control callback: the fd cannot
// be closed (and its number reused) under it.
func (r *epollReg) mod(fd uintptr) {
	var ev unix.EpollEvent
	ev.Events = r.want
	// EpollEvent's Fd and Pad are the 8-byte data union the runtime filled.
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = r.data
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev); err != nil {
		r.err = err
		return
	}
	r.mask = r.want
}

// wanted is the mask for the current holds and writers.
func (r *epollReg) wanted() uint32 {
	m := uint32(unix.EPOLLET)
	if r.holds == 0 {
		m |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if r.outBack.Load() {
		m |= unix.EPOLLOUT
	}
	return m
}

// HoldReadWakes stops the runtime's netpoller from being woken by this socket's readiness
// until ReleaseReadWakes, for a goroutine that reads the socket itself (TryReadBatch) and
// would otherwise wake the thread of a parked ReadBatch for each datagram it takes, and for
// each one it sends. Holds nest (one release per hold). It reports whether the hold is in
// effect: false when the registration cannot be changed (not found, not the runtime's usual
// mask, the Conn closed), and then the socket's wake-ups are as before. It does not allocate
// after the first call. See wakes_linux.go.
func (c *Conn) HoldReadWakes() bool {
	r := &c.sys.wakes
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.searched {
		c.findReg(r)
	}
	if !r.found || r.err != nil {
		return false
	}
	r.holds++
	c.applyWakes(r)
	return r.err == nil
}

// ReleaseReadWakes ends a HoldReadWakes: with no hold left, a datagram that arrived meanwhile
// wakes a parked ReadBatch at once.
func (c *Conn) ReleaseReadWakes() {
	r := &c.sys.wakes
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.found || r.holds == 0 {
		return
	}
	r.holds--
	c.applyWakes(r)
}

// wantWriteWakes puts EPOLLOUT back into a changed registration before a WriteBatch parks on
// a full socket buffer (it stays: bulk senders need it, and they do not poll). Called in the
// RawConn.Write callback, which holds the fd; the kernel re-checks readiness, so space freed
// in the meantime wakes the writer at once.
// The first full buffer of a Conn takes the lock even when no hold ever changed the
// registration, so a hold that begins while this writer parks keeps EPOLLOUT in the mask.
func (r *epollReg) wantWriteWakes(fd uintptr) {
	if r.outBack.Load() {
		return // already back
	}
	r.mu.Lock()
	r.outBack.Store(true)
	if r.found {
		if r.want = r.wanted(); r.want != r.mask {
			r.mod(fd)
		}
	}
	r.mu.Unlock()
}

// findReg finds the registration of c's socket once. r.mu held.
func (c *Conn) findReg(r *epollReg) {
	r.searched = true
	r.modFn = r.mod
	fd := -1
	if err := c.sys.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		r.err = err
		return
	}
	r.find(fd)
}

// applyWakes registers the mask for the current holds. r.mu held.
func (c *Conn) applyWakes(r *epollReg) {
	if r.want = r.wanted(); r.want == r.mask {
		return
	}
	if err := c.sys.rc.Control(r.modFn); err != nil {
		r.err = err
	}
}
