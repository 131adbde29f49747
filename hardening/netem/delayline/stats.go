package delayline

import (
	"fmt"
	"sync/atomic"
)

// Stats are the counters of one direction since the line started.
type Stats struct {
	// Received datagrams were read from the socket; Forwarded were sent on.
	Received, Forwarded uint64
	// Dropped, by reason: the random loss (Config.Loss), the full bottleneck queue (Config.Rate,
	// QueueBytes), the memory bound (MaxPackets, MaxBytes), a failed send, no client known yet
	// (replies before the client's first datagram), or a datagram from another source than the
	// target on the target's socket.
	DroppedLoss, DroppedQueue, DroppedLimit, SendErrors, NoClient, Foreign uint64
	// Reordered counts datagrams released while one that arrived before them was still waiting.
	Reordered uint64
	// Queued is how many datagrams wait now.
	Queued uint64
}

// Dropped is the sum of the drop counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedLoss + s.DroppedQueue + s.DroppedLimit + s.SendErrors + s.NoClient + s.Foreign
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	return fmt.Sprintf("recv %d fwd %d reordered %d dropped %d (loss %d queue %d limit %d send %d noclient %d foreign %d) queued %d",
		s.Received, s.Forwarded, s.Reordered, s.Dropped(), s.DroppedLoss, s.DroppedQueue, s.DroppedLimit,
		s.SendErrors, s.NoClient, s.Foreign, s.Queued)
}

// counters are the live Stats: written by the direction's two goroutines, read by Stats.
type counters struct {
	received, forwarded, loss, queue, limit, sendErr, noClient, foreign, reordered atomic.Uint64
}

func (c *counters) snapshot(queued int) Stats {
	return Stats{Received: c.received.Load(), Forwarded: c.forwarded.Load(), DroppedLoss: c.loss.Load(),
		DroppedQueue: c.queue.Load(), DroppedLimit: c.limit.Load(), SendErrors: c.sendErr.Load(),
		NoClient: c.noClient.Load(), Foreign: c.foreign.Load(), Reordered: c.reordered.Load(),
		Queued: uint64(queued)}
}
