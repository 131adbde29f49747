package dataplane

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/dataplane/recovery"
	"github.com/sttfast/sttfast/ring"
)

// pollEngine is an engine over a real UDP socket with the poll path prepared but its loops not
// started, so that only pollRx reads the socket; from is a socket to send it datagrams with.
func pollEngine(t *testing.T) (e *Engine, from *batchio.Conn) {
	t.Helper()
	c := listenUDP(t)
	e = NewEngine(c, Config{}, nil)
	newTxLoop(e) // its timer, never run
	e.initPoll(newRxLoop(e))
	if e.poller == nil {
		t.Fatal("an engine over a batchio.Conn has no poll path")
	}
	from = listenUDP(t)
	t.Cleanup(func() { e.conn.Close(); from.Close() })
	return e, from
}

// junk is one datagram that is not an STT packet (bad magic), allocated once.
var junk = batchio.NewSlab(1, 64).Messages()

// sendJunk sends junk to e's socket; loopback queues it before WriteBatch returns.
func sendJunk(t *testing.T, from *batchio.Conn, e *Engine) {
	junk[0].N, junk[0].Addr = 64, e.LocalAddr()
	if _, err := from.WriteBatch(junk); err != nil {
		t.Error(err)
	}
}

// What a reader reads from the socket goes through the RX loop's code (the drop is counted as
// the RX loop counts it), only under the RX baton, and never after the socket closed.
func TestPollRxUnderBaton(t *testing.T) {
	e, from := pollEngine(t)
	if e.pollRx() > 0 {
		t.Fatal("pollRx read something from an empty socket")
	}
	sendJunk(t, from, e)
	e.rxMu.Lock() // the RX loop at work: a poller leaves the socket alone
	if e.pollRx() > 0 {
		t.Fatal("pollRx read while another goroutine held the RX baton")
	}
	e.rxMu.Unlock()
	if e.pollRx() == 0 {
		t.Fatal("pollRx did not read the queued datagram")
	}
	st := e.Stats()
	if st.RxPolled != 1 || st.RxBatches != 1 || st.RxDatagrams != 1 || st.Drops[DropBadMagic] != 1 {
		t.Fatalf("after one polled datagram: polled %d batches %d datagrams %d bad-magic drops %d; want 1 each",
			st.RxPolled, st.RxBatches, st.RxDatagrams, st.Drops[DropBadMagic])
	}
	sendJunk(t, from, e)
	e.conn.Close()
	if e.pollRx() > 0 {
		t.Fatal("pollRx read from a closed socket")
	}
}

// ReadPoll < 0 turns the poll path off; paths that cannot be polled never have it.
func TestPollPathOnlyWhereItApplies(t *testing.T) {
	c := listenUDP(t)
	defer c.Close()
	e := NewEngine(c, Config{ReadPoll: -1}, nil)
	if e.initPoll(newRxLoop(e)); e.poller != nil {
		t.Fatal("ReadPoll < 0 left the poll path on")
	}
	m := newMemConn(pairAddrA)
	e = NewEngine(m, Config{}, nil)
	if e.initPoll(newRxLoop(e)); e.poller != nil {
		t.Fatal("a conn without TryReadBatch got a poll path")
	}
}

