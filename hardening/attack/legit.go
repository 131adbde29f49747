package attack

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/stc"
)

// Peer is a legitimate sttfast node in the attacker's process: it holds the seed and dials the
// listener like any client would.
type Peer struct {
	Node *ctrl.Node
}

// NewPeer starts a node on an ephemeral loopback port.
func NewPeer(seed *stc.Seed) (*Peer, error) {
	n, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	return &Peer{Node: n}, nil
}

// Close closes the node and its sessions.
func (p *Peer) Close() { p.Node.Close() }

// Dial connects to addr and returns the session and how long the handshake took.
func (p *Peer) Dial(ctx context.Context, addr string) (*ctrl.Session, time.Duration, error) {
	t0 := time.Now()
	s, err := p.Node.Dial(ctx, addr)
	return s, time.Since(t0), err
}

// DialVia dials target through a new forwarder that captures up to capacity datagrams each
// way, so that the attack can replay or withhold what the legitimate session sent. The caller
// closes the forwarder; on error it is already closed.
func (p *Peer) DialVia(ctx context.Context, target netip.AddrPort, capacity int) (*Forwarder, *ctrl.Session, error) {
	fwd, err := NewForwarder(target, capacity)
	if err != nil {
		return nil, nil, err
	}
	s, _, err := p.Dial(ctx, "udp://"+fwd.Addr().String())
	if err != nil {
		fwd.Close()
		return nil, nil, err
	}
	return fwd, s, nil
}

// EchoResult is the outcome of a transfer against the echo of sttfast serve: every byte sent
// on one stream must come back exactly once, in order.
type EchoResult struct {
	Bytes      int64   `json:"bytes"`
	EchoBytes  int64   `json:"echo_bytes"`
	SentSHA256 string  `json:"sent_sha256"`
	EchoSHA256 string  `json:"echo_sha256"`
	OK         bool    `json:"ok"`
	Seconds    float64 `json:"seconds"`
	Err        string  `json:"error,omitempty"`
}

// Echo is a transfer in progress on one stream of a session with sttfast serve. Send writes
// seeded pseudo-random messages; a reader goroutine hashes what comes back.
type Echo struct {
	st      *ctrl.Stream
	start   time.Time
	rng     *rand.ChaCha8
	sent    hash.Hash
	sentN   int64
	echoN   atomic.Int64
	moved   chan struct{} // signalled (non-blocking) whenever echoN grows or the reader ends
	mu      sync.Mutex    // guards echo and readErr once the reader ended
	echo    hash.Hash
	readErr error
	done    chan struct{}
}

// StartEcho opens a stream on s and starts reading its echo.
func StartEcho(ctx context.Context, s *ctrl.Session, seed uint64) (*Echo, error) {
	st, err := s.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	binary.LittleEndian.PutUint64(k[:], seed)
	e := &Echo{st: st, start: time.Now(), rng: rand.NewChaCha8(k), sent: sha256.New(), echo: sha256.New(),
		moved: make(chan struct{}, 1), done: make(chan struct{})}
	go e.read()
	return e, nil
}

// read hashes echoed messages until EOF or an error.
func (e *Echo) read() {
	defer close(e.done)
	var buf []byte
	for {
		var err error
		buf, err = e.st.ReadMessage(buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				e.mu.Lock()
				e.readErr = err
				e.mu.Unlock()
			}
			e.notify()
			return
		}
		e.mu.Lock()
		e.echo.Write(buf)
		e.mu.Unlock()
		e.echoN.Add(int64(len(buf)))
		e.notify()
	}
}

func (e *Echo) notify() {
	select {
	case e.moved <- struct{}{}:
	default:
	}
}

// Send writes n more bytes as messages of at most 64 KiB.
func (e *Echo) Send(n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		m := buf[:min(int64(len(buf)), n)]
		e.rng.Read(m)
		if err := e.st.WriteMessage(m); err != nil {
			return fmt.Errorf("echo: write: %w", err)
		}
		e.sent.Write(m)
		e.sentN += int64(len(m))
		n -= int64(len(m))
	}
	return nil
}

// WaitEchoed waits until at least n bytes came back (or the reader ended, or ctx).
func (e *Echo) WaitEchoed(ctx context.Context, n int64) error {
	for e.echoN.Load() < n {
		select {
		case <-e.moved:
		case <-e.done:
			if e.echoN.Load() >= n {
				return nil
			}
			return fmt.Errorf("echo: stream ended after %d of %d bytes: %v", e.echoN.Load(), n, e.err())
		case <-ctx.Done():
			return fmt.Errorf("echo: %d of %d bytes back: %w", e.echoN.Load(), n, ctx.Err())
		}
	}
	return nil
}

func (e *Echo) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readErr
}

// Finish ends our half of the stream, waits for the echo to end and compares both sides.
func (e *Echo) Finish(ctx context.Context) EchoResult {
	r := EchoResult{Bytes: e.sentN, SentSHA256: hex.EncodeToString(e.sent.Sum(nil))}
	if err := e.st.CloseWrite(); err != nil {
		r.Err = "close write: " + err.Error()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		e.st.CloseWithError(0x100)
		<-e.done
		r.Err = "echo did not end: " + ctx.Err().Error()
	}
	e.mu.Lock()
	r.EchoSHA256 = hex.EncodeToString(e.echo.Sum(nil))
	if e.readErr != nil && r.Err == "" {
		r.Err = "read: " + e.readErr.Error()
	}
	e.mu.Unlock()
	r.EchoBytes = e.echoN.Load()
	r.Seconds = time.Since(e.start).Seconds()
	r.OK = r.Err == "" && r.EchoBytes == r.Bytes && r.EchoSHA256 == r.SentSHA256
	return r
}
