package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// soakOpts are soak's flags.
type soakOpts struct {
	common
	rate      sizeValue // bulk bytes per second
	chunk     sizeValue
	smallRate int // small messages per second
	smallSize int
	keyUpdate sizeValue
	dataSeed  uint64
}

// runSoak dials an sttfast serve (which echoes every stream) and keeps two streams busy until
// "stop" or end of input on stdin: a bulk stream written at --rate in --chunk messages, and a
// small-message stream of --small-size messages at --small-rate per second. Both echoes are
// verified byte for byte as they come back. "stats" on stdin prints a stats line (runtime and
// transfer counters; "gc stats" runs a garbage collection first); at the end both streams are
// ended, every echo is awaited and checked against what was sent, the session is closed with
// code 0 and a "result" line is printed.
// The first error (session ended, verification failed) prints an "error" line and exits 1.
func runSoak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o soakOpts
	o.register(fs)
	o.rate.n, o.chunk.n, o.keyUpdate.n = 4<<20, 64<<10, 256<<20
	fs.Var(&o.rate, "rate", "bulk stream bytes per second (e.g. 4MiB)")
	fs.Var(&o.chunk, "chunk", "bulk message size")
	fs.IntVar(&o.smallRate, "small-rate", 100, "small messages per second")
	fs.IntVar(&o.smallSize, "small-size", 64, "small message size in bytes (at least 16)")
	fs.Var(&o.keyUpdate, "key-update-bytes", "rotate the send key after this many bytes (exercises key updates)")
	fs.Uint64Var(&o.dataSeed, "data-seed", 7, "seed of the bulk content")
	parse(fs, args)
	if o.smallSize < 16 || o.rate.n <= 0 || o.smallRate <= 0 || o.chunk.n <= 0 {
		return errors.New("--small-size must be at least 16, --rate, --chunk and --small-rate positive")
	}
	cfg, err := o.config("udp://127.0.0.1:0")
	if err != nil {
		return err
	}
	cfg.Transport.KeyUpdateBytes = uint64(o.keyUpdate.n)
	node, err := ctrl.Listen(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	s, err := node.Dial(context.Background(), o.addr)
	if err != nil {
		return err
	}
	sk := &soaker{o: &o, s: s, failed: make(chan struct{}), stop: make(chan struct{})}
	if err := sk.start(); err != nil {
		return err
	}
	emit(map[string]any{"event": "connected", "local": node.Addr().String()})
	cmds := make(chan string)
	go readCommands(os.Stdin, cmds)
	for {
		select {
		case cmd := <-cmds:
			switch cmd {
			case "stats":
				emit(sk.stats())
				continue
			case "gc stats":
				runtime.GC() // the test samples live memory rather than a GC cycle's garbage
				emit(sk.stats())
				continue
			case "stop":
			default:
				fmt.Fprintf(os.Stderr, "sttpeer soak: unknown command %q\n", cmd)
				continue
			}
		case <-sk.failed:
		}
		break
	}
	if err := sk.finish(); err != nil {
		emit(map[string]any{"event": "error", "error": err.Error()})
		return err
	}
	return nil
}

// readCommands sends each line of r to cmds; end of input is "stop".
func readCommands(r io.Reader, cmds chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		cmds <- strings.TrimSpace(sc.Text())
	}
	cmds <- "stop"
}

// soaker is the state of one soak session.
type soaker struct {
	o                *soakOpts
	s                *ctrl.Session
	bulk, small      *ctrl.Stream
	wg               sync.WaitGroup // the two writers
	readers          sync.WaitGroup
	stop             chan struct{}
	bulkSent         atomic.Int64
	bulkVerified     atomic.Int64
	smallSent        atomic.Int64
	smallVerified    atomic.Int64
	smallMaxLatNs    atomic.Int64 // since the last stats line
	smallMaxLatAllNs atomic.Int64
	errOnce          sync.Once
	err              error
	failed           chan struct{}
}

// fail records the first error and wakes the main loop.
func (k *soaker) fail(err error) {
	k.errOnce.Do(func() {
		k.err = err
		close(k.failed)
	})
}

// failure returns the first error once fail has recorded one (closing failed publishes err).
func (k *soaker) failure() error {
	select {
	case <-k.failed:
		return k.err
	default:
		return nil
	}
}

// start opens both streams and runs their writers and echo readers.
func (k *soaker) start() error {
	var err error
	if k.bulk, err = k.s.OpenStream(context.Background()); err != nil {
		return err
	}
	if k.small, err = k.s.OpenStream(context.Background()); err != nil {
		return err
	}
	k.wg.Add(2)
	k.readers.Add(2)
	go k.writeBulk()
	go k.writeSmall()
	go k.readBulk()
	go k.readSmall()
	return nil
}

