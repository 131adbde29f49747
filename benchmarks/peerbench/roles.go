package peerbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// closeTimeout bounds a graceful close after STOP: past it the process exits anyway.
const closeTimeout = 3 * time.Second

// runRole runs this process's side of the workload.
func runRole(ctx context.Context, e *Env) error {
	if cr, ok := e.C.(customRunner); ok && cr.Custom(e.W) {
		if e.Role == roleRecv {
			return cr.RunRecv(ctx, e)
		}
		return cr.RunSend(ctx, e)
	}
	sc, ok := e.C.(streamContender)
	if !ok {
		return fmt.Errorf("%s does not run workload %s", e.C.Name(), e.W.Name)
	}
	switch {
	case e.W.Kind == kindStream && e.Role == roleRecv:
		return streamRecv(ctx, e, sc, 1)
	case e.W.Kind == kindStream:
		return streamSend(ctx, e, sc)
	case e.W.Kind == kindFanout && e.Role == roleRecv:
		return streamRecv(ctx, e, sc, e.O.Receivers)
	case e.W.Kind == kindFanout:
		return fanoutSend(ctx, e, sc)
	case e.W.Kind == kindRTT && e.Role == roleRecv:
		return echo(ctx, e, sc)
	case e.W.Kind == kindRTT:
		return ping(ctx, e, sc)
	case e.W.Kind == kindTransfer && e.Role == roleRecv:
		return transferRecv(ctx, e, sc)
	case e.W.Kind == kindTransfer:
		return transferSend(ctx, e, sc)
	}
	return fmt.Errorf("%s does not run workload %s", e.C.Name(), e.W.Name)
}

// streamRecv accepts n streams and verifies each against the pattern from offset 0 (in fan-out
// every receiver gets the same sequence), counting verified bytes in the shared meter.
func streamRecv(ctx context.Context, e *Env, sc streamContender, n int) error {
	srv, err := sc.Listen(ctx, e, n)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", sc.Name(), err)
	}
	defer srv.Close()
	e.Ready(srv.Addrs())
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := srv.Accept(e.stopCtx)
		if err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("%s: accept %d of %d: %w", sc.Name(), i+1, n, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- recvLoop(e, c, sc.MessageOriented())
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-e.Stop():
		srv.Close() // unblocks the readers
		wait := time.NewTimer(closeTimeout)
		defer wait.Stop()
		select {
		case <-done:
		case <-wait.C:
		}
	}
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	if !e.WindowDone() {
		return errors.New("every stream ended before the measurement window closed")
	}
	e.WaitStop()
	return nil
}

// recvLoop reads one stream until it ends, verifying every byte in order.
func recvLoop(e *Env, c conn, messages bool) error {
	if bc, ok := c.(batchConn); ok && messages {
		return recvBatchLoop(e, bc)
	}
	size := e.Size()
	buf := make([]byte, max(size, 64<<10))
	v := StreamVerifier{p: e.P}
	count := meterBatch{m: &e.M}
	defer count.flush()
	for {
		d, err := c.ReadData(buf)
		if err != nil {
			if e.Stopped() || e.WindowDone() {
				return nil
			}
			return fmt.Errorf("read after %d verified bytes: %w", v.Offset(), err)
		}
		if messages && len(d) != size {
			return fmt.Errorf("%w: message of %d bytes at stream offset %d, want %d", errVerify, len(d), v.Offset(), size)
		}
		if err := v.Check(d); err != nil {
			return err
		}
		count.add(len(d))
	}
}

// streamSend writes consecutive messages of the pattern until STOP.
func streamSend(ctx context.Context, e *Env, sc streamContender) error {
	cl, err := sc.Dial(ctx, e, e.O.Addrs)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", sc.Name(), err)
	}
	defer closeBounded(cl.Close)
	c := cl.Conns()[0]
	if bc, ok := c.(batchConn); ok {
		return streamSendBatch(e, c, bc)
	}
	src := StreamSource{p: e.P}
	size := e.Size()
	count := meterBatch{m: &e.M}
	defer count.flush()
	for !e.Stopped() {
		if err := c.WriteMsg(src.Next(size)); err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("write at stream offset %d: %w", src.off-uint64(size), err)
		}
		count.add(size)
	}
	closeBounded(c.Close)
	return nil
}

// streamSendBatch is streamSend through a batchConn: sttBatch messages per call.
func streamSendBatch(e *Env, c conn, bc batchConn) error {
	src := StreamSource{p: e.P}
	size := e.Size()
	msgs := make([][]byte, sttBatch)
	for !e.Stopped() {
		for i := range msgs {
			msgs[i] = src.Next(size)
		}
		if err := bc.WriteMsgs(msgs); err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("batch write before stream offset %d: %w", src.off, err)
		}
		e.M.Add(size*len(msgs), 0)
	}
	closeBounded(c.Close)
	return nil
}