// A ping-pong between two started engines over UDP, with a poll long enough that the waiting
// reader is still polling when the answer comes: every message comes back intact, and readers
// received on the socket themselves (the RX loops, woken by the netpoller, race them for each
// packet; over 2 x 300 waits a reader wins some).
func TestReadPollPingPong(t *testing.T) {
	cfg := Config{ReadPoll: 20 * time.Millisecond}
	ca, cb := listenUDP(t), listenUDP(t)
	cli, srv, cs, ss := startPairConfig(t, cfg, ca, cb, cb.LocalAddr(), ca.LocalAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const rounds = 300
	echoed := make(chan error, 1)
	go func() { echoed <- echoRounds(ctx, ss, rounds) }()
	st, err := cs.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64)
	var back []byte
	for i := range rounds {
		for j := range msg {
			msg[j] = byte(i + j)
		}
		if err := st.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		if back, err = st.ReadMessage(back[:0]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("round %d: echo %x, sent %x", i, back, msg)
		}
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
	if p := cli.Stats().RxPolled + srv.Stats().RxPolled; p == 0 {
		t.Fatalf("no reader received on the socket itself in %d round trips", rounds)
	}
}

// A polling reader holds the socket's netpoller wake-ups only while it polls: after an
// exchange, a message on another stream, whose reader parks at once (it never wrote), reaches
// it through the RX loop, which the netpoller must wake again. A release that left the
// registration without EPOLLIN leaves the engine deaf here (the test then fails at its
// deadline: checked by breaking the release).
func TestPollReleasesNetpollerWakes(t *testing.T) {
	cfg := Config{ReadPoll: 20 * time.Millisecond}
	ca, cb := listenUDP(t), listenUDP(t)
	cli, _, cs, ss := startPairConfig(t, cfg, ca, cb, cb.LocalAddr(), ca.LocalAddr())
	if !ca.HoldReadWakes() {
		if runtime.GOOS == "linux" {
			t.Fatal("the runtime's epoll registration of the socket was not found: the hold is off")
		}
		t.Skip("platform: the read-wake hold is Linux's (the Go runtime's epoll netpoller); elsewhere a poll holds nothing")
	}
	ca.ReleaseReadWakes()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := cs.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	served := make(chan error, 1)
	go func() {
		if err := echoRounds(ctx, ss, rounds); err != nil {
			served <- err
			return
		}
		// Push only when the client says its exchange is over, so no poll of its can take the
		// push on the way.
		gone, err := ss.AcceptStream(ctx)
		if err == nil {
			_, err = gone.ReadMessage(nil)
		}
		if err != nil {
			served <- err
			return
		}
		push, err := ss.OpenStream(ctx)
		if err == nil {
			err = push.WriteMessage([]byte("after the exchange"))
		}
		served <- err
	}()
	var back []byte
	for i := range rounds {
		if err := req.WriteMessage([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if back, err = req.ReadMessage(back[:0]); err != nil || len(back) != 1 || back[0] != byte(i) {
			t.Fatalf("round %d: echo %x, %v", i, back, err)
		}
	}
	polled := cli.Stats().RxPolled
	done, err := cs.OpenStream(ctx)
	if err == nil {
		err = done.WriteMessage([]byte("done"))
	}
	if err != nil {
		t.Fatal(err)
	}
	push, err := cs.AcceptStream(ctx)
	if err != nil {
		t.Fatalf("the stream opened after the exchange was never accepted: %v", err)
	}
	if err := push.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := push.ReadMessage(nil); err != nil || string(got) != "after the exchange" {
		t.Fatalf("message after the exchange: %q, %v", got, err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if polled == 0 {
		t.Fatalf("no reader received on the socket itself in %d round trips: no wake-up was held", rounds)
	}
}

// Only a reader whose own stream wrote since it last polled polls the socket: a one-way
// stream's reader parks at once even while its engine is in an exchange on another stream
// (an inline send just now), and a reader polls once per write, not again after a poll that
// found nothing.
func TestPollOnlyAfterOwnWrite(t *testing.T) {
	e, from := pollEngine(t)
	e.started.Store(true) // the loops stay off: only the reader reads
	st := &Stream{s: &Session{e: e}}
	sendJunk(t, from, e)
	inExchange(e) // another stream's exchange
	if st.pollFor(1) || e.Stats().RxPolled != 0 {
		t.Fatalf("a reader whose stream wrote nothing polled (%d batches)", e.Stats().RxPolled)
	}
	st.kicked.Store(true) // its own write
	inExchange(e)
	st.pollFor(1)
	if got := e.Stats().RxPolled; got != 1 {
		t.Fatalf("a reader after its own write polled %d batches, want the queued one", got)
	}
	if st.kicked.Load() {
		t.Fatal("the poll did not use up the write's turn")
	}
	sendJunk(t, from, e)
	inExchange(e)
	if st.pollFor(1); e.Stats().RxPolled != 1 {
		t.Fatal("a reader polled again without writing since")
	}
}

// holdCounter counts a poller's holds and releases of the netpoller wake-ups.
type holdCounter struct {
	batchPoller
	e               *Engine
	holds, releases int
	polledAtRelease uint64 // the engine's RxPolled at the last release
}

func (h *holdCounter) HoldReadWakes() bool {
	h.holds++
	h.batchPoller.HoldReadWakes()
	return true
}

func (h *holdCounter) ReleaseReadWakes() {
	h.releases++
	h.polledAtRelease = h.e.Stats().RxPolled
	h.batchPoller.ReleaseReadWakes()
}

// countedPollEngine is pollEngine with its poller's holds and releases counted, its loops
// off (only the reader reads, on the test's goroutine), polls of 1 ms, and a stream to poll for.
func countedPollEngine(t *testing.T) (e *Engine, from *batchio.Conn, hc *holdCounter, st *Stream) {
	t.Helper()
	e, from = pollEngine(t)
	e.started.Store(true)
	hc = &holdCounter{batchPoller: e.poller, e: e}
	e.poller = hc
	e.cfg.ReadPoll = time.Millisecond
	return e, from, hc, &Stream{s: &Session{e: e}}
}

// A poll holds the netpoller's wake-ups once and releases them once, also when it returns
// early; a try that fills every poll buffer (a busy socket, not an exchange) releases the hold
// at once and the poll goes on without it.
func TestPollHoldsWakesOncePerPoll(t *testing.T) {
	e, from, hc, st := countedPollEngine(t)
	st.kicked.Store(true)
	inExchange(e)
	if st.pollFor(1) {
		t.Fatal("a poll of an empty socket found data")
	}
	if hc.holds != 1 || hc.releases != 1 {
		t.Fatalf("one poll: %d holds, %d releases; want 1, 1", hc.holds, hc.releases)
	}
	// Datagrams of different sizes are not coalesced (GRO), so each fills a poll buffer.
	for i := range pollBatch + 1 {
		junk[0].N, junk[0].Addr = 64-i, e.LocalAddr()
		if _, err := from.WriteBatch(junk); err != nil {
			t.Fatal(err)
		}
	}
	st.kicked.Store(true)
	inExchange(e)
	polled := e.Stats().RxPolled
	st.pollFor(1)
	if hc.holds != 2 || hc.releases != 2 {
		t.Fatalf("a poll that met a full batch: %d holds, %d releases; want 2, 2", hc.holds, hc.releases)
	}
	if hc.polledAtRelease != polled+1 {
		t.Fatalf("the hold ended after %d polled batches, want right after the full one",
			hc.polledAtRelease-polled)
	}
	if got := e.Stats().Drops[DropBadMagic]; got != pollBatch+1 {
		t.Fatalf("%d junk datagrams dropped, want all %d read by the poll", got, pollBatch+1)
	}
}

// echoRounds accepts a stream on s and echoes rounds messages back on it, one at a time: the
// server half of a ping-pong.
func echoRounds(ctx context.Context, s *Session, rounds int) error {
	st, err := s.AcceptStream(ctx)
	if err != nil {
		return err
	}
	var buf []byte
	for range rounds {
		if buf, err = st.ReadMessage(buf[:0]); err != nil {
			return err
		}
		if err = st.WriteMessage(buf); err != nil {
			return err
		}
	}
	return nil
}

// inExchange marks e as in an exchange (an inline send) for the next minute: stamped with the
// time now, the 100 µs window closed before the poll whenever the test's goroutine was
// descheduled in between (CI, once: a poll that never held the wake-ups).
func inExchange(e *Engine) {
	e.lastInline.Store(int64(recovery.Now().Add(time.Minute)))
}

// A poll that got its answer keeps its hold as the engine's lease, and the exchange's next
// poll takes it over: two polls, one hold, no release. The lease ends when a goroutine parks on
// a stream of the engine (it waits for the RX loop), and a poll that found nothing releases the
// hold it took over.
func TestPollLeaseCarriesHold(t *testing.T) {
	e, from, hc, st := countedPollEngine(t)
	for range 2 {
		sendJunk(t, from, e)
		st.kicked.Store(true)
		inExchange(e)
		st.pollFor(0) // need 0: readable at once, as when the answer came
		if e.leaseEnd.Load() == 0 {
			t.Fatal("a poll that got its answer released its hold: no lease")
		}
	}
	if hc.holds != 1 || hc.releases != 0 {
		t.Fatalf("two polls of an exchange: %d holds, %d releases; want 1, 0", hc.holds, hc.releases)
	}
	st.kicked.Store(true)
	inExchange(e)
	if st.pollFor(1) {
		t.Fatal("a poll of an empty socket found data")
	}
	if hc.holds != 1 || hc.releases != 1 || e.leaseEnd.Load() != 0 {
		t.Fatalf("a poll that found nothing: %d holds, %d releases, lease %d; want 1, 1, none",
			hc.holds, hc.releases, e.leaseEnd.Load())
	}
	st.kicked.Store(true)
	inExchange(e)
	st.pollFor(0)
	st.s.done = make(chan struct{})
	close(st.s.done)
	w := ring.NewWaker()
	if err := st.park(w, &st.readDl); err == nil {
		t.Fatal("park on a closed session returned no error")
	}
	if hc.releases != 2 || e.leaseEnd.Load() != 0 {
		t.Fatalf("a parked goroutine left the lease out (%d releases)", hc.releases)
	}
}

// A lease that no poll took over lapses: the TX loop's timer is pulled to its end and the
// loop releases it, so after an exchange the RX loop hears the socket again without anyone
// parking (a node that only writes still needs its acknowledgements).
func TestPollLeaseLapses(t *testing.T) {
	cfg := Config{ReadPoll: 20 * time.Millisecond}
	ca, cb := listenUDP(t), listenUDP(t)
	cli, _, cs, ss := startPairConfig(t, cfg, ca, cb, cb.LocalAddr(), ca.LocalAddr())
	released := make(chan struct{}, 1)
	hc := &leaseWatch{batchPoller: cli.poller, released: released}
	cli.poller = hc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := cs.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- echoRounds(ctx, ss, 20) }()
	var back []byte
	for i := range 20 {
		if err := req.WriteMessage([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if back, err = req.ReadMessage(back[:0]); err != nil || len(back) != 1 || back[0] != byte(i) {
			t.Fatalf("round %d: echo %x, %v", i, back, err)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if cli.Stats().RxPolled == 0 {
		t.Fatal("no reader received on the socket itself: nothing was held")
	}
	for cli.leaseEnd.Load() != 0 {
		select {
		case <-released:
		case <-ctx.Done():
			t.Fatal("the lease never lapsed: the TX loop did not release it")
		}
	}
}

// leaseWatch reports each release of the netpoller wake-ups on a channel.
type leaseWatch struct {
	batchPoller
	released chan struct{}
}

func (l *leaseWatch) ReleaseReadWakes() {
	l.batchPoller.ReleaseReadWakes()
	select {
	case l.released <- struct{}{}:
	default:
	}
}