// writeBulk writes the pattern at the configured rate until stop.
func (k *soaker) writeBulk() {
	defer k.wg.Done()
	p := newPattern(k.o.dataSeed)
	buf := make([]byte, k.o.chunk.n)
	start := time.Now()
	for {
		// Pace: the n-th byte leaves no earlier than n/rate after the start.
		due := start.Add(time.Duration(float64(k.bulkSent.Load()) / float64(k.o.rate.n) * 1e9))
		if d := time.Until(due); d > 0 {
			select {
			case <-k.stop:
				return
			case <-time.After(d):
			}
		}
		select {
		case <-k.stop:
			return
		default:
		}
		p.fill(buf)
		if err := k.bulk.WriteMessage(buf); err != nil {
			k.fail(fmt.Errorf("bulk write: %w", err))
			return
		}
		k.bulkSent.Add(int64(len(buf)))
	}
}

// writeSmall writes numbered small messages at the configured rate until stop. A message is
// its sequence number, its send time (Unix ns) and filler derived from the sequence number.
func (k *soaker) writeSmall() {
	defer k.wg.Done()
	t := time.NewTicker(time.Second / time.Duration(k.o.smallRate))
	defer t.Stop()
	msg := make([]byte, k.o.smallSize)
	for seq := uint64(0); ; seq++ {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		fillSmall(msg, seq, time.Now().UnixNano())
		if err := k.small.WriteMessage(msg); err != nil {
			k.fail(fmt.Errorf("small write: %w", err))
			return
		}
		k.smallSent.Add(1)
	}
}

// fillSmall writes message seq sent at ns into msg.
func fillSmall(msg []byte, seq uint64, ns int64) {
	binary.BigEndian.PutUint64(msg[0:], seq)
	binary.BigEndian.PutUint64(msg[8:], uint64(ns))
	for i := 16; i < len(msg); i++ {
		msg[i] = byte(seq*31 + uint64(i))
	}
}

// readBulk verifies the bulk echo byte for byte until the server ends its half.
func (k *soaker) readBulk() {
	defer k.readers.Done()
	v := newVerifier(k.o.dataSeed)
	buf := make([]byte, 256<<10)
	for {
		n, err := k.bulk.Read(buf)
		if n > 0 {
			if verr := v.check(buf[:n]); verr != nil {
				k.fail(fmt.Errorf("bulk echo: %w", verr))
				return
			}
			k.bulkVerified.Add(int64(n))
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			k.fail(fmt.Errorf("bulk read: %w", err))
			return
		}
	}
}

// readSmall verifies each echoed small message (order, size, content) and tracks latency.
func (k *soaker) readSmall() {
	defer k.readers.Done()
	want := make([]byte, k.o.smallSize)
	var buf []byte
	for seq := uint64(0); ; seq++ {
		var err error
		buf, err = k.small.ReadMessage(buf[:0])
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			k.fail(fmt.Errorf("small read: %w", err))
			return
		}
		if len(buf) != len(want) {
			k.fail(fmt.Errorf("small message %d: %d bytes, want %d", seq, len(buf), len(want)))
			return
		}
		sent := int64(binary.BigEndian.Uint64(buf[8:]))
		fillSmall(want, seq, sent)
		if string(buf) != string(want) {
			k.fail(fmt.Errorf("small message %d: content differs (got sequence %d)", seq, binary.BigEndian.Uint64(buf)))
			return
		}
		lat := time.Now().UnixNano() - sent
		storeMax(&k.smallMaxLatNs, lat)
		storeMax(&k.smallMaxLatAllNs, lat)
		k.smallVerified.Add(1)
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// finish stops the writers, ends both streams, waits for every echo (bounded), checks the
// totals and closes the session; it prints the result line when everything matched.
func (k *soaker) finish() error {
	close(k.stop)
	k.wg.Wait()
	if err := k.failure(); err != nil {
		return err
	}
	k.bulk.CloseWrite()
	k.small.CloseWrite()
	echoed := make(chan struct{})
	go func() {
		k.readers.Wait()
		close(echoed)
	}()
	select {
	case <-echoed:
	case <-k.failed:
		return k.err
	case <-time.After(60 * time.Second):
		return errors.New("the echoes did not end within 60s of the streams' end")
	}
	if err := k.failure(); err != nil {
		return err
	}
	if b, v := k.bulkSent.Load(), k.bulkVerified.Load(); b != v {
		return fmt.Errorf("bulk: sent %d bytes, %d came back", b, v)
	}
	if m, v := k.smallSent.Load(), k.smallVerified.Load(); m != v {
		return fmt.Errorf("small: sent %d messages, %d came back", m, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.s.Close(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if ci := closeOf(k.s.Err()); ci.Code != 0 || ci.Remote {
		return fmt.Errorf("session ended with code %d (remote %v): %s", ci.Code, ci.Remote, ci.Reason)
	}
	r := k.stats()
	r.Event = "result"
	emit(r)
	return nil
}
