package ctrl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/dataplane/impair"
	"github.com/sttfast/sttfast/frame"
)

// End-to-end tests of the transport features between two nodes over loopback: key rotation,
// keep-alive and idle timeout, flow control, stream limits, message limits, stream semantics and
// multi-socket listeners.

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// acceptOne returns the server side of the session the test dialed.
func acceptSession(t testing.TB, srv *Node) *Session {
	t.Helper()
	ss, err := srv.Accept(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// keyEvents counts EventKeyRotated per direction (Remote: the peer's send key, our receive key).
type keyEvents struct{ local, remote atomic.Int64 }

func (k *keyEvents) on(ev Event) {
	if ev.Kind != EventKeyRotated {
		return
	}
	if ev.Remote {
		k.remote.Add(1)
	} else {
		k.local.Add(1)
	}
}

func TestKeyRotation(t *testing.T) {
	links := []link{
		{name: "clean"},
		lossyLinks[1],
		// Heavy reordering makes packets of the previous key generation arrive after the first
		// packets of the next one.
		{"reorder", impair.Config{Seed: 77, Reorder: 0.25, ReorderDelay: 2 * time.Millisecond, Loss: 0.01}},
	}
	for _, l := range links {
		t.Run(l.name, func(t *testing.T) {
			var srvEv, cliEv keyEvents
			tr := dataplane.Config{KeyUpdatePackets: 50}
			srv, cli, s := pair(t, l, Config{Transport: tr, OnEvent: srvEv.on}, Config{Transport: tr, OnEvent: cliEv.on})
			exchange(t, srv, s, 2, 2<<20, 16<<10)
			peer := srv.Sessions()
			if len(peer) != 1 {
				t.Fatalf("server has %d sessions", len(peer))
			}
			for name, ev := range map[string]*keyEvents{"server": &srvEv, "client": &cliEv} {
				pollUntil(t, name+" key rotation events", func() bool { return ev.local.Load() > 0 && ev.remote.Load() > 0 })
			}
			cs, ps := s.Stats(), peer[0].Stats()
			if cs.KeyUpdates == 0 || ps.KeyUpdates == 0 {
				t.Fatalf("key updates: client %d, server %d", cs.KeyUpdates, ps.KeyUpdates)
			}
			// Thousands of packets at 50 per key: several generations each way, even though a
			// sender waits for an acknowledgement under the current key before it updates again.
			if cs.KeyUpdates < 4 || ps.KeyUpdates < 4 {
				t.Fatalf("only %d/%d key updates for %d/%d packets sent", cs.KeyUpdates, ps.KeyUpdates, cs.PacketsSent, ps.PacketsSent)
			}
			t.Logf("key updates: client %d (events %d local, %d remote), server %d (events %d local, %d remote)",
				cs.KeyUpdates, cliEv.local.Load(), cliEv.remote.Load(), ps.KeyUpdates, srvEv.local.Load(), srvEv.remote.Load())
			t.Logf("auth drops: server %d, client %d", srv.Stats().Drops[dataplane.DropAuth], cli.Stats().Drops[dataplane.DropAuth])
			if l.imp == (impair.Config{}) {
				// In order and lossless, every packet is opened with the right key at first try.
				for name, n := range map[string]*Node{"server": srv, "client": cli} {
					if d := n.Stats().Drops[dataplane.DropAuth]; d != 0 {
						t.Fatalf("%s: %d packets failed authentication on a clean link", name, d)
					}
				}
			}
		})
	}
}

func TestKeepAliveHoldsIdleSession(t *testing.T) {
	// The idle timeout is ten keep-alive intervals: a loaded machine that holds the TX loop back
	// for a few hundred milliseconds (the race detector beside other test binaries) must not end
	// a session whose keep-alives work; with 300 ms against 100 ms it once did.
	tr := dataplane.Config{IdleTimeout: time.Second, KeepAlive: 100 * time.Millisecond}
	srv, _, s := pair(t, link{name: "clean"}, Config{Transport: tr}, Config{Transport: tr})
	ss := acceptSession(t, srv)
	before, pbefore := s.Stats(), ss.Stats()
	// Three idle timeouts without a byte of application data.
	idle := time.NewTimer(3 * tr.IdleTimeout)
	defer idle.Stop()
	select {
	case <-s.Done():
		t.Fatalf("idle client session ended: %v", s.Err())
	case <-ss.Done():
		t.Fatalf("idle server session ended: %v", ss.Err())
	case <-idle.C:
	}
	after, pafter := s.Stats(), ss.Stats()
	// Surviving three idle timeouts takes at least two packets in each direction (about 30 come).
	if got := after.PacketsRecv - before.PacketsRecv; got < 2 {
		t.Fatalf("client received %d packets while idle", got)
	}
	if got := pafter.PacketsRecv - pbefore.PacketsRecv; got < 2 {
		t.Fatalf("server received %d packets while idle", got)
	}
	// And the session still carries data.
	streamPairSaying(t, s, ss, "still here")
}

// muteConn drops every datagram written once muted: a node whose host vanished.
type muteConn struct {
	dataplane.PacketConn
	mute atomic.Bool
}

func (c *muteConn) WriteBatch(msgs []batchio.Message) (int, error) {
	if c.mute.Load() {
		return len(msgs), nil
	}
	return c.PacketConn.WriteBatch(msgs)
}

func TestIdleTimeoutWhenPeerVanishes(t *testing.T) {
	tr := dataplane.Config{IdleTimeout: 300 * time.Millisecond, KeepAlive: 100 * time.Millisecond}
	var mc *muteConn
	srv := testNode(t, Config{Transport: tr})
	cli := testNode(t, Config{Transport: tr, WrapConn: func(pc dataplane.PacketConn) dataplane.PacketConn {
		mc = &muteConn{PacketConn: pc}
		return mc
	}})
	ctx := ctxFor(t)
	s, err := cli.Dial(ctx, srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ss := acceptSession(t, srv)
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.WriteMessage([]byte("hello"))
	pst, err := ss.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pst.ReadMessage(nil); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := pst.ReadMessage(nil) // blocks: nothing more will come
		readErr <- err
	}()

	// The client disappears: not a byte more leaves it, not even the SESSION_CLOSE of Close.
	mc.mute.Store(true)
	cli.Close()
	// A writer on the server fills its buffer (nothing is acknowledged any more) and blocks.
	writeErr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if err := pst.WriteMessage(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	}()

	select {
	case <-ss.Done():
	case <-ctx.Done():
		t.Fatal("server session outlived its silent peer")
	}
	var ce *dataplane.CloseError
	if err := ss.Err(); !errors.As(err, &ce) || ce.Code != dataplane.CodeIdleTimeout || ce.Remote {
		t.Fatalf("server session ended with %v; want a local idle timeout (code %d)", ss.Err(), dataplane.CodeIdleTimeout)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrSessionClosed) || !errors.As(err, &ce) || ce.Code != dataplane.CodeIdleTimeout {
			t.Fatalf("blocked read returned %v", err)
		}
	case <-ctx.Done():
		t.Fatal("blocked read not woken by the idle timeout")
	}
	select {
	case err := <-writeErr:
		if !errors.As(err, &ce) || ce.Code != dataplane.CodeIdleTimeout {
			t.Fatalf("blocked write returned %v", err)
		}
	case <-ctx.Done():
		t.Fatal("blocked write not woken by the idle timeout")
	}
	pollUntil(t, "session removed", func() bool { return srv.NumSessions() == 0 })
}

// fixedMsg is message i of a flow-control transfer: 1022 bytes, so that with its 2-byte length
// prefix every message is exactly 1 KiB on the stream and buffers fill on message boundaries.
func fixedMsg(buf []byte, i int) []byte {
	buf = buf[:1022]
	r := rand.New(rand.NewPCG(uint64(i), 99))
	for k := range buf {
		buf[k] = byte(r.Uint32())
	}
	return buf
}

func TestFlowControlBlocksWriter(t *testing.T) {
	const window, sendBuf, total = 64 << 10, 64 << 10, 600
	srv, _, s := pair(t, link{name: "clean"},
		Config{Transport: dataplane.Config{StreamWindow: window, SessionWindow: 4 * window}},
		Config{Transport: dataplane.Config{SendBuffer: sendBuf}})
	ss := acceptSession(t, srv)
	ctx := ctxFor(t)
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1022)
	// The peer's stream window and our send buffer hold exactly this many messages while nobody
	// reads; each write completes (possibly after waiting for acknowledgements).
	fit := (window + sendBuf) / 1024
	for i := 0; i < fit; i++ {
		if err := st.WriteMessage(fixedMsg(buf, i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// One more cannot fit: it must wait for the reader, and give up at the deadline.
	st.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	err = st.WriteMessage(fixedMsg(buf, fit))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("write beyond window and buffer = %v, want ErrTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error timeout", err)
	}
	if ps := ss.Stats(); ps.StreamBytesRecv > window {
		t.Fatalf("peer received %d bytes with a %d-byte window", ps.StreamBytesRecv, window)
	}
	// The reader starts; the same stream, deadline cleared, carries everything byte-exact.
	st.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		pst, err := ss.AcceptStream(ctx)
		if err != nil {
			done <- err
			return
		}
		want := make([]byte, 1022)
		var got []byte
		for i := 0; ; i++ {
			got, err = pst.ReadMessage(got[:0])
			if errors.Is(err, io.EOF) {
				if i != total {
					err = fmt.Errorf("EOF after %d messages, want %d", i, total)
				} else {
					err = nil
				}
				done <- err
				return
			}
			if err != nil {
				done <- err
				return
			}
			if !bytes.Equal(got, fixedMsg(want, i)) {
				done <- fmt.Errorf("message %d differs", i)
				return
			}
		}
	}()
	for i := fit; i < total; i++ {
		if err := st.WriteMessage(fixedMsg(buf, i)); err != nil {
			t.Fatalf("write %d after the timeout: %v", i, err)
		}
	}
	st.CloseWrite()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("transfer did not finish")
	}
}

