package peerbench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
)

// tcpCeiling is what one plain TCP connection over loopback carries: the application's bytes
// with no crypto and no framing (the receiver reads a byte stream), so it is the limit of a TCP
// path as udp-ceiling is of a UDP one; sttfast over WebSocket runs on such a connection. It runs
// through the generic stream workloads (every byte verified at the receiver like everyone's)
// and the ping-pong, where it is the floor. In the stream workloads the sender coalesces
// messages into 64 KiB writes (bulk's 64 KiB messages go out as they are), as udp-ceiling moves
// full datagrams whatever the message size: message workloads are counted in bytes (msg/s =
// goodput / message size), the ceiling being the path's, not one syscall per small message's.
type tcpCeiling struct{}

func (t *tcpCeiling) Name() string { return "tcp-ceiling" }

func (t *tcpCeiling) Class() Class { return classCeiling }

func (t *tcpCeiling) Describe() string {
	return "one net.TCPConn per receiver over loopback with Go's defaults (TCP_NODELAY on, kernel-tuned socket buffers); stream workloads coalesce the messages into 64 KiB Writes (bufio.Writer; bulk's 64 KiB messages are written as they are), ping-pong writes each 64-byte message at once; the receiver reads up to 64 KiB per Read (byte stream); no crypto, no framing, no application flow control; every byte verified at the receiver"
}

func (t *tcpCeiling) Supports(w Workload) bool {
	return w.Kind == kindStream && w.Name != "bulk10s" || w.Kind == kindRTT
}

func (t *tcpCeiling) Available() error { return nil }

func (t *tcpCeiling) MessageOriented() bool { return false }

func (t *tcpCeiling) Listen(ctx context.Context, e *Env, n int) (server, error) {
	srv := &tcpServer{acceptQueue: newAcceptQueue(n)}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", e.O.bindAddr())
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		srv.lns = append(srv.lns, ln)
		srv.addrs = append(srv.addrs, ln.Addr().String())
		go srv.acceptOne(ln)
	}
	return srv, nil
}

type tcpServer struct {
	lns       []net.Listener
	mu        sync.Mutex
	conns     []net.Conn
	closeOnce sync.Once
	acceptQueue
}

func (srv *tcpServer) acceptOne(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		srv.deliver(nil, err)
		return
	}
	srv.mu.Lock()
	srv.conns = append(srv.conns, c)
	srv.mu.Unlock()
	srv.deliver(&tcpConn{c: c.(*net.TCPConn)}, nil)
}

func (srv *tcpServer) Close() error {
	srv.closeOnce.Do(func() {
		for _, ln := range srv.lns {
			ln.Close()
		}
		srv.mu.Lock()
		for _, c := range srv.conns {
			c.Close()
		}
		srv.mu.Unlock()
	})
	return nil
}

func (t *tcpCeiling) Dial(ctx context.Context, e *Env, addrs []string) (client, error) {
	cl := &tcpClient{}
	var d net.Dialer
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("dial %s: %w", a, err)
		}
		tc := &tcpConn{c: c.(*net.TCPConn)}
		if e.W.Kind == kindStream {
			tc.w = bufio.NewWriterSize(tc.c, tcpCoalesce)
		}
		cl.tcps = append(cl.tcps, tc)
		cl.conns = append(cl.conns, tc)
	}
	return cl, nil
}

type tcpClient struct {
	tcps  []*tcpConn
	conns []conn
}

func (cl *tcpClient) Conns() []conn { return cl.conns }

func (cl *tcpClient) Close() error {
	for _, c := range cl.tcps {
		c.c.Close()
	}
	return nil
}

// tcpCoalesce is the write size of the stream workloads.
const tcpCoalesce = 64 << 10

type tcpConn struct {
	c *net.TCPConn
	w *bufio.Writer // nil: each message written at once
}

func (c *tcpConn) WriteMsg(p []byte) error {
	if c.w != nil {
		_, err := c.w.Write(p)
		return err
	}
	_, err := c.c.Write(p)
	return err
}

func (c *tcpConn) ReadData(buf []byte) ([]byte, error) { return readSome(c.c, buf) }

func (c *tcpConn) Close() error {
	if c.w != nil {
		c.w.Flush()
	}
	return c.c.CloseWrite()
}
