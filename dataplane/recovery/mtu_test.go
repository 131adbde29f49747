package recovery

import "testing"

// A path found narrower lowers the unit the window floor is counted in, never the window
// itself; a larger size is ignored.
func TestSetMaxDatagramSize(t *testing.T) {
	for _, algo := range []Algorithm{Cubic, NewReno, BBR} {
		var s Sender
		s.Init(Config{MaxDatagramSize: 1200, Algorithm: algo})
		w := s.Window()
		s.SetMaxDatagramSize(1072)
		if got := s.MaxDatagramSize(); got != 1072 {
			t.Fatalf("%v: MaxDatagramSize = %d after lowering to 1072", algo, got)
		}
		if s.Window() != w {
			t.Fatalf("%v: window %d -> %d: lowering the datagram size must not move it", algo, w, s.Window())
		}
		s.SetMaxDatagramSize(1400)
		s.SetMaxDatagramSize(0)
		if got := s.MaxDatagramSize(); got != 1072 {
			t.Fatalf("%v: MaxDatagramSize = %d after 1400 and 0, want 1072 kept", algo, got)
		}
		min := s.cc.minWindow
		if algo == BBR {
			min = s.bbr.minCwnd
		}
		if min%1072 != 0 || min > 4*1072 {
			t.Fatalf("%v: window floor %d is not counted in 1072-byte datagrams", algo, min)
		}
	}
}

// Path MTU discovery raises the unit (and with it the floor counted in datagrams), never the
// window; a smaller size is ignored by the raising call.
func TestRaiseMaxDatagramSize(t *testing.T) {
	for _, algo := range []Algorithm{Cubic, NewReno, BBR} {
		var s Sender
		s.Init(Config{MaxDatagramSize: 1200, Algorithm: algo})
		w := s.Window()
		s.RaiseMaxDatagramSize(8972)
		s.RaiseMaxDatagramSize(1100)
		if got := s.MaxDatagramSize(); got != 8972 {
			t.Fatalf("%v: MaxDatagramSize = %d after raising to 8972, want 8972", algo, got)
		}
		if s.Window() != w && algo != BBR {
			t.Fatalf("%v: window %d -> %d: raising the datagram size must not move it", algo, w, s.Window())
		}
		min := s.cc.minWindow
		if algo == BBR {
			min = s.bbr.minCwnd
		}
		if min%8972 != 0 {
			t.Fatalf("%v: window floor %d is not counted in 8972-byte datagrams", algo, min)
		}
		s.SetMaxDatagramSize(1200) // a black hole: back to the base size
		if got := s.MaxDatagramSize(); got != 1200 {
			t.Fatalf("%v: MaxDatagramSize = %d after lowering back, want 1200", algo, got)
		}
	}
}