// TestWriteDeadlineMidMessage: a write that times out must not leave a torn message on the
// stream. A message that fits in the send buffer is written whole or not at all (the stream stays
// usable and the timed-out message never arrives); a larger one that times out part way cannot be
// completed, so the stream must fail on both sides rather than deliver a truncated message.
func TestWriteDeadlineMidMessage(t *testing.T) {
	const window, sendBuf = 64 << 10, 64 << 10
	cases := []struct {
		name      string
		first     int // written before, fully
		torn      int // size of the message whose write times out
		wantAbort bool
	}{
		// 100 KiB fill the peer's 64 KiB window and 36 KiB of our buffer: 50 KiB do not fit.
		{"fits-send-buffer", 100 << 10, 50 << 10, false},
		// 60 KiB reach the peer whole; the next message cannot even fit the buffer.
		{"larger-than-send-buffer", 60 << 10, 100 << 10, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _, s := pair(t, link{name: "clean"},
				Config{Transport: dataplane.Config{StreamWindow: window, SessionWindow: 4 * window}},
				Config{Transport: dataplane.Config{SendBuffer: sendBuf}})
			ss := acceptSession(t, srv)
			ctx := ctxFor(t)
			st, err := s.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			first := bytes.Repeat([]byte{1}, c.first)
			if err := st.WriteMessage(first); err != nil {
				t.Fatal(err)
			}
			st.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			torn := bytes.Repeat([]byte{2}, c.torn)
			if err := st.WriteMessage(torn); !errors.Is(err, ErrTimeout) {
				t.Fatalf("write of a message larger than the free space = %v, want ErrTimeout", err)
			}
			st.SetWriteDeadline(time.Time{})
			// The reader now drains the stream: everything up to EOF, or the first error.
			type result struct {
				msgs    [][]byte
				err     error
				partial int // bytes ReadMessage returned along with its final error
			}
			got := make(chan result, 1)
			go func() {
				var r result
				pst, err := ss.AcceptStream(ctx)
				if err != nil {
					r.err = err
					got <- r
					return
				}
				for len(r.msgs) < 4 {
					m, err := pst.ReadMessage(nil)
					if err != nil {
						r.partial = len(m)
						if !errors.Is(err, io.EOF) {
							r.err = err
						}
						break
					}
					r.msgs = append(r.msgs, m)
				}
				got <- r
			}()
			last := []byte("the message after the timeout")
			werr := st.WriteMessage(last)
			if werr == nil {
				werr = st.CloseWrite()
			}
			var r result
			select {
			case r = <-got:
			case <-ctx.Done():
				t.Fatal("reader did not finish")
			}
			if len(r.msgs) == 0 || !bytes.Equal(r.msgs[0], first) {
				t.Fatalf("first message lost: %d messages, %v", len(r.msgs), r.err)
			}
			msgs := r.msgs[1:]
			if c.wantAbort {
				if len(msgs) != 0 || !errors.Is(r.err, ErrStreamReset) || werr == nil {
					t.Fatalf("abandoned write: reader got %d more messages then %v (%d bytes); writer error %v; want ErrStreamReset on both sides",
						len(msgs), r.err, r.partial, werr)
				}
				return
			}
			if r.err != nil || werr != nil || len(msgs) != 1 || !bytes.Equal(msgs[0], last) {
				desc := make([]string, len(msgs))
				for i, m := range msgs {
					desc[i] = fmt.Sprintf("%d bytes starting %x", len(m), m[:min(len(m), 4)])
				}
				end := "EOF"
				if r.err != nil {
					end = r.err.Error()
				}
				t.Fatalf("after a timed-out write the reader got messages %v, then %s with %d bytes of a message (writer error %v); want exactly the later message",
					desc, end, r.partial, werr)
			}
		})
	}
}

