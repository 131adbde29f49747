package dataplane

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// narrowLink is a real loopback socket behind a path that carries UDP payloads up to limit
// bytes and silently drops larger datagrams, as a router with a smaller MTU does to packets
// with DF set (no ICMP reaches the sender: a black hole for anything larger). The limit can
// change during a transfer. Probes (WriteUnfragmented) meet the same rule.
type narrowLink struct {
	*batchio.Conn
	limit   atomic.Int64
	dropped atomic.Uint64
	kept    []batchio.Message
}

func newNarrowLink(t *testing.T, limit int) *narrowLink {
	l := &narrowLink{Conn: listenUDP(t)}
	l.limit.Store(int64(limit))
	return l
}

// pass keeps the messages whose datagrams fit the limit (a GSO message's segments share a
// size; its last may be shorter and is dropped with the rest, which loss recovery handles).
func (l *narrowLink) pass(msgs []batchio.Message) []batchio.Message {
	limit := int(l.limit.Load())
	l.kept = l.kept[:0]
	for _, m := range msgs {
		seg := m.N
		if m.Seg > 0 && m.Seg < m.N {
			seg = m.Seg
		}
		if seg > limit {
			l.dropped.Add(uint64(m.NumDatagrams()))
			continue
		}
		l.kept = append(l.kept, m)
	}
	return l.kept
}

func (l *narrowLink) WriteBatch(msgs []batchio.Message) (int, error) {
	if _, err := l.Conn.WriteBatch(l.pass(msgs)); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

func (l *narrowLink) WriteUnfragmented(msgs []batchio.Message) (int, error) {
	if _, err := l.Conn.WriteUnfragmented(l.pass(msgs)); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

func pmtuPair(t *testing.T, limit int) (cl, sl *narrowLink, cs, ss *Session, cli, srv *Engine) {
	cl, sl = newNarrowLink(t, limit), newNarrowLink(t, limit)
	cli, srv, cs, ss = startPair(t, cl, sl, sl.LocalAddr(), cl.LocalAddr())
	return cl, sl, cs, ss, cli, srv
}

// Over real loopback sockets behind a path that carries at most 4000 bytes of UDP payload,
// both sessions start at 1200, discover the path's size (within pmtuGranularity below it, never
// above) and a 16 MiB transfer arrives byte-exact in packets of that size.
func TestPMTUDConvergesOverLoopback(t *testing.T) {
	const limit = 4000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard
	defer cancel()
	cl, sl, cs, ss, cli, _ := pmtuPair(t, limit)
	waitFor(ctx, t, "the dialer's search to end", func() bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.pmtu.phase == pmtuComplete
	})
	data := randomBytes(16<<20, 15)
	p := transferWatched(ctx, cs, ss, data)
	p.wait(ctx, t)
	st := cs.Stats()
	es := cli.Stats()
	cs.mu.Lock() // the RX loop still updates the search state as late ACKs arrive
	t.Logf("black holes %d, pmtu %+v", es.PMTUBlackHoles, cs.pmtu)
	cs.mu.Unlock()
	t.Logf("dialer: path MTU %d after %d probes (%d acknowledged, %d lost); %d datagrams dropped by the link; %d bytes resent, %d packets lost",
		st.PathMTU, es.PMTUProbesSent, es.PMTUProbesAcked, es.PMTUProbesLost, cl.dropped.Load(), st.RetransmittedBytes, st.PacketsLost)
	if st.PathMTU > limit || st.PathMTU < limit-pmtuGranularity {
		t.Fatalf("dialer's path MTU %d, want within %d below %d", st.PathMTU, pmtuGranularity, limit)
	}
	if sp := ss.Stats().PathMTU; sp > limit || sp < limit-pmtuGranularity {
		t.Fatalf("server's path MTU %d, want within %d below %d", sp, pmtuGranularity, limit)
	}
	if es.PMTUBlackHoles != 0 {
		t.Fatalf("%d black holes on a steady path", es.PMTUBlackHoles)
	}
	_ = sl
}

// A black hole appears mid-transfer: the path that carried 8972-byte packets now drops
// anything above 3000 bytes, without a word. The sender must notice, fall back to 1200, finish
// the transfer byte-exact, and then search again and settle at what the path carries now.
func TestPMTUDBlackHoleMidTransfer(t *testing.T) {
	const after = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // hang guard
	defer cancel()
	cl, sl, cs, ss, cli, _ := pmtuPair(t, 65535)
	waitFor(ctx, t, "the dialer to discover 8972", func() bool { return cs.Stats().PathMTU == DefaultMaxPayloadSize })
	data := randomBytes(24<<20, 16)
	p := transferWatched(ctx, cs, ss, data)
	p.waitBytes(ctx, t, 4<<20)
	cl.limit.Store(after)
	sl.limit.Store(after)
	p.wait(ctx, t)
	if bh := cli.Stats().PMTUBlackHoles; bh == 0 {
		t.Fatal("the transfer survived but no black hole was detected")
	}
	waitFor(ctx, t, "the search after the black hole to settle", func() bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.pmtu.phase == pmtuComplete && cs.pmtu.raised()
	})
	st := cs.Stats()
	es := cli.Stats()
	t.Logf("dialer: %d black holes, path MTU now %d; %d probes (%d acknowledged, %d lost); %d bytes resent",
		es.PMTUBlackHoles, st.PathMTU, es.PMTUProbesSent, es.PMTUProbesAcked, es.PMTUProbesLost, st.RetransmittedBytes)
	if st.PathMTU > after || st.PathMTU < after-pmtuGranularity {
		t.Fatalf("path MTU %d after the re-search, want within %d below %d", st.PathMTU, pmtuGranularity, after)
	}
}
