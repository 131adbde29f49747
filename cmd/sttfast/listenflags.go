package main

import (
	"flag"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// listenAddrUsage is --addr's help on the commands that listen.
const listenAddrUsage = "listen on `udp://HOST:PORT` or ws://HOST:PORT/PATH (WebSocket, path /stt by default);\n" +
	"repeat it to listen on several addresses, one session table"

// listenFlags are the flags listen, relay and serve share: the addresses to listen on, the seed,
// the congestion controller and the idle timeout. One type registers and checks them, so that the
// three commands cannot drift apart in what these flags mean or how a bad one is reported.
type listenFlags struct {
	addrs addrsFlag
	seed  seedFlags
	cc    ccFlag
	idle  idleFlag
}

// register adds --addr, the seed's flags, --cc and --idle-timeout to fs.
func (f *listenFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.addrs, "addr", listenAddrUsage)
	f.seed.register(fs)
	f.cc.register(fs)
	f.idle.register(fs)
}

// load checks the addresses and the idle timeout and reads the seed: everything a listening
// command needs from these flags before it starts its node. The addresses come back in canonical
// form, in the order given.
func (f *listenFlags) load(c *cli) ([]string, *stc.Seed, error) {
	addrs, err := checkListenAddrs("--addr", f.addrs)
	if err != nil {
		return nil, nil, err
	}
	if err := f.idle.check(); err != nil {
		return nil, nil, err
	}
	seed, err := f.seed.load(c.getenv)
	if err != nil {
		return nil, nil, err
	}
	return addrs, seed, nil
}

// config is the node's configuration these flags say (seed, forward secrecy, controller, idle
// timeout); the command adds its own fields before startListening.
func (f *listenFlags) config(seed *stc.Seed) ctrl.Config {
	return ctrl.Config{Seed: seed, ForwardSecrecy: f.seed.forwardSecrecy,
		Transport: dataplane.Config{Congestion: f.cc.algo, IdleTimeout: f.idle.d}}
}

// startListening starts command cmd's node on addrs with cfg, its events (path changes, refused
// handshakes unless quiet) reported on the command's stderr. The caller closes the node and
// prints the "listening on" lines when its own first lines are out.
func startListening(c *cli, cmd string, cfg ctrl.Config, addrs []string, quiet bool) (*ctrl.Node, error) {
	refusals := newRefusalLog(sessionLogger(c.stderr, quiet), quiet)
	cfg.OnEvent = nodeEvents(c.stderr, refusals)
	node, err := listenNode(cmd, cfg, addrs)
	if err != nil {
		return nil, err
	}
	refusals.watch(node)
	return node, nil
}