func TestStreamLimitBlocksOpen(t *testing.T) {
	const limit = 10 // above the protocol's initial 8, so the server's MAX_STREAMS is what binds
	srv, _, s := pair(t, link{name: "clean"}, Config{Transport: dataplane.Config{MaxStreams: limit}}, Config{})
	ss := acceptSession(t, srv)
	ctx := ctxFor(t)
	var cst []*Stream
	for i := 0; i < limit; i++ {
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WriteMessage([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		cst = append(cst, st)
	}
	var sst []*Stream
	for i := 0; i < limit; i++ {
		st, err := ss.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sst = append(sst, st)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := s.OpenStream(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stream %d opened beyond the limit: %v", limit+1, err)
	}
	opened := make(chan *Stream, 1)
	go func() {
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Error(err)
		}
		opened <- st
	}()
	// Close stream 0 on both sides: the server's MAX_STREAMS then grows by one.
	if err := cst[0].Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := sst[0].ReadMessage(nil); err != nil || len(m) != 1 {
		t.Fatalf("read %x, %v", m, err)
	}
	if _, err := sst[0].ReadMessage(nil); !errors.Is(err, io.EOF) {
		t.Fatalf("read after CloseWrite = %v, want EOF", err)
	}
	sst[0].Close()
	var st *Stream
	select {
	case st = <-opened:
	case <-ctx.Done():
		t.Fatal("OpenStream still blocked after a stream closed on both sides")
	}
	if st == nil {
		t.FailNow()
	}
	if err := st.WriteMessage([]byte("eleventh")); err != nil {
		t.Fatal(err)
	}
	pst, err := ss.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := pst.ReadMessage(nil); err != nil || string(m) != "eleventh" {
		t.Fatalf("read %q, %v", m, err)
	}
	if s.Err() != nil || ss.Err() != nil {
		t.Fatalf("session closed: %v / %v", s.Err(), ss.Err())
	}
}

// TestLimitsBelowProtocolInitials: a peer may use the protocol's initial limits (8 streams, 64 KiB
// per stream, 256 KiB per session, docs/PROTOCOL.md §5) before it hears the real ones, and limits
// only grow. A node configured below them must still not kill a session whose peer stays within
// those initial limits.
func TestLimitsBelowProtocolInitials(t *testing.T) {
	cases := []struct {
		name    string
		tr      dataplane.Config
		streams int
		size    int
	}{
		{"max-streams-4", dataplane.Config{MaxStreams: 4}, 6, 100},
		{"stream-window-16k", dataplane.Config{StreamWindow: 16 << 10}, 1, 60 << 10},
		{"session-window-64k", dataplane.Config{StreamWindow: 16 << 10, SessionWindow: 64 << 10}, 4, 60 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _, s := pair(t, link{name: "clean"}, Config{Transport: c.tr}, Config{})
			ss := acceptSession(t, srv)
			ctx := ctxFor(t)
			var wg sync.WaitGroup
			errs := make(chan error, 2*c.streams)
			for i := 0; i < c.streams; i++ {
				st, err := s.OpenStream(ctx)
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := st.WriteMessage(bytes.Repeat([]byte{byte(i)}, c.size)); err != nil {
						errs <- fmt.Errorf("write on stream %d: %w", st.ID(), err)
					}
				}()
			}
			for i := 0; i < c.streams; i++ {
				pst, err := ss.AcceptStream(ctx)
				if err != nil {
					t.Fatalf("accept %d: %v (server session: %v)", i, err, ss.Err())
				}
				m, err := pst.ReadMessage(nil)
				if err != nil || len(m) != c.size {
					t.Fatalf("stream %d: read %d bytes, %v", pst.ID(), len(m), err)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := ss.Err(); err != nil {
				t.Fatalf("server closed the session: %v", err)
			}
		})
	}
}

func TestMessageSizeLimit(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{Transport: dataplane.Config{MaxMessageSize: 1000}})
		ss := acceptSession(t, srv)
		ctx := ctxFor(t)
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WriteMessage(make([]byte, 1001)); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("WriteMessage(1001 bytes) = %v, want ErrMessageTooLarge", err)
		}
		if _, err := st.Write(make([]byte, 1<<20)); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("Write(1 MiB) = %v, want ErrMessageTooLarge", err)
		}
		// Nothing of the refused messages went out; the stream still works.
		if err := st.WriteMessage(bytes.Repeat([]byte{7}, 1000)); err != nil {
			t.Fatal(err)
		}
		pst, err := ss.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := pst.ReadMessage(nil); err != nil || len(m) != 1000 || m[0] != 7 {
			t.Fatalf("read %d bytes, %v", len(m), err)
		}
	})
	t.Run("remote", func(t *testing.T) {
		// The receiver's limit is smaller than the sender's: the reader refuses the message and
		// resets the stream; the writer learns it through ErrStreamReset.
		srv, _, s := pair(t, link{name: "clean"}, Config{Transport: dataplane.Config{MaxMessageSize: 4096}}, Config{})
		ss := acceptSession(t, srv)
		ctx := ctxFor(t)
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WriteMessage(make([]byte, 5000)); err != nil {
			t.Fatal(err)
		}
		pst, err := ss.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pst.ReadMessage(nil); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("reading an oversized message = %v, want ErrMessageTooLarge", err)
		}
		if _, err := st.ReadMessage(nil); !errors.Is(err, ErrStreamReset) {
			t.Fatalf("writer's read after the peer refused = %v, want ErrStreamReset", err)
		}
		if err := st.WriteMessage([]byte("x")); !errors.Is(err, ErrStreamReset) {
			t.Fatalf("write after reset = %v, want ErrStreamReset", err)
		}
		if s.Err() != nil || ss.Err() != nil {
			t.Fatalf("an oversized message closed the session: %v / %v", s.Err(), ss.Err())
		}
	})
}

