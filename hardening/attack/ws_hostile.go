package attack

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// WSTarget is a WebSocket listener under attack: its TCP address and request path.
type WSTarget struct {
	Addr netip.AddrPort
	Path string
}

// WSAttackReport is what one WebSocket attack did and what the listener answered, as the
// attacker saw it.
type WSAttackReport struct {
	Conns    int64            // TCP connections opened
	Upgrades int64            // of which upgraded (101)
	Bytes    int64            // bytes the attacker sent
	Statuses map[int]int64    // HTTP statuses of refused upgrades
	Closes   map[uint16]int64 // close codes of the close frames received
	Ended    int64            // connections the listener ended (EOF or reset seen)
	// MinLife is the shortest time a connection lived from connect to the listener's close
	// (slowloris: never below the upgrade deadline).
	MinLife time.Duration
	Elapsed time.Duration
}

// wsTally collects a report from concurrent attack workers.
type wsTally struct {
	mu                             sync.Mutex
	rep                            WSAttackReport
	conns, upgrades, bytes, nEnded atomic.Int64
}

func newWSTally() *wsTally {
	return &wsTally{rep: WSAttackReport{Statuses: map[int]int64{}, Closes: map[uint16]int64{}}}
}

func (t *wsTally) status(s int) {
	t.mu.Lock()
	t.rep.Statuses[s]++
	t.mu.Unlock()
}

func (t *wsTally) close(code uint16) {
	t.mu.Lock()
	t.rep.Closes[code]++
	t.mu.Unlock()
}

func (t *wsTally) ended(life time.Duration) {
	t.nEnded.Add(1)
	t.mu.Lock()
	if t.rep.MinLife == 0 || life < t.rep.MinLife {
		t.rep.MinLife = life
	}
	t.mu.Unlock()
}

// writeUntilClosed writes chunk to nc again and again until ctx ends or the write fails,
// counting the bytes, and records the connection's life when the node (not we) ended it.
func (t *wsTally) writeUntilClosed(ctx context.Context, nc net.Conn, chunk []byte) {
	born := time.Now()
	for ctx.Err() == nil {
		n, err := nc.Write(chunk)
		t.bytes.Add(int64(n))
		if err != nil {
			if !isClosedByUs(err) {
				t.ended(time.Since(born))
			}
			return
		}
	}
}

func (t *wsTally) report(start time.Time) WSAttackReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rep
	r.Conns, r.Upgrades, r.Bytes, r.Ended = t.conns.Load(), t.upgrades.Load(), t.bytes.Load(), t.nEnded.Load()
	r.Elapsed = time.Since(start)
	return r
}

// runWorkers runs fn in n goroutines, each looping until ctx ends (or fn says stop), and
// returns the tally.
func runWorkers(ctx context.Context, n int, fn func(ctx context.Context, worker int, t *wsTally) bool) WSAttackReport {
	start := time.Now()
	t := newWSTally()
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && fn(ctx, w, t) {
			}
		}()
	}
	wg.Wait()
	return t.report(start)
}

// wsDial opens a TCP connection to the target; it is closed when ctx ends, so that no read
// of the attack outlives it.
func (tg WSTarget) wsDial(ctx context.Context, t *wsTally) (net.Conn, func(), error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", tg.Addr.String())
	if err != nil {
		return nil, nil, err
	}
	t.conns.Add(1)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	return nc, func() { stop(); nc.Close() }, nil
}

// upgradeRequest is a valid upgrade request for the target's path.
func (tg WSTarget) upgradeRequest() string {
	return "GET " + tg.Path + " HTTP/1.1\r\nHost: " + tg.Addr.String() + "\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// wsUpgrade opens a connection and upgrades it, returning it with its reader.
func (tg WSTarget) wsUpgrade(ctx context.Context, t *wsTally) (net.Conn, *bufio.Reader, func(), error) {
	nc, done, err := tg.wsDial(ctx, t)
	if err != nil {
		return nil, nil, nil, err
	}
	req := tg.upgradeRequest()
	if _, err := io.WriteString(nc, req); err != nil {
		done()
		return nil, nil, nil, err
	}
	t.bytes.Add(int64(len(req)))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.status(resp.StatusCode)
		done()
		return nil, nil, nil, fmt.Errorf("upgrade refused: %d", resp.StatusCode)
	}
	t.upgrades.Add(1)
	return nc, br, done, nil
}

// readUntilEnd reads what the listener sends until it closes the connection, noting the HTTP
// status of a refusal (when status is set) and the connection's life.
func readUntilEnd(nc net.Conn, br *bufio.Reader, born time.Time, t *wsTally, status bool) {
	if status {
		if resp, err := http.ReadResponse(br, nil); err == nil {
			t.status(resp.StatusCode)
		}
	}
	if _, err := io.Copy(io.Discard, br); err == nil || !isClosedByUs(err) {
		t.ended(time.Since(born))
	}
}

// isClosedByUs reports whether err comes from our own Close (the attack's end), not the peer's.
func isClosedByUs(err error) bool { return errors.Is(err, net.ErrClosed) }

