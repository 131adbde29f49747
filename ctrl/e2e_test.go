package ctrl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/impair"
	"github.com/sttfast/sttfast/stc"
)

// testTimeout guards every end-to-end test against hangs; it is never what a test measures.
const testTimeout = 60 * time.Second

func testSeed(t testing.TB) *stc.Seed {
	t.Helper()
	s, err := stc.NewSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.Seed == nil {
		cfg.Seed = testSeed(t)
	}
	n, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// loopbackOf is the node's address on loopback: a node listening on every interface (the
// default) is reached there by an IPv4 socket.
func loopbackOf(n *Node) netip.AddrPort {
	if a := n.Addr(); a.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port())
	}
	return n.Addr()
}

// link describes the impairment applied in both directions (zero: a clean loopback).
type link struct {
	name string
	imp  impair.Config
}

var lossyLinks = []link{
	{"loss1", impair.Config{Seed: 1, Loss: 0.01, Reorder: 0.01, Duplicate: 0.01}},
	{"loss5", impair.Config{Seed: 5, Loss: 0.05, Reorder: 0.02, Duplicate: 0.01, Jitter: 200 * time.Microsecond}},
	{"loss20", impair.Config{Seed: 20, Loss: 0.20, Reorder: 0.05, Duplicate: 0.02, Delay: 100 * time.Microsecond, Jitter: 300 * time.Microsecond}},
}

func (l link) wrap(seedOffset uint64) func(dataplane.PacketConn) dataplane.PacketConn {
	if l.imp == (impair.Config{}) {
		return nil
	}
	return func(pc dataplane.PacketConn) dataplane.PacketConn {
		c := l.imp
		c.Seed += seedOffset
		return impair.Wrap(pc, c)
	}
}

// pair returns a listening node and a dialing node joined by l, and the dialed session.
func pair(t testing.TB, l link, srvCfg, cliCfg Config) (srv, cli *Node, s *Session) {
	t.Helper()
	srvCfg.WrapConn = l.wrap(100)
	cliCfg.WrapConn = l.wrap(200)
	srv = testNode(t, srvCfg)
	cli = testNode(t, cliCfg)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli, s
}

// pattern is the deterministic content of stream id in a transfer: seeded random message sizes
// and bytes, so any loss, duplication or reordering shows up in the hash.
type pattern struct {
	rng   *rand.Rand
	max   int
	total int
}

func newPattern(seed uint64, maxMsg, total int) *pattern {
	return &pattern{rng: rand.New(rand.NewPCG(seed, 42)), max: maxMsg, total: total}
}

// next returns the next message into buf, or nil when the stream's total is reached.
func (p *pattern) next(buf []byte) []byte {
	if p.total <= 0 {
		return nil
	}
	n := min(p.rng.IntN(p.max)+1, p.total)
	p.total -= n
	buf = buf[:n]
	for i := range buf {
		buf[i] = byte(p.rng.Uint32())
	}
	return buf
}

// sendPattern writes a pattern on st, closes the write side and returns the hash of what was sent.
func sendPattern(st *Stream, p *pattern) (uint64, int, error) {
	h := xxhash.New()
	buf := make([]byte, p.max)
	n := 0
	for {
		m := p.next(buf)
		if m == nil {
			break
		}
		if err := st.WriteMessage(m); err != nil {
			return 0, n, fmt.Errorf("write: %w", err)
		}
		h.Write(m)
		n++
	}
	return h.Sum64(), n, st.CloseWrite()
}

// recvAll reads messages until EOF and returns the hash and message count.
func recvAll(st *Stream) (uint64, int, error) {
	h := xxhash.New()
	var buf []byte
	n := 0
	for {
		var err error
		buf, err = st.ReadMessage(buf[:0])
		if errors.Is(err, io.EOF) {
			return h.Sum64(), n, nil
		}
		if err != nil {
			return 0, n, err
		}
		h.Write(buf)
		n++
	}
}

// exchange runs streams bidirectional streams on s (opened by the dialer) carrying total bytes
// each way per stream, and checks both directions message for message via hashes.
func exchange(t *testing.T, srv *Node, s *Session, streams, total, maxMsg int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	peer, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		key  string // stream id and direction
		hash uint64
		msgs int
		err  error
	}
	results := make(chan result, 4*streams)
	run := func(key string, f func() (uint64, int, error)) {
		h, n, err := f()
		results <- result{key, h, n, err}
	}
	go func() {
		for i := 0; i < streams; i++ {
			st, err := peer.AcceptStream(ctx)
			if err != nil {
				results <- result{err: err}
				return
			}
			id := st.ID()
			go run(fmt.Sprintf("%d c2s", id), func() (uint64, int, error) { return recvAll(st) })
			go run(fmt.Sprintf("%d s2c", id), func() (uint64, int, error) {
				return sendPattern(st, newPattern(id+1000, maxMsg, total))
			})
		}
	}()
	for i := 0; i < streams; i++ {
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := st.ID()
		go run(fmt.Sprintf("%d c2s", id), func() (uint64, int, error) {
			return sendPattern(st, newPattern(id, maxMsg, total))
		})
		go run(fmt.Sprintf("%d s2c", id), func() (uint64, int, error) { return recvAll(st) })
	}
	// Every direction of every stream reports twice: once from its sender, once from its
	// receiver; the two must agree.
	seen := map[string]result{}
	for i := 0; i < 4*streams; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("stream %s: %v", r.key, r.err)
			}
			prev, ok := seen[r.key]
			if !ok {
				seen[r.key] = r
				continue
			}
			if prev.hash != r.hash || prev.msgs != r.msgs {
				t.Fatalf("stream %s: sent and received differ (hash %x vs %x, %d vs %d messages)", r.key, prev.hash, r.hash, prev.msgs, r.msgs)
			}
		case <-ctx.Done():
			t.Fatalf("transfer timed out after %d of %d results", i, 4*streams)
		}
	}
}

func TestEndToEnd(t *testing.T) {
	links := append([]link{{name: "clean"}}, lossyLinks...)
	for _, l := range links {
		t.Run(l.name, func(t *testing.T) {
			t.Run("streams", func(t *testing.T) {
				srv, _, s := pair(t, l, Config{}, Config{})
				exchange(t, srv, s, 8, 256<<10, 4096)
			})
			t.Run("large-message", func(t *testing.T) {
				srv, _, s := pair(t, l, Config{}, Config{})
				exchange(t, srv, s, 1, 3<<20, 3<<20)
			})
		})
	}
}

func TestManySessions(t *testing.T) {
	srv := testNode(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	go echoServer(ctx, srv)
	echoClients(t, ctx, srv, 20, 2000, 64<<10)
}

// echoClients dials srv from n nodes at once, each sending total bytes of pattern messages of up
// to maxMsg bytes on one stream and checking every echo; then srv must hold the n sessions.
func echoClients(t *testing.T, ctx context.Context, srv *Node, n, maxMsg, total int) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		cli := testNode(t, Config{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cli.Dial(ctx, srv.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			st, err := s.OpenStream(ctx)
			if err != nil {
				errs <- err
				return
			}
			p := newPattern(uint64(i), maxMsg, total)
			buf := make([]byte, maxMsg)
			for m := p.next(buf); m != nil; m = p.next(buf) {
				if err := st.WriteMessage(m); err != nil {
					errs <- err
					return
				}
				got, err := st.ReadMessage(nil)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, m) {
					errs <- fmt.Errorf("session %d: echo differs", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := srv.NumSessions(); got != n {
		t.Fatalf("server has %d sessions, want %d", got, n)
	}
}