// streamPair opens a stream from the client and accepts it on the server; the first message
// ("open") makes it known to the server and is consumed.
func streamPair(t *testing.T, s, ss *Session) (c, p *Stream) {
	t.Helper()
	return streamPairSaying(t, s, ss, "open")
}

// streamPairSaying is streamPair with first as the first message, checked on arrival.
func streamPairSaying(t *testing.T, s, ss *Session, first string) (c, p *Stream) {
	t.Helper()
	ctx := ctxFor(t)
	c, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage([]byte(first)); err != nil {
		t.Fatal(err)
	}
	p, err = ss.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := p.ReadMessage(nil); err != nil || string(m) != first {
		t.Fatalf("read %q, %v; want %q", m, err, first)
	}
	return c, p
}

func TestStreamSemantics(t *testing.T) {
	srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{})
	ss := acceptSession(t, srv)

	t.Run("read-and-readmessage-mixed", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		big := bytes.Repeat([]byte("0123456789"), 300)
		for _, m := range [][]byte{[]byte("hello"), []byte("world!!"), big} {
			if err := c.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		b := make([]byte, 3)
		if n, err := p.Read(b); err != nil || string(b[:n]) != "hel" {
			t.Fatalf("Read = %q, %v", b[:n], err)
		}
		// ReadMessage returns the rest of the message Read started.
		if m, err := p.ReadMessage(nil); err != nil || string(m) != "lo" {
			t.Fatalf("ReadMessage after a partial Read = %q, %v", m, err)
		}
		// Read never crosses a message boundary.
		b = make([]byte, 100)
		if n, err := p.Read(b); err != nil || string(b[:n]) != "world!!" {
			t.Fatalf("Read = %q, %v", b[:n], err)
		}
		var got []byte
		for len(got) < len(big) {
			n, err := p.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b[:n]...)
		}
		if !bytes.Equal(got, big) {
			t.Fatal("large message read with Read differs")
		}
	})

	t.Run("zero-length-messages", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		for _, m := range [][]byte{{}, []byte("x"), nil, {}} {
			if err := c.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := c.Write(nil); n != 0 || err != nil {
			t.Fatalf("Write(nil) = %d, %v", n, err)
		}
		c.CloseWrite()
		for i, want := range []string{"", "x", "", "", ""} {
			m, err := p.ReadMessage([]byte{})
			if err != nil || string(m) != want {
				t.Fatalf("message %d = %q, %v; want %q", i, m, err, want)
			}
		}
		if _, err := p.ReadMessage(nil); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last message: %v, want EOF", err)
		}
	})

	t.Run("read-skips-empty-messages", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		c.WriteMessage(nil)
		c.WriteMessage(nil)
		c.WriteMessage([]byte("ab"))
		c.WriteMessage(nil)
		c.CloseWrite()
		b := make([]byte, 10)
		if n, err := p.Read(b); err != nil || string(b[:n]) != "ab" {
			t.Fatalf("Read = %q, %v", b[:n], err)
		}
		if n, err := p.Read(b); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("Read at the end = %d, %v; want EOF", n, err)
		}
	})

	t.Run("closewrite-half-close", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		const n = 200
		go func() {
			for i := 0; i < n; i++ {
				c.WriteMessage(bytes.Repeat([]byte{byte(i)}, 1000+i))
			}
			c.CloseWrite()
		}()
		for i := 0; i < n; i++ {
			m, err := p.ReadMessage(nil)
			if err != nil || len(m) != 1000+i || m[0] != byte(i) {
				t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
			}
		}
		if _, err := p.ReadMessage(nil); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseWrite: %v, want EOF", err)
		}
		if _, err := p.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("Read after EOF: %v, want EOF again", err)
		}
		// The other half still works.
		if err := p.WriteMessage([]byte("reply")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.ReadMessage(nil); err != nil || string(m) != "reply" {
			t.Fatalf("reply %q, %v", m, err)
		}
		if err := c.WriteMessage([]byte("late")); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("write after CloseWrite = %v, want ErrStreamClosed", err)
		}
	})

	t.Run("close-with-error", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		readErr := make(chan error, 1)
		go func() {
			_, err := p.ReadMessage(nil) // blocked when the reset arrives
			readErr <- err
		}()
		c.CloseWithError(0x1234)
		if err := <-readErr; !errors.Is(err, ErrStreamReset) {
			t.Fatalf("peer read = %v, want ErrStreamReset", err)
		}
		// A writer blocked or not: the peer's writes fail too.
		if err := p.WriteMessage([]byte("x")); !errors.Is(err, ErrStreamReset) {
			t.Fatalf("peer write = %v, want ErrStreamReset", err)
		}
		if _, err := c.ReadMessage(nil); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("local read after CloseWithError = %v, want ErrStreamClosed", err)
		}
		if err := c.WriteMessage([]byte("x")); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("local write after CloseWithError = %v, want ErrStreamClosed", err)
		}
		if s.Err() != nil || ss.Err() != nil {
			t.Fatal("a stream reset closed the session")
		}
	})

	t.Run("both-sides-open", func(t *testing.T) {
		const n = 6
		ctx := ctxFor(t)
		type res struct {
			id  uint64
			err error
		}
		results := make(chan res, 4*n)
		open := func(sess *Session, who string) {
			for i := 0; i < n; i++ {
				go func() {
					st, err := sess.OpenStream(ctx)
					if err != nil {
						results <- res{err: err}
						return
					}
					err = st.WriteMessage([]byte(fmt.Sprintf("%s %d", who, st.ID())))
					if err == nil {
						var m []byte
						m, err = st.ReadMessage(nil)
						if err == nil && string(m) != fmt.Sprintf("ack %d", st.ID()) {
							err = fmt.Errorf("stream %d: reply %q", st.ID(), m)
						}
					}
					results <- res{st.ID(), err}
				}()
			}
		}
		answer := func(sess *Session, who string) {
			for i := 0; i < n; i++ {
				st, err := sess.AcceptStream(ctx)
				if err != nil {
					results <- res{err: err}
					return
				}
				go func() {
					m, err := st.ReadMessage(nil)
					if err == nil && string(m) != fmt.Sprintf("%s %d", who, st.ID()) {
						err = fmt.Errorf("stream %d: got %q", st.ID(), m)
					}
					if err == nil {
						err = st.WriteMessage([]byte(fmt.Sprintf("ack %d", st.ID())))
					}
					results <- res{st.ID(), err}
				}()
			}
		}
		open(s, "client")
		open(ss, "server")
		go answer(ss, "client")
		go answer(s, "server")
		seen := map[uint64]int{}
		for i := 0; i < 4*n; i++ {
			select {
			case r := <-results:
				if r.err != nil {
					t.Fatal(r.err)
				}
				seen[r.id]++
			case <-ctx.Done():
				t.Fatal("timed out")
			}
		}
		var even, odd int
		for id, k := range seen {
			if k != 2 {
				t.Fatalf("stream %d reported %d times", id, k)
			}
			if id%2 == 0 {
				even++
			} else {
				odd++
			}
		}
		if even != n || odd != n {
			t.Fatalf("%d initiator (even) and %d responder (odd) streams, want %d each", even, odd, n)
		}
	})

	t.Run("read-deadline", func(t *testing.T) {
		c, p := streamPair(t, s, ss)
		p.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := p.ReadMessage(nil)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("read with nothing to read = %v, want ErrTimeout", err)
		}
		// A deadline in the past fails at once, even for Read.
		p.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := p.Read(make([]byte, 4)); !errors.Is(err, ErrTimeout) {
			t.Fatalf("Read with a past deadline = %v", err)
		}
		// Cleared, the stream is usable and nothing was lost.
		p.SetReadDeadline(time.Time{})
		if err := c.WriteMessage([]byte("after the timeout")); err != nil {
			t.Fatal(err)
		}
		if m, err := p.ReadMessage(nil); err != nil || string(m) != "after the timeout" {
			t.Fatalf("read after the timeout = %q, %v", m, err)
		}
		// A deadline set while a read is blocked wakes it.
		errc := make(chan error, 1)
		go func() {
			_, err := p.ReadMessage(nil)
			errc <- err
		}()
		p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if err := <-errc; !errors.Is(err, ErrTimeout) {
			t.Fatalf("blocked read = %v, want ErrTimeout", err)
		}
	})
}