// readClose reads frames until the listener's close frame and returns its code (0: none came
// before the connection ended).
func readClose(br *bufio.Reader) uint16 {
	for {
		h, err := ws.ReadHeader(br)
		if err != nil || h.Length > 1<<20 {
			return 0
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return 0
		}
		if h.OpCode == ws.OpClose {
			if len(p) < 2 {
				return uint16(ws.StatusNoStatusRcvd)
			}
			return binary.BigEndian.Uint16(p)
		}
	}
}

// WSGarbage sends seeded random bytes instead of an HTTP request, on connection after
// connection from workers goroutines, until ctx ends: each gets up to 4 KiB of garbage, then
// reads the listener's answer (an HTTP error) until it closes.
func WSGarbage(ctx context.Context, tg WSTarget, workers int, seed uint64) WSAttackReport {
	return runWorkers(ctx, workers, func(ctx context.Context, w int, t *wsTally) bool {
		rng := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(t.conns.Load())))
		nc, done, err := tg.wsDial(ctx, t)
		if err != nil {
			return ctx.Err() == nil
		}
		defer done()
		born := time.Now()
		b := make([]byte, 1+rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if n, err := nc.Write(b); err == nil {
			t.bytes.Add(int64(n))
		}
		readUntilEnd(nc, bufio.NewReader(nc), born, t, true)
		return true
	})
}

// WSSlowloris opens conns connections that dribble an upgrade request one byte every interval
// and never finish it (after the request line, header lines follow for ever). A connection the
// listener closes is replaced, until ctx ends.
func WSSlowloris(ctx context.Context, tg WSTarget, conns int, interval time.Duration) WSAttackReport {
	return runWorkers(ctx, conns, func(ctx context.Context, _ int, t *wsTally) bool {
		born := time.Now() // before the connect: the listener's clock for it starts later
		nc, done, err := tg.wsDial(ctx, t)
		if err != nil {
			return ctx.Err() == nil
		}
		defer done()
		ended := make(chan struct{})
		go func() { // the listener's close shows as EOF here
			readUntilEnd(nc, bufio.NewReader(nc), born, t, false)
			close(ended)
		}()
		req := "GET " + tg.Path + " HTTP/1.1\r\nHost: slow\r\n"
		tick := time.NewTicker(interval) // the attack's pace, not a synchronisation
		defer tick.Stop()
		for i := 0; ; i++ {
			if i == len(req) {
				req += fmt.Sprintf("X-Slow-%d: %d\r\n", i, i)
			}
			if _, err := nc.Write([]byte{req[i]}); err != nil {
				break
			}
			t.bytes.Add(1)
			select {
			case <-tick.C:
				continue
			case <-ended:
			case <-ctx.Done():
			}
			break
		}
		done()
		<-ended
		return true
	})
}

// WSHugeFrame upgrades connection after connection and sends on each the header of a binary
// frame announcing length (2^63−1 for the "2^63 bytes": the largest length RFC 6455
// allows) and a few bytes of payload, then reads the listener's close frame.
func WSHugeFrame(ctx context.Context, tg WSTarget, workers int, length uint64) WSAttackReport {
	hdr := append([]byte{0x82, 0x80 | 127}, binary.BigEndian.AppendUint64(nil, length)...)
	hdr = append(hdr, 1, 2, 3, 4)            // mask key
	hdr = append(hdr, make([]byte, 1024)...) // the first bytes of the "payload"
	return wsFrameAttack(ctx, tg, workers, hdr)
}

// WSUnmasked upgrades connection after connection and sends on each an unmasked binary frame
// (a client must mask, RFC 6455 §5.1), then reads the listener's close frame.
func WSUnmasked(ctx context.Context, tg WSTarget, workers int) WSAttackReport {
	frame := append([]byte{0x82, 64}, make([]byte, 64)...)
	return wsFrameAttack(ctx, tg, workers, frame)
}

// wsFrameAttack upgrades, sends b, counts the close code the listener answers with.
func wsFrameAttack(ctx context.Context, tg WSTarget, workers int, b []byte) WSAttackReport {
	return runWorkers(ctx, workers, func(ctx context.Context, _ int, t *wsTally) bool {
		nc, br, done, err := tg.wsUpgrade(ctx, t)
		if err != nil {
			return ctx.Err() == nil
		}
		defer done()
		born := time.Now()
		if n, err := nc.Write(b); err == nil {
			t.bytes.Add(int64(n))
		}
		if code := readClose(br); code != 0 {
			t.close(code)
		}
		readUntilEnd(nc, br, born, t, false)
		return true
	})
}

