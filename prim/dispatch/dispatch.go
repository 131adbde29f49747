package dispatch

import (
	"errors"
	"sync/atomic"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
)

// ErrNotApplication: the type is below 0x80, where the protocol's own frames live.
var ErrNotApplication = errors.New("dispatch: not an application frame type (0x80-0xFF)")

// FrameRegistrar is what a Dispatcher attaches to: ctrl.Node, or anything that routes
// application frames the same way.
type FrameRegistrar interface {
	HandleFrame(t frame.Type, h ctrl.FrameHandler) error
}

// Dispatcher routes application frames to handlers by type. Its zero value is not usable; New
// makes one. All methods are safe for concurrent use, also while frames are dispatched.
type Dispatcher struct {
	handlers  [256 - int(frame.TypeAppMin)]atomic.Pointer[ctrl.FrameHandler]
	fallback  atomic.Pointer[ctrl.FrameHandler]
	unhandled atomic.Uint64
}

// New returns a dispatcher with no handlers.
func New() *Dispatcher { return &Dispatcher{} }

// Attach registers the dispatcher for every application frame type on r (a ctrl.Node), so that
// all of them pass through Dispatch.
func (d *Dispatcher) Attach(r FrameRegistrar) error {
	for t := int(frame.TypeAppMin); t <= 0xFF; t++ {
		if err := r.HandleFrame(frame.Type(t), d.Dispatch); err != nil {
			return err
		}
	}
	return nil
}

// Handle sets the handler for frame type t; nil removes it (its frames go to the fallback).
func (d *Dispatcher) Handle(t frame.Type, h ctrl.FrameHandler) error {
	if !t.IsApplication() {
		return ErrNotApplication
	}
	d.handlers[t-frame.TypeAppMin].Store(handlerPtr(h))
	return nil
}

// Fallback sets the handler for the application types that have none; nil removes it.
func (d *Dispatcher) Fallback(h ctrl.FrameHandler) { d.fallback.Store(handlerPtr(h)) }

// Dispatch hands one frame to its type's handler, or to the fallback, or counts it unhandled.
// It is the ctrl.FrameHandler that Attach registers.
func (d *Dispatcher) Dispatch(s *ctrl.Session, t frame.Type, data []byte) {
	var h *ctrl.FrameHandler
	if t.IsApplication() {
		h = d.handlers[t-frame.TypeAppMin].Load()
	}
	if h == nil {
		h = d.fallback.Load()
	}
	if h == nil {
		d.unhandled.Add(1)
		return
	}
	(*h)(s, t, data)
}

// Unhandled is how many frames arrived with neither a handler nor a fallback.
func (d *Dispatcher) Unhandled() uint64 { return d.unhandled.Load() }

func handlerPtr(h ctrl.FrameHandler) *ctrl.FrameHandler {
	if h == nil {
		return nil
	}
	return &h
}