// TestReusePortListener: a listener with two SO_REUSEPORT sockets serves many sessions, spread
// over both engines, with traffic on each.
func TestReusePortListener(t *testing.T) {
	srv := testNode(t, Config{Sockets: 2})
	if len(srv.engines) != 2 {
		t.Fatalf("%d engines", len(srv.engines))
	}
	ctx := ctxFor(t)
	go echoServer(ctx, srv)
	echoClients(t, ctx, srv, 20, 3000, 128<<10)
	// The kernel spreads the 20 clients' 4-tuples over both sockets (all on one: p = 2^-19), so
	// each engine carries sessions: far more than handshakes' worth of data in and out.
	st := srv.Stats()
	for i, e := range srv.engines {
		es := e.Stats()
		if es.RxBytes < busyEngineBytes || es.TxBytes < busyEngineBytes {
			t.Fatalf("engine %d carried no session's data: %+v", i, es)
		}
	}
	t.Logf("datagrams in %d out %d", st.RxDatagrams, st.TxDatagrams)
}

// busyEngineBytes is more than every handshake of these tests together: an engine that moved
// this much carried a session's data.
const busyEngineBytes = 256 << 10

// TestReusePortDialer: a node with two SO_REUSEPORT sockets dials out too. A reply may come in on
// the other socket than the one the HELLO left from (the kernel picks by the 4-tuple hash); the
// shared session table must make that invisible.
func TestReusePortDialer(t *testing.T) {
	srv := testNode(t, Config{Sockets: 2})
	cli := testNode(t, Config{Sockets: 2})
	ctx := ctxFor(t)
	go echoServer(ctx, srv)
	const n = 10
	for i := 0; i < n; i++ {
		s, err := cli.Dial(ctx, srv.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			m := bytes.Repeat([]byte{byte(i), byte(k)}, 500+k*100)
			if err := st.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
			got, err := st.ReadMessage(nil)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("session %d echo %d: %d bytes, %v", i, k, len(got), err)
			}
		}
	}
	for i, e := range cli.engines {
		if es := e.Stats(); es.TxBytes < busyEngineBytes/4 {
			t.Fatalf("the client's engine %d sent only %d bytes: its sessions all went through the other", i, es.TxBytes)
		}
	}
}

