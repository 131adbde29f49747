package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sttfast/sttfast/ctrl"
)

// addrsFlag is a repeatable --addr: every value given, in the order given. listen, serve and
// relay listen on each; dial tries each in turn (ctrl.Node.DialAny).
type addrsFlag []string

// String lists the values (flag's default display: none).
func (a *addrsFlag) String() string { return strings.Join(*a, " ") }

// Set adds one more address.
func (a *addrsFlag) Set(v string) error {
	*a = append(*a, v)
	return nil
}

// checkAddrs validates every address given with flag (at least one) and returns them in
// canonical form, in order.
func checkAddrs(flag string, given addrsFlag) ([]string, error) {
	return checkEach(flag, given, checkAddr)
}

// checkListenAddrs is checkAddrs for addresses to listen on (checkListenAddr: no wss://).
func checkListenAddrs(flag string, given addrsFlag) ([]string, error) {
	return checkEach(flag, given, checkListenAddr)
}

func checkEach(flag string, given addrsFlag, check func(flag, s string) (string, error)) ([]string, error) {
	if len(given) == 0 {
		return nil, usagef("%s is required (udp://HOST:PORT or ws://HOST:PORT/PATH)", flag)
	}
	out := make([]string, len(given))
	for i, s := range given {
		a, err := check(flag, s)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// listenNode starts a node on every address of addrs (cfg.Addr and cfg.Addrs are set from it):
// a failure names the command and the address that could not be bound.
func listenNode(cmd string, cfg ctrl.Config, addrs []string) (*ctrl.Node, error) {
	cfg.Addr, cfg.Addrs = addrs[0], addrs[1:]
	node, err := ctrl.Listen(context.Background(), cfg)
	if err != nil {
		var le *ctrl.ListenError
		if errors.As(err, &le) {
			return nil, failf(le.Err, "%s %s", cmd, le.Addr)
		}
		return nil, failf(err, "%s %s", cmd, addrs[0])
	}
	return node, nil
}

// printListening writes one "listening on ADDR" line per address, in the order given (scripts
// wait for the first), and returns the addresses as shown: the host as given, the port bound.
func printListening(w io.Writer, node *ctrl.Node, addrs []string) []string {
	bound := node.Addrs()
	shown := make([]string, len(addrs))
	for i, a := range addrs {
		shown[i] = shownAddr(a, bound[i].Addr)
		fmt.Fprintf(w, "listening on %s\n", shown[i])
	}
	return shown
}

// bindForAll is bindFor for a dial to any of addrs: an IPv6 wildcard (which takes IPv4 as well)
// as soon as one of them needs it.
func bindForAll(addrs []string) string {
	for _, a := range addrs {
		if b := bindFor(a); b == "udp://[::]:0" {
			return b
		}
	}
	return "udp://0.0.0.0:0"
}

// dialsFailed is dial's failure when every one of several addresses failed: "dial ADDR1: why1;
// ADDR2: why2", each reason in the words it has for one address, err kept for errors.Is.
func dialsFailed(err error) error {
	u, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return failf(err, "dial")
	}
	var parts []string
	for _, e := range u.Unwrap() {
		var de *ctrl.DialError
		if errors.As(e, &de) {
			parts = append(parts, de.Addr+": "+explain(de.Err))
		} else {
			parts = append(parts, explain(e))
		}
	}
	return &failure{line: "dial " + strings.Join(parts, "; "), err: err}
}