// recvBatchLoop is recvLoop through a batchConn: up to sttBatch whole messages per call, each
// checked for its size and its bytes, in order.
func recvBatchLoop(e *Env, bc batchConn) error {
	size := e.Size()
	bufs := make([][]byte, sttBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 0, max(size, 64<<10))
	}
	v := StreamVerifier{p: e.P}
	for {
		n, err := bc.ReadMsgs(bufs)
		if err != nil {
			if e.Stopped() || e.WindowDone() {
				return nil
			}
			return fmt.Errorf("batch read after %d verified bytes: %w", v.Offset(), err)
		}
		for _, d := range bufs[:n] {
			if len(d) != size {
				return fmt.Errorf("%w: message of %d bytes at stream offset %d, want %d", errVerify, len(d), v.Offset(), size)
			}
			if err := v.Check(d); err != nil {
				return err
			}
			e.M.Add(len(d), 0)
		}
	}
}

// fanoutSend writes every message to every receiver: with the contender's own broadcast when it
// has one (sttfast's SendToAll), otherwise one write per stream in turn, like SendToAll does.
func fanoutSend(ctx context.Context, e *Env, sc streamContender) error {
	cl, err := sc.Dial(ctx, e, e.O.Addrs)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", sc.Name(), err)
	}
	defer closeBounded(cl.Close)
	src := StreamSource{p: e.P}
	size := e.Size()
	n := len(e.O.Addrs)
	bc, _ := cl.(broadcaster)
	conns := cl.Conns()
	for !e.Stopped() {
		msg := src.Next(size)
		if bc != nil {
			if err := bc.Broadcast(msg); err != nil {
				if e.Stopped() {
					break
				}
				return fmt.Errorf("broadcast at stream offset %d: %w", src.off-uint64(size), err)
			}
		} else {
			for i, c := range conns {
				if err := c.WriteMsg(msg); err != nil {
					if e.Stopped() {
						return nil
					}
					return fmt.Errorf("write to receiver %d at stream offset %d: %w", i, src.off-uint64(size), err)
				}
			}
		}
		e.M.Add(size*n, 0)
	}
	return nil
}

// echo returns every ping after verifying it.
func echo(ctx context.Context, e *Env, sc streamContender) error {
	srv, err := sc.Listen(ctx, e, 1)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", sc.Name(), err)
	}
	defer srv.Close()
	e.Ready(srv.Addrs())
	c, err := srv.Accept(e.stopCtx)
	if err != nil {
		if e.Stopped() {
			return errors.New("stopped before the pinger connected")
		}
		return fmt.Errorf("%s: accept: %w", sc.Name(), err)
	}
	go func() { <-e.Stop(); srv.Close() }()
	size := e.Size()
	buf := make([]byte, size)
	v := StreamVerifier{p: e.P}
	for {
		if err := readFull(c, buf); err != nil {
			if e.Stopped() || e.WindowDone() {
				break
			}
			return fmt.Errorf("echo read after %d pings: %w", e.M.msgs.Load(), err)
		}
		if err := v.Check(buf); err != nil {
			return err
		}
		if err := c.WriteMsg(buf); err != nil {
			if e.Stopped() || e.WindowDone() {
				break
			}
			return fmt.Errorf("echo write: %w", err)
		}
		e.M.Add(size, 1)
	}
	e.WaitStop()
	return nil
}

// ping sends one message, waits for it to come back, checks it and records the round trip; the
// histogram only takes samples inside the window.
func ping(ctx context.Context, e *Env, sc streamContender) error {
	cl, err := sc.Dial(ctx, e, e.O.Addrs)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", sc.Name(), err)
	}
	defer closeBounded(cl.Close)
	c := cl.Conns()[0]
	var h Histogram
	defer func() { e.SetRTT(h.Stats()) }()
	src := StreamSource{p: e.P}
	size := e.Size()
	back := make([]byte, size)
	for !e.Stopped() {
		msg := src.Next(size)
		t := time.Now()
		if err := c.WriteMsg(msg); err != nil {
			return fmt.Errorf("ping write: %w", err)
		}
		if err := readFull(c, back); err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("ping read: %w", err)
		}
		rtt := time.Since(t)
		if !bytes.Equal(back, msg) {
			return fmt.Errorf("%w: echo differs from the ping", errVerify)
		}
		if e.InWindow() {
			h.Record(uint64(rtt))
		}
		e.M.Add(size, 1)
	}
	return nil
}

// readFull fills dst from a stream whose reads may return less (byte streams) or exactly one
// message (message transports, where dst is the message size).
func readFull(c conn, dst []byte) error {
	for got := 0; got < len(dst); {
		d, err := c.ReadData(dst[got:])
		if err != nil {
			return err
		}
		if len(d) > len(dst)-got {
			return fmt.Errorf("%w: read %d bytes, want at most %d", errVerify, len(d), len(dst)-got)
		}
		if len(d) > 0 && &d[0] != &dst[got] {
			copy(dst[got:], d)
		}
		got += len(d)
	}
	return nil
}

// closeBounded runs a close that may wait for the peer, but never longer than closeTimeout.
func closeBounded(f func() error) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
