package dispatch

import (
	"errors"
	"sync"
	"testing"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
)

// recorder remembers which handler saw which frame.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handler(name string) ctrl.FrameHandler {
	return func(_ *ctrl.Session, t frame.Type, data []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, name+":"+string(data))
	}
}

func TestRoutesByTypeThenFallback(t *testing.T) {
	d := New()
	var r recorder
	d.Handle(0x80, r.handler("a"))
	d.Handle(0xFF, r.handler("z"))
	d.Dispatch(nil, 0x80, []byte("1"))
	d.Dispatch(nil, 0x81, []byte("2")) // nobody: counted
	d.Fallback(r.handler("fb"))
	d.Dispatch(nil, 0x81, []byte("3"))
	d.Dispatch(nil, 0xFF, []byte("4"))
	d.Handle(0x80, nil) // removed: falls back
	d.Dispatch(nil, 0x80, []byte("5"))
	want := []string{"a:1", "fb:3", "z:4", "fb:5"}
	if len(r.got) != len(want) {
		t.Fatalf("got %v, want %v", r.got, want)
	}
	for i := range want {
		if r.got[i] != want[i] {
			t.Fatalf("got %v, want %v", r.got, want)
		}
	}
	if d.Unhandled() != 1 {
		t.Fatalf("Unhandled = %d, want 1", d.Unhandled())
	}
}

func TestRefusesProtocolTypes(t *testing.T) {
	if err := New().Handle(0x10, func(*ctrl.Session, frame.Type, []byte) {}); !errors.Is(err, ErrNotApplication) {
		t.Fatalf("Handle(0x10): %v", err)
	}
	d := New()
	d.Dispatch(nil, 0x10, nil) // a registrar never passes one, but if it did: counted, no panic
	if d.Unhandled() != 1 {
		t.Fatal("a protocol type was not counted")
	}
}

// Registrations race with dispatches (run under -race): no torn reads, every frame lands in
// exactly one place.
func TestConcurrentRegistration(t *testing.T) {
	d := New()
	var handled sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	count := func(name string) ctrl.FrameHandler {
		return func(*ctrl.Session, frame.Type, []byte) { mu.Lock(); counts[name]++; mu.Unlock() }
	}
	d.Fallback(count("fallback"))
	handled.Add(2)
	go func() {
		defer handled.Done()
		for i := range 1000 {
			if i%2 == 0 {
				d.Handle(0x90, count("h"))
			} else {
				d.Handle(0x90, nil)
			}
		}
	}()
	go func() {
		defer handled.Done()
		for range 1000 {
			d.Dispatch(nil, 0x90, nil)
		}
	}()
	handled.Wait()
	if counts["h"]+counts["fallback"] != 1000 || d.Unhandled() != 0 {
		t.Fatalf("counts %v, unhandled %d: want 1000 frames handled once each", counts, d.Unhandled())
	}
}
