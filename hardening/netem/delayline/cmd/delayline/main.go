// Command delayline puts a userspace delay line (package delayline) in front of a UDP server, so
// a person can watch a transport cope with delay, jitter, a bottleneck and loss by hand:
//
//	sttfast listen --addr udp://127.0.0.1:9001 ... &
//	delayline -listen 127.0.0.1:9000 -to 127.0.0.1:9001 -delay 5ms -jitter 1ms
//	sttfast dial udp://127.0.0.1:9000 ...
//
// The same impairment applies in both directions, each with its own seed (seed and seed+1). One
// client at a time: replies go to the client address last seen. Counters are printed every
// -stats interval and on exit (SIGINT or SIGTERM).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sttfast/sttfast/hardening/netem/delayline"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "delayline: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("delayline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address clients send to")
	to := fs.String("to", "", "address of the server (required)")
	delay := fs.Duration("delay", 5*time.Millisecond, "one-way delay, each direction")
	jitter := fs.Duration("jitter", 0, "per-datagram delay variation: the bound (uniform) or σ (normal)")
	dist := fs.String("dist", "uniform", "jitter distribution: uniform or normal")
	rate := fs.Float64("rate", 0, "bottleneck in Mbit/s, each direction (0: none)")
	queue := fs.Int("queue", 0, "bottleneck queue in bytes (0: 64 KiB)")
	loss := fs.Float64("loss", 0, "random loss probability in [0, 1), each direction")
	seed := fs.Uint64("seed", 1, "seed of the loss and jitter draws")
	every := fs.Duration("stats", 5*time.Second, "print the counters this often (0: only on exit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("-to is required")
	}
	d, err := delayline.ParseDist(*dist)
	if err != nil {
		return err
	}
	cfg := delayline.Config{Delay: *delay, Jitter: *jitter, Dist: d, Rate: int64(*rate * 1e6 / 8),
		QueueBytes: *queue, Loss: *loss, Seed: *seed}
	down := cfg
	down.Seed++
	l, err := delayline.New(*listen, *to, cfg, down)
	if err != nil {
		return err
	}
	fmt.Printf("delayline: %v -> %s, each way: %v\n", l.Addr(), *to, cfg)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			printStats(l)
		case <-sig:
			err := l.Close()
			printStats(l)
			return err
		}
	}
}

func printStats(l *delayline.Line) {
	fmt.Printf("up:   %v\ndown: %v\n", l.Up(), l.Down())
}
