package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// errHelp is returned by parseFlags after --help printed the usage: exit 0, nothing more.
var errHelp = errors.New("help requested")

// usageError marks an error as a usage error (exit code 2).
type usageError struct{ err error }

// Error returns the message without decoration; report adds the command name.
func (u usageError) Error() string { return u.err.Error() }

// Unwrap exposes the cause to errors.Is and errors.As.
func (u usageError) Unwrap() error { return u.err }

// usagef builds a usage error (exit 2) from a format.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// failure is a runtime failure (exit 1) reported as "sttfast: <what>: <why>", where why is
// the cause in words a user understands (see explain).
type failure struct {
	what string
	err  error
}

// Error is "<what>: <why>", the part of the stderr line after "sttfast: ".
func (f *failure) Error() string { return f.what + ": " + explain(f.err) }

// Unwrap exposes the cause to errors.Is and errors.As.
func (f *failure) Unwrap() error { return f.err }

// failf wraps err as the failure of what (a format), keeping err for errors.Is.
func failf(err error, format string, a ...any) error {
	return &failure{what: fmt.Sprintf(format, a...), err: err}
}

// explain turns the library's errors into a reason a user can act on; unknown errors keep
// their text without the "sttfast: " prefixes the library adds at each layer.
func explain(err error) string {
	var ce *dataplane.CloseError
	var se signalError
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, ctrl.ErrNothingListening), errors.Is(err, ctrl.ErrNoAnswer),
		errors.Is(err, ctrl.ErrSendFailed), errors.Is(err, ctrl.ErrClockSkew):
		// The library's words already say it (no answer, in which order of likelihood; nothing
		// listens; what the system refused; by how much the clocks differ): keep them, without
		// the "dial ADDR" the failure line starts with anyway.
		return dialReason(err)
	case errors.Is(err, ctrl.ErrHandshakeTimeout):
		return "the peer accepted our seed but the handshake did not complete in time"
	case errors.Is(err, ctrl.ErrSessionLimit):
		return "the peer is at its session limit"
	case errors.As(err, &ce):
		return closeReason(ce)
	case errors.Is(err, ctrl.ErrStreamReset):
		return "the peer aborted the stream"
	case errors.Is(err, syscall.EADDRINUSE):
		return "the address is already in use"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the address is not available on this host"
	case errors.Is(err, syscall.EACCES):
		return "permission denied"
	}
	return stripPrefixes(err.Error())
}

// dialReason is the text of a Dial error below its "sttfast: dial ADDR: " prefix.
func dialReason(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := e.Error(); !strings.HasPrefix(s, "sttfast: dial ") {
			return stripPrefixes(s)
		}
	}
	return stripPrefixes(err.Error())
}

// closeReason says why a session ended, from the side that reports it.
func closeReason(ce *dataplane.CloseError) string {
	var b strings.Builder
	switch {
	case ce.Remote && ce.Code == dataplane.CodeNoError:
		b.WriteString("the peer closed the session (code 0, done)")
	case ce.Remote && ce.Code == dataplane.CodeShutdown:
		b.WriteString("the peer shut down (code 8)")
	case ce.Remote:
		fmt.Fprintf(&b, "the peer closed the session: %s (code %d)", dataplane.CodeName(ce.Code), ce.Code)
	case ce.Code == dataplane.CodeIdleTimeout:
		b.WriteString("nothing heard from the peer within the idle timeout (it vanished or the path broke)")
	case ce.Code == dataplane.CodeNoError:
		b.WriteString("closed by this side (code 0, done)")
	default:
		fmt.Fprintf(&b, "closed by this side: %s (code %d)", dataplane.CodeName(ce.Code), ce.Code)
	}
	if ce.Reason != "" && ce.Reason != dataplane.ReasonEngineClosed {
		fmt.Fprintf(&b, ": %s", ce.Reason)
	}
	return b.String()
}

// stripPrefixes removes the package prefixes ("sttfast: ", "stc: ") layered into error text.
func stripPrefixes(s string) string {
	for _, p := range []string{"sttfast: ", "stc: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// peerClosedNormally reports whether the session ended because the peer closed it for an
// ordinary reason: done (code 0), shutting down (8) or an application code such as an admin's
// DELETE (>= 0x100). Receivers exit 0 then.
func peerClosedNormally(err error) bool {
	var ce *dataplane.CloseError
	if !errors.As(err, &ce) || !ce.Remote {
		return false
	}
	return ce.Code == dataplane.CodeNoError || ce.Code == dataplane.CodeShutdown || ce.Code >= dataplane.CodeApplicationMin
}

// peerClosedClean reports a SESSION_CLOSE with code 0 from the peer: the transfer is complete.
func peerClosedClean(err error) bool {
	var ce *dataplane.CloseError
	return errors.As(err, &ce) && ce.Remote && ce.Code == dataplane.CodeNoError
}