// WSPingFlood upgrades conns connections and sends masked pings (125-byte payloads, the most a
// control frame carries) on each as fast as it can, never reading: the pongs pile up at the
// listener. Each connection's receive buffer is made small (rcvbuf bytes) so that they pile up
// sooner. A connection the listener closes is replaced, until ctx ends.
func WSPingFlood(ctx context.Context, tg WSTarget, conns, rcvbuf int) WSAttackReport {
	ping := make([]byte, 0, 2+4+125)
	ping = append(ping, 0x89, 0x80|125, 9, 8, 7, 6)
	ping = append(ping, make([]byte, 125)...)
	chunk := []byte(strings.Repeat(string(ping), 256))
	return runWorkers(ctx, conns, func(ctx context.Context, _ int, t *wsTally) bool {
		var d net.Dialer
		d.Control = func(_, _ string, c syscall.RawConn) error { return setRcvBuf(c, rcvbuf) }
		nc, err := d.DialContext(ctx, "tcp", tg.Addr.String())
		if err != nil {
			return ctx.Err() == nil
		}
		t.conns.Add(1)
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		defer func() { stop(); nc.Close() }()
		if _, err := io.WriteString(nc, tg.upgradeRequest()); err != nil {
			return true
		}
		if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			return true
		}
		t.upgrades.Add(1)
		t.writeUntilClosed(ctx, nc, chunk)
		return true
	})
}

// setRcvBuf sets SO_RCVBUF before connect, so that the window is small from the start.
func setRcvBuf(c syscall.RawConn, n int) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n) })
	return errors.Join(err, serr)
}

// HalfOpen is a set of TCP connections to a listener held open without a finished request:
// raw non-Go sockets (file descriptors), so that holding thousands costs the attacker's process
// no Go heap and the listener's heap can be measured beside them.
type HalfOpen struct {
	fds []int
	// Connected counts the connections that completed the TCP handshake; Partial those that
	// also sent the start of an upgrade request.
	Connected, Partial int
}

// OpenHalfOpen connects n sockets to addr (IPv4) from workers goroutines; every other one sends
// the first line and a header of an upgrade request to path and nothing more. Source addresses
// cycle over 127.0.0.2..127.0.0.17 (IP_BIND_ADDRESS_NO_PORT), so that n is not limited by one
// source address's ephemeral ports (and ports left in TIME_WAIT by earlier runs).
func OpenHalfOpen(ctx context.Context, addr netip.AddrPort, path string, n, workers int) (*HalfOpen, error) {
	if !addr.Addr().Is4() {
		return nil, errors.New("half-open: IPv4 targets only")
	}
	h := &HalfOpen{fds: make([]int, 0, n)}
	partial := []byte("GET " + path + " HTTP/1.1\r\nHost: half-open\r\n")
	dst := unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	var mu sync.Mutex
	var next atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n) && ctx.Err() == nil; i = next.Add(1) - 1 {
				fd, sent, err := halfOpenOne(dst, byte(2+i%16), i%2 == 1, partial)
				mu.Lock()
				if err != nil {
					firstErr = cmpOr(firstErr, err)
				} else {
					h.fds = append(h.fds, fd)
					h.Connected++
					if sent {
						h.Partial++
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		h.Close()
		return nil, fmt.Errorf("half-open connection %d of %d: %w", h.Connected+1, n, firstErr)
	}
	return h, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// halfOpenOne connects one blocking socket from 127.0.0.src and, when send is set, writes
// partial; the socket is left blocking: the attacker never reads or writes it again. dst is
// taken by value: unix.Connect writes its raw form into it.
func halfOpenOne(dst unix.SockaddrInet4, src byte, send bool, partial []byte) (int, bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, src}}); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	if err := unix.Connect(fd, &dst); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	if send {
		if _, err := unix.Write(fd, partial); err != nil {
			unix.Close(fd)
			return -1, false, err
		}
	}
	return fd, send, nil
}

// Close closes every held connection.
func (h *HalfOpen) Close() {
	for _, fd := range h.fds {
		unix.Close(fd)
	}
	h.fds = nil
}

// WSBinaryFlood upgrades conns connections and sends on each masked binary messages of size
// seeded random bytes (packets that are no session's) as fast as it can, never reading. A
// connection the listener closes is replaced, until ctx ends.
func WSBinaryFlood(ctx context.Context, tg WSTarget, conns, size int, seed uint64) WSAttackReport {
	rng := rand.New(rand.NewPCG(seed, 0))
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	var one []byte
	switch {
	case size < 126:
		one = []byte{0x82, 0x80 | byte(size)}
	default:
		one = binary.BigEndian.AppendUint16([]byte{0x82, 0x80 | 126}, uint16(size))
	}
	one = append(one, 0, 0, 0, 0) // a zero mask key: the payload goes as is
	one = append(one, payload...)
	chunk := make([]byte, 0, 64<<10)
	for len(chunk)+len(one) <= cap(chunk) {
		chunk = append(chunk, one...)
	}
	return runWorkers(ctx, conns, func(ctx context.Context, _ int, t *wsTally) bool {
		nc, _, done, err := tg.wsUpgrade(ctx, t)
		if err != nil {
			return ctx.Err() == nil
		}
		defer done()
		t.writeUntilClosed(ctx, nc, chunk)
		return true
	})
}
