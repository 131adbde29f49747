package peerbench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	kcp "github.com/xtaci/kcp-go/v5"
)

// kcpContender is kcp-go tuned for throughput as its documentation and kcptun's "fast3" mode
// recommend: NoDelay(1, 10, 2, 1) (no-delay on, 10 ms update interval, fast resend after 2
// duplicate ACKs, congestion control off), 4096-packet send and receive windows, stream mode,
// write delay off, ACKs sent at once, 8 MiB socket buffers, the same 1200-byte UDP payload as
// sttfast's default, AES-256-GCM (kcp-go's AEAD BlockCrypt) and no FEC. kcp-go's client session
// owns its socket, so a fan-out sender has one socket per receiver.
type kcpContender struct{}

const (
	kcpWindow  = 4096
	kcpMTU     = 1200
	kcpSockBuf = 8 << 20
)

func (k *kcpContender) Name() string { return "kcp-go" }

func (k *kcpContender) Class() Class { return classPeer }

func (k *kcpContender) Describe() string {
	return fmt.Sprintf("kcp-go v5.7.5, AES-256-GCM via kcp.NewAESGCMCrypt, no FEC (0 data, 0 parity shards), NoDelay(1, 10, 2, 1), SetWindowSize(%d, %d), SetMtu(%d), SetStreamMode(true), SetWriteDelay(false), SetACKNoDelay(true), SetReadBuffer/SetWriteBuffer(%d MiB) on sessions and listeners; one socket per client session; the receiver reads up to 64 KiB per Read (byte stream)",
		kcpWindow, kcpWindow, kcpMTU, kcpSockBuf>>20)
}

func (k *kcpContender) Supports(w Workload) bool {
	return w.Kind == kindStream && w.Name != "bulk10s" || w.Kind == kindRTT || w.Kind == kindFanout
}

func (k *kcpContender) Available() error { return nil }

func (k *kcpContender) MessageOriented() bool { return false }

func kcpBlock(e *Env) (kcp.BlockCrypt, error) {
	key := sha256.Sum256(append([]byte("peerbench kcp "), e.O.Secret...))
	return kcp.NewAESGCMCrypt(key[:])
}

// kcpTune applies the throughput settings to one session.
func kcpTune(s *kcp.UDPSession) {
	s.SetNoDelay(1, 10, 2, 1)
	s.SetWindowSize(kcpWindow, kcpWindow)
	s.SetMtu(kcpMTU)
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetACKNoDelay(true)
	s.SetReadBuffer(kcpSockBuf)
	s.SetWriteBuffer(kcpSockBuf)
}

func (k *kcpContender) Listen(ctx context.Context, e *Env, n int) (server, error) {
	block, err := kcpBlock(e)
	if err != nil {
		return nil, err
	}
	srv := &kcpServer{acceptQueue: newAcceptQueue(n)}
	for i := 0; i < n; i++ {
		ln, err := kcp.ListenWithOptions(e.O.bindAddr(), block, 0, 0)
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		ln.SetReadBuffer(kcpSockBuf)
		ln.SetWriteBuffer(kcpSockBuf)
		srv.lns = append(srv.lns, ln)
		srv.addrs = append(srv.addrs, ln.Addr().String())
		go srv.acceptOne(ln)
	}
	e.Info("udp_payload", fmt.Sprint(kcpMTU))
	return srv, nil
}

type kcpServer struct {
	lns       []*kcp.Listener
	mu        sync.Mutex
	sessions  []*kcp.UDPSession
	closeOnce sync.Once
	acceptQueue
}

// acceptOne waits for the first packet of a session (kcp has no handshake) and tunes it.
func (srv *kcpServer) acceptOne(ln *kcp.Listener) {
	s, err := ln.AcceptKCP()
	if err != nil {
		srv.deliver(nil, err)
		return
	}
	kcpTune(s)
	srv.mu.Lock()
	srv.sessions = append(srv.sessions, s)
	srv.mu.Unlock()
	srv.deliver(&kcpConn{s: s}, nil)
}

func (srv *kcpServer) Close() error {
	srv.closeOnce.Do(func() {
		srv.mu.Lock()
		for _, s := range srv.sessions {
			s.Close()
		}
		srv.mu.Unlock()
		for _, ln := range srv.lns {
			ln.Close()
		}
	})
	return nil
}

func (k *kcpContender) Dial(ctx context.Context, e *Env, addrs []string) (client, error) {
	block, err := kcpBlock(e)
	if err != nil {
		return nil, err
	}
	cl := &kcpClient{}
	for _, a := range addrs {
		s, err := kcp.DialWithOptions(a, block, 0, 0)
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("dial %s: %w", a, err)
		}
		kcpTune(s)
		cl.sessions = append(cl.sessions, s)
		cl.conns = append(cl.conns, &kcpConn{s: s})
	}
	e.Info("udp_payload", fmt.Sprint(kcpMTU))
	return cl, nil
}

type kcpClient struct {
	sessions []*kcp.UDPSession
	conns    []conn
}

func (cl *kcpClient) Conns() []conn { return cl.conns }

func (cl *kcpClient) Close() error {
	for _, s := range cl.sessions {
		s.Close()
	}
	return nil
}

type kcpConn struct {
	s *kcp.UDPSession
}

func (c *kcpConn) WriteMsg(p []byte) error {
	_, err := c.s.Write(p)
	return err
}

func (c *kcpConn) ReadData(buf []byte) ([]byte, error) { return readSome(c.s, buf) }

// Close does nothing: kcp has no half-close; the receiver stops on STOP.
func (c *kcpConn) Close() error { return nil }