// echoServer accepts every session of srv and echoes each message on each of their streams.
func echoServer(ctx context.Context, srv *Node) {
	for {
		s, err := srv.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			for {
				st, err := s.AcceptStream(ctx)
				if err != nil {
					return
				}
				go func() {
					var buf []byte
					for {
						var err error
						if buf, err = st.ReadMessage(buf[:0]); err != nil {
							st.Close()
							return
						}
						if st.WriteMessage(buf) != nil {
							return
						}
					}
				}()
			}
		}()
	}
}

// TestShutdownTellsPeers: Node.Shutdown closes every session with code 8 and returns once they
// drained; each peer learns why (a remote CloseError with code 8), even over a lossy link while
// it is busy sending (the closing side answers late packets with SESSION_CLOSE again).
func TestShutdownTellsPeers(t *testing.T) {
	for _, l := range []link{{name: "clean"}, lossyLinks[2]} {
		t.Run(l.name, func(t *testing.T) {
			srv := testNode(t, Config{WrapConn: l.wrap(300)})
			ctx := ctxFor(t)
			const n = 3
			var sess []*Session
			writers := make(chan error, n)
			for i := 0; i < n; i++ {
				cli := testNode(t, Config{WrapConn: l.wrap(uint64(400 + i))})
				s, err := cli.Dial(ctx, srv.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				sess = append(sess, s)
				st, err := s.OpenStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				go func() { // busy until the session dies
					for {
						if err := st.WriteMessage(make([]byte, 4000)); err != nil {
							writers <- err
							return
						}
					}
				}()
			}
			pollUntil(t, "server sessions", func() bool { return srv.NumSessions() == n })
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for i, s := range sess {
				select {
				case <-s.Done():
				case <-ctx.Done():
					t.Fatalf("session %d outlived the server's shutdown", i)
				}
				var ce *dataplane.CloseError
				if err := s.Err(); !errors.As(err, &ce) || ce.Code != dataplane.CodeShutdown || !ce.Remote {
					t.Fatalf("session %d ended with %v; want the peer's shutdown (code %d)", i, err, dataplane.CodeShutdown)
				}
				if err := <-writers; !errors.Is(err, ErrSessionClosed) {
					t.Fatalf("writer %d ended with %v", i, err)
				}
			}
		})
	}
}

// TestSessionFlowControl: with many streams, the session window (MAX_DATA) binds before the
// stream windows; the sender stops exactly there while nobody reads, and everything arrives once
// the reader drains.
func TestSessionFlowControl(t *testing.T) {
	const streamWin, sessWin, streams, perStream = 64 << 10, 256 << 10, 8, 64 << 10
	srv, _, s := pair(t, link{name: "clean"},
		Config{Transport: dataplane.Config{StreamWindow: streamWin, SessionWindow: sessWin}}, Config{})
	ss := acceptSession(t, srv)
	ctx := ctxFor(t)
	msg := func(id uint64, k int) []byte { return bytes.Repeat([]byte{byte(id), byte(k)}, 2047) } // 4096 on the wire
	var cst []*Stream
	for i := 0; i < streams; i++ {
		st, err := s.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < perStream/4096; k++ {
			if err := st.WriteMessage(msg(st.ID(), k)); err != nil { // buffered: 4 MiB send buffer
				t.Fatal(err)
			}
		}
		st.CloseWrite()
		cst = append(cst, st)
	}
	// The peer receives exactly a session window's worth, not a byte more, while nobody reads.
	pollUntil(t, "a session window of data", func() bool { return ss.Stats().StreamBytesRecv >= sessWin })
	if got := ss.Stats().StreamBytesRecv; got != sessWin {
		t.Fatalf("peer received %d bytes with a %d-byte session window", got, sessWin)
	}
	errs := make(chan error, streams)
	for i := 0; i < streams; i++ {
		pst, err := ss.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for k := 0; ; k++ {
				m, err := pst.ReadMessage(nil)
				if errors.Is(err, io.EOF) && k == perStream/4096 {
					errs <- nil
					return
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d message %d: %w", pst.ID(), k, err)
					return
				}
				if !bytes.Equal(m, msg(pst.ID(), k)) {
					errs <- fmt.Errorf("stream %d message %d differs", pst.ID(), k)
					return
				}
			}
		}()
	}
	for i := 0; i < streams; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("transfer stalled")
		}
	}
	if s.Err() != nil || ss.Err() != nil {
		t.Fatalf("session closed: %v / %v", s.Err(), ss.Err())
	}
}

