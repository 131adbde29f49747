package dataplane

import (
	"runtime"
	"time"

	"github.com/sttfast/sttfast/dataplane/recovery"
)

// DefaultReadSpin is Config.ReadSpin's default: about a loopback or same-rack round trip, so a
// request/response exchange there finds its reply while still spinning.
const DefaultReadSpin = 100 * time.Microsecond

// Why a reader spins. A reply read by the RX loop reaches a parked reader through a hand-off: the
// loop readies the reader's goroutine, goes back to the socket (one more recvmmsg, which finds
// nothing) and parks, and only then does the reader run, or another thread is woken to run it.
// On a request/response path that hand-off is a visible share of the round trip (profiles/
// README.md). A reader that polls the receive buffer instead sees the RX loop's frontier store
// the moment it happens, from its own thread.
//
// What it costs: a spinning reader keeps one core busy for at most ReadSpin per wait. It spins
// only when its stream wrote data the peer has not acknowledged yet (a reply is due: the peer's
// answer normally carries that acknowledgement), so a reader of a one-way flow, and every reader
// of an idle session, parks at once: at idle the cost is nothing. It yields to the scheduler
// between polls, so on a busy GOMAXPROCS the RX loop it waits for still runs.

// spinPolls is how many polls of the receive buffer run between clock reads and yields.
const spinPolls = 32

// spinRead polls until need bytes are readable, the spin budget is spent or the stream fails,
// and reports whether the bytes came. rmu held.
func (st *Stream) spinRead(need int) bool {
	d := st.s.e.cfg.ReadSpin
	if d <= 0 || !st.replyDue() {
		return false
	}
	end := recovery.Now() + recovery.Time(d)
	for {
		for range spinPolls {
			if st.recv.Readable() >= need {
				return true
			}
		}
		if st.failed.Load() != nil || st.rclosed.Load() || recovery.Now() >= end {
			return st.recv.Readable() >= need
		}
		runtime.Gosched()
	}
}

// replyDue reports that the stream's writer sent bytes the peer has not acknowledged: a reader
// waiting now is most likely waiting for the answer to them.
func (st *Stream) replyDue() bool {
	return st.send.Acked() < st.send.End()
}
