package recovery

import "testing"

// ensembleSum checks the ensemble's invariant: its bytes in flight are its members' sum.
func ensembleSum(t *testing.T, e *Ensemble, members ...*Sender) {
	t.Helper()
	sum := 0
	for _, s := range members {
		if s.Ensemble() == e {
			sum += s.BytesInFlight()
		}
	}
	if got := e.BytesInFlight(); got != sum {
		t.Fatalf("ensemble in flight %d, members' sum %d", got, sum)
	}
}

// TestEnsembleAccounting follows an ensemble's bytes in flight through everything that moves a
// member's: sends, ACKs, losses by packet threshold, a PTO and the loss it leads to, a path change,
// Drop, Init and leaving. After each step they equal the members' sum, and at the end 0.
func TestEnsembleAccounting(t *testing.T) {
	e := NewEnsemble(0)
	a, b := newSender(noPace()), newSender(noPace())
	a.JoinEnsemble(e)
	b.JoinEnsemble(e)
	if e.Window() != a.Window() {
		t.Fatalf("window %d, want the members' %d", e.Window(), a.Window())
	}
	h := &countHandler{}
	send(t, a, t0, 6, 1200, 1)
	send(t, b, t0, 4, 1200, 1)
	ensembleSum(t, e, a, b)
	if e.BytesInFlight() != 12000 || e.Room() {
		t.Fatalf("in flight %d of %d, room %v", e.BytesInFlight(), e.Window(), e.Room())
	}
	if a.CanSend() || !a.EnsembleLimited() {
		t.Fatalf("a may send %v with the ensemble full (limited %v)", a.CanSend(), a.EnsembleLimited())
	}
	// a's packets 3..5 acknowledged: 0..2 are lost by the packet threshold.
	ack(t, a, t0+10*ms, h, Range{3, 5})
	ensembleSum(t, e, a, b)
	if a.BytesInFlight() != 0 || e.BytesInFlight() != 4800 {
		t.Fatalf("a %d, ensemble %d", a.BytesInFlight(), e.BytesInFlight())
	}
	w := e.Window()
	if w >= 12000 {
		t.Fatalf("a loss left the ensemble's window at %d", w)
	}
	// b's PTO: probes stay in flight until acknowledged or lost.
	if p := b.OnTimeout(b.Deadline(), h); p != MaxProbes {
		t.Fatalf("PTO gave %d probes", p)
	}
	ensembleSum(t, e, a, b)
	pn := send(t, b, b.Deadline()-1, 1, 1200, 1)
	ack(t, b, b.Deadline(), h, Range{pn, pn})
	ensembleSum(t, e, a, b)
	// b's path changes: its outstanding packets are forgotten.
	send(t, b, t0+20*ms, 2, 1200, 1)
	b.ChangePath(noPace(), false, h)
	ensembleSum(t, e, a, b)
	send(t, a, t0+30*ms, 2, 1200, 1)
	send(t, b, t0+30*ms, 2, 1200, 1)
	a.Drop(h)
	ensembleSum(t, e, a, b)
	b.Init(noPace()) // a new session in b's memory: it leaves the ensemble with what it had
	if b.Ensemble() != nil {
		t.Fatal("Init kept the ensemble")
	}
	ensembleSum(t, e, a, b)
	send(t, a, t0+40*ms, 1, 1200, 1)
	a.LeaveEnsemble()
	if e.BytesInFlight() != 0 || a.BytesInFlight() != 1200 {
		t.Fatalf("after leaving: ensemble %d, a %d", e.BytesInFlight(), a.BytesInFlight())
	}
}

// TestEnsembleOneEventPerLossBurst: losses of the members' packets sent before the ensemble's
// last decrease are the same congestion event; a loss of one sent after it is a new one.
func TestEnsembleOneEventPerLossBurst(t *testing.T) {
	e := NewEnsemble(0)
	m := make([]*Sender, 4)
	for i := range m {
		m[i] = newSender(noPace())
		m[i].JoinEnsemble(e)
	}
	h := &countHandler{}
	for _, s := range m {
		send(t, s, t0, 5, 1200, 1)
	}
	w0 := e.Window()
	for i, s := range m { // each member loses its first packet (the packet threshold)
		ack(t, s, t0+10*ms+Time(i)*ms, h, Range{4, 4})
	}
	if w := e.Window(); w != w0*7/10 {
		t.Fatalf("four members' losses from one burst took the window from %d to %d, want one decrease to %d", w0, w, w0*7/10)
	}
	ensembleSum(t, e, m...)
	send(t, m[0], t0+20*ms, 5, 1200, 1)
	ack(t, m[0], t0+30*ms, h, Range{9, 9}) // packets 5..6 lost, sent after the decrease
	if w := e.Window(); w != w0*7/10*7/10 {
		t.Fatalf("a later loss: window %d, want %d", w, w0*7/10*7/10)
	}
}

// TestEnsembleGrowsOnlyWhenInUse: acknowledgements grow the ensemble's window (slow start) only
// for packets sent while it was nearly full, as a Sender's own window validation does.
func TestEnsembleGrowsOnlyWhenInUse(t *testing.T) {
	e := NewEnsemble(0)
	a, b := newSender(noPace()), newSender(noPace())
	a.JoinEnsemble(e)
	b.JoinEnsemble(e)
	w0 := e.Window()
	h := &countHandler{}
	send(t, a, t0, 2, 1200, 1) // far from full
	ack(t, a, t0+10*ms, h, Range{0, 1})
	if e.Window() != w0 {
		t.Fatalf("an idle ensemble grew from %d to %d", w0, e.Window())
	}
	send(t, a, t0+20*ms, 5, 1200, 1)
	send(t, b, t0+20*ms, 5, 1200, 1) // 12000 bytes: full
	ack(t, a, t0+30*ms, h, Range{2, 6})
	ack(t, b, t0+30*ms, h, Range{0, 4})
	if e.Window() != w0+12000 {
		t.Fatalf("window %d after a full window acknowledged in slow start, want %d", e.Window(), w0+12000)
	}
	ensembleSum(t, e, a, b)
}

// TestEnsembleLoneSenderUntouched: a Sender in no ensemble is not limited by one.
func TestEnsembleLoneSenderUntouched(t *testing.T) {
	s := newSender(noPace())
	if s.Ensemble() != nil || s.EnsembleLimited() {
		t.Fatal("a new Sender is in an ensemble")
	}
	send(t, s, t0, 9, 1200, 1)
	if !s.CanSend() {
		t.Fatal("own window has room, CanSend false")
	}
}
