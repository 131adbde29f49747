package main

import (
	"testing"

	"github.com/sttfast/sttfast/dataplane"
)

// A session whose WebSocket connection ended says so, not that this side closed it.
func TestCloseReasonPathClosed(t *testing.T) {
	ce := &dataplane.CloseError{Code: dataplane.CodePathClosed, Reason: "the peer closed the WebSocket's TCP connection"}
	want := "the connection carrying the session ended (code 11): the peer closed the WebSocket's TCP connection"
	if got := closeReason(ce); got != want {
		t.Fatalf("closeReason = %q, want %q", got, want)
	}
}