// TestLargestFramesDuringTransfer: application frames of MaxFrameSize, the largest SendFrame
// accepts, still go out while both directions carry stream data (every packet also has an ACK to
// carry).
func TestLargestFramesDuringTransfer(t *testing.T) {
	srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{})
	const typ, count = 0xB1, 50
	got := make(chan int, count)
	if err := srv.HandleFrame(typ, func(_ *Session, _ frame.Type, data []byte) { got <- len(data) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ss := acceptSession(t, srv)
	// Both directions busy until the test ends.
	for _, sess := range []*Session{s, ss} {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for ctx.Err() == nil && st.WriteMessage(make([]byte, 16<<10)) == nil {
			}
		}()
		go func() {
			peer := ss
			if sess == ss {
				peer = s
			}
			pst, err := peer.AcceptStream(ctx)
			if err != nil {
				return
			}
			for ctx.Err() == nil {
				if _, err := pst.ReadMessage(nil); err != nil {
					return
				}
			}
		}()
	}
	size := s.MaxFrameSize()
	for i := 0; i < count; i++ {
		if err := s.SendFrame(typ, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendFrame(typ, make([]byte, size+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("SendFrame(MaxFrameSize+1) = %v", err)
	}
	for i := 0; i < count; i++ {
		select {
		case n := <-got:
			if n != size {
				t.Fatalf("frame of %d bytes, sent %d", n, size)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d max-size frames arrived", i, count)
		}
	}
}
