package peerbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sttfast/sttfast/hardening/netem/delayline"
)

// Issue 10: a fixed-size bulk transfer through a userspace delay line that the orchestrator runs
// between the two children, with per-datagram jitter so that datagrams overtake each other.

// pathSpec is the impairment of a transfer workload, the same in both directions.
type pathSpec struct {
	Delay, Jitter time.Duration
	// Rate (bytes per second, 0: none) and Queue (bytes) are a bottleneck in front of the delay
	// (the longfat suite: the link, not the machine, sets the pace).
	Rate  int64
	Queue int
}

// defaultTransfer is the transfer size.
const defaultTransfer = 64 << 20

// transferLimit is how long a transfer may crawl before it is reported incomplete: 64 MiB in
// 60 s is 9 Mbit/s, the rate issue 10 reported for sttfast at ±1 ms.
const transferLimit = 60 * time.Second

// transferStall is issue 10's stall criterion: no new verified byte for this long.
const transferStall = 10 * time.Second

// TransferStats is how a fixed-size transfer ended, reported by its receiver.
type TransferStats struct {
	Total    int64 `json:"total"`
	Verified int64 `json:"verified"`
	// Complete: every byte arrived and matched. Stalled: nothing new arrived for transferStall.
	// Neither: the transfer limit (the workload's window) ran out while it still crawled.
	Complete bool    `json:"complete"`
	Stalled  bool    `json:"stalled,omitempty"`
	Seconds  float64 `json:"seconds"`
}

// lineSeed gives each round its own delay-line draws, the same for every contender of the round.
func lineSeed(round int) uint64 { return uint64(round) * 1000 }

// startLine puts a delay line in front of the receiver at addr.
func startLine(addr string, p *pathSpec, round int) (*delayline.Line, error) {
	c := delayline.Config{Delay: p.Delay, Jitter: p.Jitter, Dist: delayline.Uniform, Seed: lineSeed(round),
		Rate: p.Rate, QueueBytes: p.Queue}
	d := c
	d.Seed++
	return delayline.New("127.0.0.1:0", addr, c, d)
}

// LineStats are a delay line's counters for one run, in the report.
type LineStats struct {
	Up   delayline.Stats `json:"up"`
	Down delayline.Stats `json:"down"`
}

// transferTotal is the transfer size of the run, a whole number of writes.
func (e *Env) transferTotal() int64 {
	t, size := e.O.Total, int64(e.Size())
	if t <= 0 {
		t = defaultTransfer
	}
	return (t + size - 1) / size * size
}

// transferSend writes the transfer's bytes, ends the stream and keeps the connection until STOP,
// so that retransmissions still flow while the receiver collects the tail.
func transferSend(ctx context.Context, e *Env, sc streamContender) error {
	cl, err := sc.Dial(ctx, e, e.O.Addrs)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", sc.Name(), err)
	}
	var closeOnce sync.Once
	closeCl := func() { closeOnce.Do(func() { closeBounded(cl.Close) }) }
	defer closeCl()
	go func() { <-e.Stop(); closeCl() }() // a write blocked by a stalled peer returns
	c := cl.Conns()[0]
	src := StreamSource{p: e.P}
	size := e.Size()
	for sent := int64(0); sent < e.transferTotal(); sent += int64(size) {
		if err := c.WriteMsg(src.Next(size)); err != nil {
			if e.Stopped() {
				return nil
			}
			return fmt.Errorf("write at stream offset %d: %w", sent, err)
		}
		e.M.Add(size, 0)
	}
	closeBounded(c.Close)
	e.WaitStop()
	return nil
}

// transferRecv accepts the stream, opens the window at once, verifies bytes until the total,
// and closes the window at the end, at a stall, or at the limit (the workload's window).
func transferRecv(ctx context.Context, e *Env, sc streamContender) error {
	srv, err := sc.Listen(ctx, e, 1)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", sc.Name(), err)
	}
	defer srv.Close()
	e.Ready(srv.Addrs())
	c, err := srv.Accept(e.stopCtx)
	if err != nil {
		return fmt.Errorf("%s: accept: %w", sc.Name(), err)
	}
	total := e.transferTotal()
	e.markStart()
	e.emit("%s %s", lineMark, markStart)
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- readTotal(e, c, sc.MessageOriented(), total) }()
	ts, err := watchTransfer(e, done, total)
	ts.Seconds = time.Since(t0).Seconds()
	e.markEnd()
	e.emit("%s %s", lineMark, markEnd)
	e.mu.Lock()
	e.res.Transfer = ts
	e.mu.Unlock()
	if err != nil {
		e.setError(err) // the window is closed, but a failed transfer is no teardown noise
		return err
	}
	e.WaitStop()
	srv.Close() // unblocks a reader still waiting on a stalled stream
	return nil
}

// watchTransfer waits for readTotal, watching for a stall and the limit.
func watchTransfer(e *Env, done <-chan error, total int64) (*TransferStats, error) {
	ts := &TransferStats{Total: total}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	limit := time.NewTimer(e.O.Duration)
	defer limit.Stop()
	last, lastAt := uint64(0), time.Now()
	for {
		select {
		case err := <-done:
			ts.Verified = int64(e.M.bytes.Load())
			ts.Complete = err == nil
			return ts, err
		case <-limit.C:
			ts.Verified = int64(e.M.bytes.Load())
			return ts, nil
		case <-e.Stop():
			return ts, errors.New("stopped before the transfer ended")
		case now := <-tick.C:
			if g := e.M.bytes.Load(); g != last {
				last, lastAt = g, now
			} else if now.Sub(lastAt) >= transferStall {
				ts.Verified, ts.Stalled = int64(g), true
				return ts, nil
			}
		}
	}
}

// readTotal reads and verifies the stream until total bytes arrived.
func readTotal(e *Env, c conn, messages bool, total int64) error {
	size := e.Size()
	buf := make([]byte, max(size, 64<<10))
	v := StreamVerifier{p: e.P}
	for int64(v.Offset()) < total {
		d, err := c.ReadData(buf)
		if err != nil {
			return fmt.Errorf("read after %d verified bytes: %w", v.Offset(), err)
		}
		if messages && len(d) != size {
			return fmt.Errorf("%w: message of %d bytes at stream offset %d, want %d", errVerify, len(d), v.Offset(), size)
		}
		if int64(v.Offset())+int64(len(d)) > total {
			return fmt.Errorf("%w: %d bytes past the %d-byte transfer", errVerify, int64(v.Offset())+int64(len(d))-total, total)
		}
		if err := v.Check(d); err != nil {
			return err
		}
		e.M.Add(len(d), 0)
	}
	return nil
}
