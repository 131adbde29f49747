package main

import (
	"errors"
	"fmt"
	"net"
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
	line string // the whole line after "sttfast: ", when what and explain(err) cannot say it
}

// Error is "<what>: <why>", the part of the stderr line after "sttfast: ". A why that starts
// with the what (the library's "listen ADDR: ..." under the command's "listen ADDR") says it once.
func (f *failure) Error() string {
	if f.line != "" {
		return f.line
	}
	why := explain(f.err)
	for strings.HasPrefix(why, f.what+": ") {
		why = strings.TrimPrefix(why, f.what+": ")
	}
	return f.what + ": " + why
}

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
	case errors.Is(err, ctrl.ErrPeerRequiresFS):
		return "the peer requires forward secrecy: dial it with --forward-secrecy"
	case errors.Is(err, ctrl.ErrNoForwardSecrecy):
		return "the peer did not agree to forward secrecy, which --forward-secrecy requires"
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
	case errors.Is(err, syscall.EPIPE):
		return "the reader closed it (broken pipe)"
	}
	if why := explainNet(err); why != "" {
		return why
	}
	return stripPrefixes(err.Error())
}

// explainNet says what a resolver or socket error means without the layers of operation and
// address that net adds (the failure line names the address already); "" if err is neither.
func explainNet(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return fmt.Sprintf("cannot resolve %q (no such host)", dns.Name)
		}
		return fmt.Sprintf("cannot resolve %q: %s", dns.Name, dns.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return stripPrefixes(op.Err.Error())
	}
	return ""
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
	case ce.Remote && ce.Code >= dataplane.CodeApplicationMin && ce.Reason != "":
		// The peer's application said why (an admin's DELETE, a receiver whose output closed).
		fmt.Fprintf(&b, "the peer closed the session: %s (code %d)", ce.Reason, ce.Code)
		return b.String()
	case ce.Remote:
		fmt.Fprintf(&b, "the peer closed the session: %s (code %d)", dataplane.CodeName(ce.Code), ce.Code)
	case ce.Code == dataplane.CodeIdleTimeout && ce.Reason != "":
		// Detected before the idle timeout: the reason says how ("the peer stopped acknowledging").
		return ce.Reason
	case ce.Code == dataplane.CodeIdleTimeout:
		b.WriteString("nothing heard from the peer within the idle timeout (it vanished or the path broke)")
	case ce.Code == dataplane.CodeNoError:
		b.WriteString("closed by this side (code 0, done)")
	case ce.Code >= dataplane.CodeApplicationMin && ce.Reason != "":
		fmt.Fprintf(&b, "closed by this side: %s (code %d)", ce.Reason, ce.Code)
		return b.String()
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
// ordinary reason: done (code 0) or shutting down (8): the feed a receiver was reading ended at
// its source, and it exits 0. An application code (>= 0x100, such as an admin's DELETE) is not:
// the peer ended this session only, for a reason of its own, while the feed may go on; the
// receiver exits 1 and says why, as a sender does for the same close.
func peerClosedNormally(err error) bool {
	var ce *dataplane.CloseError
	if !errors.As(err, &ce) || !ce.Remote {
		return false
	}
	return ce.Code == dataplane.CodeNoError || ce.Code == dataplane.CodeShutdown
}

// peerClosedClean reports a SESSION_CLOSE with code 0 from the peer: the transfer is complete.
func peerClosedClean(err error) bool {
	var ce *dataplane.CloseError
	return errors.As(err, &ce) && ce.Remote && ce.Code == dataplane.CodeNoError
}
