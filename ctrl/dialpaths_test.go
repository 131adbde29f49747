package ctrl

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
)

// darkConn is a UDP path that can be black-holed: while dark it drops everything it reads and
// everything it is asked to write, as a network that starts blocking UDP.
type darkConn struct {
	dataplane.PacketConn
	dark *atomic.Bool
}

func (c *darkConn) ReadBatch(msgs []batchio.Message) (int, error) {
	for {
		n, err := c.PacketConn.ReadBatch(msgs)
		if err != nil || !c.dark.Load() {
			return n, err
		}
	}
}

func (c *darkConn) WriteBatch(msgs []batchio.Message) (int, error) {
	if c.dark.Load() {
		return len(msgs), nil
	}
	return c.PacketConn.WriteBatch(msgs)
}

// moveLog records a node's EventPathMigrated events.
type moveLog struct {
	mu    sync.Mutex
	moves []Event
}

func (l *moveLog) onEvent(ev Event) {
	if ev.Kind == EventPathMigrated {
		l.mu.Lock()
		l.moves = append(l.moves, ev)
		l.mu.Unlock()
	}
}

func (l *moveLog) list() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.moves...)
}

// waitUntil polls cond; ctx only guards against a hang.
var waitUntil = func(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// TestDialPathsFailoverAndReturn: a node dials another's UDP and WebSocket addresses with
// DialPaths and sends a file over the session. Its UDP path goes dark a third of the way
// through: the session moves to WebSocket and the file goes on; UDP comes back at two thirds
// and the session moves back. The listener receives the file byte-exact, one session
// throughout, and both nodes report every move as an event.
func TestDialPathsFailoverAndReturn(t *testing.T) {
	size := 32 << 20
	if testing.Short() || raceEnabled {
		size = 8 << 20
	}
	ctx := ctxFor(t)
	var dark atomic.Bool
	var cliMoves, srvMoves moveLog
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0", Addrs: []string{"ws://127.0.0.1:0/stt"}, OnEvent: srvMoves.onEvent})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", OnEvent: cliMoves.onEvent,
		WrapConn: func(c dataplane.PacketConn) dataplane.PacketConn { return &darkConn{PacketConn: c, dark: &dark} }})
	bound := srv.Addrs()
	cs, err := cli.DialPaths(ctx, bound[0].String(), bound[1].String())
	if err != nil {
		t.Fatal(err)
	}
	ss := acceptSession(t, srv)
	paths := cs.Paths()
	if len(paths) != 2 || cs.ActivePath() != paths[0] || cs.Reliable() || dataplane.AddrTag(paths[1]) == "" {
		t.Fatalf("paths %v, active %v: want the UDP address active and a tagged WebSocket one", paths, cs.ActivePath())
	}

	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var got atomic.Int64
	recvd := make(chan []byte, 1)
	go func() {
		st, err := ss.AcceptStream(ctx)
		if err != nil {
			recvd <- nil
			return
		}
		var all bytes.Buffer
		buf := make([]byte, 256<<10)
		for {
			n, err := st.Read(buf)
			all.Write(buf[:n])
			got.Store(int64(all.Len()))
			if err != nil {
				break
			}
		}
		recvd <- all.Bytes()
	}()
	st, err := cs.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 256 << 10 {
			if _, err := st.Write(data[off:min(off+256<<10, len(data))]); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.Close()
	}()
	onWS := func() bool { return cs.ActivePath() == paths[1] && cs.Reliable() && ss.Reliable() }
	onUDP := func() bool { return cs.ActivePath() == paths[0] && !cs.Reliable() && !ss.Reliable() }

	waitUntil = func(ctx context.Context, t *testing.T, what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				cst, sst := cs.Stats(), ss.Stats()
				t.Fatalf("waiting for %s: %v; dialer on %v (reliable %v, %d in flight, %d PTOs, %d moves, err %v), listener on %v (reliable %v, %d in flight, %d PTOs, err %v); moves: dialer %v, listener %v; %d bytes received; dialer node %+v; listener node %+v",
					what, ctx.Err(), cs.ActivePath(), cs.Reliable(), cst.BytesInFlight, cst.PTOs, cs.Migrations(), cs.Err(),
					ss.ActivePath(), ss.Reliable(), sst.BytesInFlight, sst.PTOs, ss.Err(), cliMoves.list(), srvMoves.list(), got.Load(), cli.Stats(), srv.Stats())
			case <-time.After(500 * time.Microsecond):
			}
		}
	}
	waitUntil(ctx, t, "a third of the file", func() bool { return got.Load() >= int64(size/3) })
	cut := time.Now()
	dark.Store(true)
	waitUntil(ctx, t, "the move to WebSocket", onWS)
	over := time.Since(cut)
	waitUntil(ctx, t, "two thirds of the file", func() bool { return got.Load() >= int64(2*size/3) })
	restored := time.Now()
	dark.Store(false)
	waitUntil(ctx, t, "the move back to UDP", onUDP)
	back := time.Since(restored)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if all := <-recvd; !bytes.Equal(all, data) {
		t.Fatalf("received %d bytes, not the %d sent", len(all), len(data))
	}
	waitUntil(ctx, t, "the session to settle on UDP", onUDP)
	if srv.NumSessions() != 1 || cs.Err() != nil {
		t.Fatalf("%d sessions on the listener, dialer's error %v: want the one session, open", srv.NumSessions(), cs.Err())
	}
	if len(cliMoves.list()) < 2 || len(srvMoves.list()) < 2 {
		t.Fatalf("moves reported: dialer %v, listener %v; want at least the failover and the return on each", cliMoves.list(), srvMoves.list())
	}
	t.Logf("%d MiB: on WebSocket %v after UDP went dark, back on UDP %v after it came back; moves: dialer %d, listener %d (%s)",
		size>>20, over.Round(time.Millisecond), back.Round(time.Millisecond), len(cliMoves.list()), len(srvMoves.list()), cliMoves.list()[0].Reason)
}

// TestDialPathsSkipsDeadWebSocket: a WebSocket address where nothing listens is left out of the
// paths; the session runs on the UDP one. With no usable address at all, DialPaths fails with
// every reason.
func TestDialPathsSkipsDeadWebSocket(t *testing.T) {
	ctx := ctxFor(t)
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	cs, err := cli.DialPaths(ctx, srv.Addrs()[0].String(), "ws://127.0.0.1:1/stt")
	if err != nil {
		t.Fatal(err)
	}
	acceptSession(t, srv)
	if p := cs.Paths(); len(p) != 1 || cs.ActivePath() != p[0] {
		t.Fatalf("paths %v", p)
	}
	_, err = cli.DialPaths(ctx, "ws://127.0.0.1:1/stt")
	if !errors.Is(err, ErrNothingListening) {
		t.Fatalf("DialPaths to nothing: %v, want ErrNothingListening", err)
	}
	cs.CloseWithError(0, "")
}
