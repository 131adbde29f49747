package peerbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sttfast/sttfast/ctrl"
)

// Issue 15's fan-out linearity: what one message delivered by Node.SendToAll costs the sender
// when it writes to 10 sessions and when it writes to 1000. Both widths run the same way, their
// rounds interleaved (workload Group "fanscale"): one sender node dials Width sessions to one
// listener node in another process (the same destination address for every session, so the
// packet path is the same at both widths and only the number of sessions changes), then calls
// SendToAll with 1200-byte messages until STOP. The receiver reads and verifies every session's
// broadcast stream from offset 0 and counts whole messages. The cost is the sender process's CPU
// time over the window divided by the messages delivered at the receiver in the same window
// (Sample.SendCPUPerMsgNs); the goal (limit.go) is that the cost at 1000 stays within 1.25x of the
// cost at 10.

// fanScaleDials is how many dials the sender keeps in flight while it establishes its sessions.
const fanScaleDials = 64

// fanScaleListener accepts Width sessions on one node and verifies the broadcast stream of each.
func (s *sttContender) fanScaleListener(ctx context.Context, e *Env) error {
	width := e.W.Width
	node, err := s.listenNode(ctx, e, func(c *ctrl.Config) { c.MaxSessions = max(c.MaxSessions, 2*width) })
	if err != nil {
		return err
	}
	defer node.Close()
	s.info(e, node)
	e.Info("sessions", strconv.Itoa(width))
	e.Ready([]string{node.Addr().String()})
	errc := make(chan error, width)
	var wg sync.WaitGroup
	for i := 0; i < width; i++ {
		sess, err := node.Accept(e.stopCtx)
		if err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("accept %d of %d: %w", i+1, width, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- fanScaleRead(e, sess)
		}()
	}
	<-e.Stop()
	node.Close() // unblocks the readers
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// fanScaleRead verifies one session's broadcast stream message by message, counting each.
func fanScaleRead(e *Env, sess *ctrl.Session) error {
	st, err := sess.AcceptStream(e.stopCtx)
	if err != nil {
		if e.Stopped() || e.WindowDone() {
			return nil
		}
		return fmt.Errorf("accept the broadcast stream: %w", err)
	}
	size := e.Size()
	buf := make([]byte, 0, size)
	v := StreamVerifier{p: e.P}
	for {
		m, err := st.ReadMessage(buf[:0])
		if err != nil {
			if e.Stopped() || e.WindowDone() {
				return nil
			}
			return fmt.Errorf("read after %d verified bytes: %w", v.Offset(), err)
		}
		if len(m) != size {
			return fmt.Errorf("%w: message of %d bytes at stream offset %d, want %d", errVerify, len(m), v.Offset(), size)
		}
		if err := v.Check(m); err != nil {
			return err
		}
		e.M.Add(len(m), 1)
	}
}

// fanScaleSender dials Width sessions to the listener from one node, then writes every message to
// all of them with SendToAll until STOP.
func (s *sttContender) fanScaleSender(ctx context.Context, e *Env) error {
	width := e.W.Width
	node, err := s.listenNode(ctx, e, nil)
	if err != nil {
		return err
	}
	defer closeBounded(node.Close)
	if err := dialSessions(e, node, sttDialAddr(e.O.Addrs[0]), width); err != nil {
		return err
	}
	s.info(e, node)
	e.Info("sessions", strconv.Itoa(node.NumSessions()))
	src := StreamSource{p: e.P}
	size := e.Size()
	for !e.Stopped() {
		n, err := node.SendToAll(src.Next(size))
		if err == nil && n != width {
			err = fmt.Errorf("SendToAll reached %d of %d sessions", n, width)
		}
		if err != nil {
			if e.Stopped() {
				break
			}
			return fmt.Errorf("SendToAll at stream offset %d: %w", src.off-uint64(size), err)
		}
		e.M.Add(size*n, n)
	}
	fanScaleInfo(e, node)
	return nil
}

// fanScaleInfo reports what the sender's sessions did besides first transmissions, summed over
// the whole run (warm-up included): losses, bytes sent again and probe timeouts are work the
// sender's CPU time pays for that delivers no new message, and the peak a session's streams
// buffered says how much memory the fan-out kept in flight.
func fanScaleInfo(e *Env, node *ctrl.Node) {
	var lost, retransmitted, ptos uint64
	var peak int64
	for _, sess := range node.Sessions() {
		st := sess.Stats()
		lost += st.PacketsLost
		retransmitted += st.RetransmittedBytes
		ptos += st.PTOs
		peak = max(peak, st.SendBufferedPeak)
	}
	e.Info("packets_lost", strconv.FormatUint(lost, 10))
	e.Info("retransmitted_bytes", strconv.FormatUint(retransmitted, 10))
	e.Info("ptos", strconv.FormatUint(ptos, 10))
	e.Info("send_buffered_peak_per_session", strconv.FormatInt(peak, 10))
	// Packets both ways: how full the sender's packets are and how many acknowledgements it
	// opens per packet sent, at each width (a wide fan-out that sent emptier packets, or drew
	// more acknowledgements per packet, would pay per message for it).
	ns := node.Stats()
	e.Info("tx_datagrams", strconv.FormatUint(ns.TxDatagrams, 10))
	e.Info("tx_bytes", strconv.FormatUint(ns.TxBytes, 10))
	e.Info("tx_batches", strconv.FormatUint(ns.TxBatches, 10))
	e.Info("rx_datagrams", strconv.FormatUint(ns.RxDatagrams, 10))
	e.Info("rx_batches", strconv.FormatUint(ns.RxBatches, 10))
}

// dialSessions establishes n sessions from node to addr, fanScaleDials at a time.
func dialSessions(e *Env, node *ctrl.Node, addr string, n int) error {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for w := 0; w < min(n, fanScaleDials); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= n && firstErr.Load() == nil {
				if _, err := node.Dial(e.stopCtx, addr); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		if e.Stopped() {
			return errors.New("stopped while dialing")
		}
		return fmt.Errorf("dial %d sessions: %w", n, *p)
	}
	return nil
}

// fanScaleTable is the report's table of the fan-out scaling workloads: one row per width.
func fanScaleTable(w io.Writer, rep *runReport) {
	fmt.Fprint(w, "## Fan-out cost: SendToAll to 10 and to 1000 sessions\n\n")
	fmt.Fprint(w, "One sender node dials every session to one listener node in another process and writes 1200-byte messages with SendToAll; the receiver verifies each session's stream. "+
		"Cost = the sender process's CPU time in the window / the messages the receiver verified in it. Rounds of both widths interleaved.\n\n")
	fmt.Fprint(w, "| sessions | sender CPU ns per delivered message | min - max | goodput Gbit/s (all sessions) | sender CPU cores | runs | GC cycles recv / send |\n|---|---|---|---|---|---|---|\n")
	for _, name := range []string{"fanout10", "fanout1000"} {
		wl, ok := workloadNamed(rep, name)
		if !ok {
			continue
		}
		good, failed := collect(rep.Samples, name, "sttfast")
		cost := summarize(good, func(s *Sample) float64 { return s.SendCPUPerMsgNs })
		if cost.N == 0 {
			fmt.Fprintf(w, "| %d | - | - | - | - | %s | - |\n", wl.Width, runsCell(0, failed))
			continue
		}
		gb := summarize(good, func(s *Sample) float64 { return s.Gbps })
		cores := summarize(good, func(s *Sample) float64 { return s.Send.CPUSeconds / s.Send.WindowS })
		rgc := summarize(good, func(s *Sample) float64 { return float64(s.RecvGC) })
		sgc := summarize(good, func(s *Sample) float64 { return float64(s.SendGC) })
		fmt.Fprintf(w, "| %d | **%.0f** | %.0f - %.0f | %s | %.2f | %s | %.0f / %.0f |\n", wl.Width, cost.Med, cost.Min, cost.Max, num(gb.Med), cores.Med,
			runsCell(cost.N, failed), rgc.Med, sgc.Med)
	}
	fmt.Fprintln(w)
}
