package wspath

import (
	"net/http"
	"testing"
	"time"
)

// waitStats polls srv's Stats until cond holds; the deadline only guards against a hang (gnet
// admits a connection some time after the client's connect returns).
func waitStats(t *testing.T, srv *Conn, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := srv.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// Half-open connections beyond MaxPendingUpgrades evict the oldest one, so that a client that
// sends its request at once still gets through, and the pending ones never take more than their
// own cap.
func TestPendingUpgradesEvictOldest(t *testing.T) {
	srv := listenT(t, Config{MaxConns: 8, MaxPendingUpgrades: 2})
	a := rawDial(t, srv)
	waitStats(t, srv, "a pending", func(st Stats) bool { return st.Pending == 1 })
	b := rawDial(t, srv)
	waitStats(t, srv, "a and b pending", func(st Stats) bool { return st.Pending == 2 })
	c := rawDial(t, srv) // evicts a, the oldest
	a.expectEOF()
	c.upgrade("/stt")
	st := waitStats(t, srv, "c upgraded", func(st Stats) bool { return st.Conns == 1 })
	if st.Pending != 1 || st.RefusedBy[RefusedEvicted] != 1 || st.Refused != 1 {
		t.Fatalf("stats %+v, want b pending, a evicted", st)
	}
	// b, still pending, is not evicted while there is room, and may still upgrade.
	b.upgrade("/stt")
	waitStats(t, srv, "b upgraded", func(st Stats) bool { return st.Conns == 2 && st.Pending == 0 })
}

// At MaxConns a new connection evicts a pending one rather than being refused; once every
// connection has upgraded, a new one is refused (conn_cap), and the upgraded ones are untouched.
func TestMaxConnsEvictsPendingFirst(t *testing.T) {
	srv := listenT(t, Config{MaxConns: 2})
	if srv.cfg.MaxPendingUpgrades != 2 {
		t.Fatalf("MaxPendingUpgrades defaults to %d with MaxConns 2; want 2", srv.cfg.MaxPendingUpgrades)
	}
	a := rawDial(t, srv)
	a.upgrade("/stt")
	b := rawDial(t, srv)
	waitStats(t, srv, "b pending", func(st Stats) bool { return st.Pending == 1 })
	c := rawDial(t, srv) // MaxConns reached: b, pending, makes room
	b.expectEOF()
	c.upgrade("/stt")
	d := rawDial(t, srv) // a and c upgraded: no room
	d.expectEOF()
	st := srv.Stats()
	if st.Conns != 2 || st.RefusedBy[RefusedEvicted] != 1 || st.RefusedBy[RefusedConnCap] != 1 {
		t.Fatalf("stats %+v, want a and c open, b evicted, d refused", st)
	}
}

// A connection evicted while its request is on its way does not upgrade: the request arrives at
// a connection that is already being closed.
func TestEvictedConnDoesNotUpgrade(t *testing.T) {
	srv := listenT(t, Config{MaxConns: 8, MaxPendingUpgrades: 1})
	a := rawDial(t, srv)
	waitStats(t, srv, "a pending", func(st Stats) bool { return st.Pending == 1 })
	b := rawDial(t, srv)
	waitStats(t, srv, "a evicted", func(st Stats) bool { return st.RefusedBy[RefusedEvicted] == 1 })
	if _, err := a.nc.Write([]byte(upgradeRequest("/stt"))); err == nil {
		a.expectEOF() // no 101: the connection ends
	}
	if resp := b.request(upgradeRequest("/stt")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("b: status %d", resp.StatusCode)
	}
	if st := srv.Stats(); st.Upgrades != 1 {
		t.Fatalf("stats %+v, want only b upgraded", st)
	}
}

// The pending list keeps its order and its length through removals anywhere.
func TestPendingList(t *testing.T) {
	var l pendingList
	cs := make([]*serverConn, 4)
	for i := range cs {
		cs[i] = &serverConn{}
		l.push(cs[i])
	}
	l.remove(cs[1])
	l.remove(cs[1]) // not listed: nothing happens
	l.remove(cs[3])
	l.remove(cs[0])
	if l.n != 1 || l.head != cs[2] || l.tail != cs[2] || cs[2].prev != nil || cs[2].next != nil {
		t.Fatalf("list %+v after removals; want only cs[2]", l)
	}
	l.remove(cs[2])
	if l.n != 0 || l.head != nil || l.tail != nil {
		t.Fatalf("list %+v; want empty", l)
	}
}

// The wakers a Listener dials to itself at start are pending connections until their token
// arrives: a pending cap below the number of event loops must not evict them.
func TestPendingCapSparesWakers(t *testing.T) {
	for range 5 {
		srv := listenT(t, Config{EventLoops: 4, MaxPendingUpgrades: 1})
		r := rawDial(t, srv)
		r.upgrade("/stt")
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
