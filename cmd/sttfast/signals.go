package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// signalError is the cause of a context cancelled by SIGINT or SIGTERM.
type signalError struct{ sig os.Signal }

// Error names the signal the way the failure line and the logs show it.
func (e signalError) Error() string {
	switch e.sig {
	case syscall.SIGINT:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "interrupted (SIGTERM)"
	}
	return "interrupted (" + e.sig.String() + ")"
}

// withSignals returns a context cancelled, with a signalError cause, by the first SIGINT or
// SIGTERM, so that a command can close its sessions gracefully (SESSION_CLOSE) and exit. A second
// signal exits at once with status 1, in case the graceful path is stuck (a blocked stdout).
// stop releases the signal handlers.
func withSignals(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(signalError{sig})
		case <-quit:
			return
		}
		select {
		case sig := <-ch:
			fmt.Fprintf(stderr, "sttfast: %s again: exiting without a clean close\n", signalError{sig})
			os.Exit(exitFailure)
		case <-quit:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(quit)
		cancel(nil)
	}
}

// interrupted returns the signal that cancelled ctx, if any.
func interrupted(ctx context.Context) (signalError, bool) {
	se, ok := context.Cause(ctx).(signalError)
	return se, ok
}

// shutdownGrace bounds how long a signalled command keeps resending its SESSION_CLOSEs: long
// enough for several copies at loopback-to-WAN PTOs, short enough that a second Ctrl-C is rare.
const shutdownGrace = 2 * time.Second

// stopNode ends node after a signal: Shutdown resends each session's close during the drain,
// so a peer behind a lossy link still learns of a clean stop instead of waiting out its idle
// timeout (Close would send each close once).
func stopNode(node *ctrl.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	node.Shutdown(ctx)
}
