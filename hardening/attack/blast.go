package attack

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// Sender sends a batch of datagrams (each Message to its Addr); *batchio.Conn and *Forwarder
// implement it.
type Sender interface {
	WriteBatch(msgs []batchio.Message) (int, error)
}

// Source produces attack datagrams: Next builds the next one in buf (len 0, cap MaxDatagram)
// and returns it with its class.
type Source interface {
	Next(buf []byte) ([]byte, Class)
}

// MaxDatagram is the largest datagram a Source may build: the largest IPv4 UDP payload.
const MaxDatagram = 65507

// BlastConfig says where, how fast and for how long to send.
type BlastConfig struct {
	Target   netip.AddrPort
	Senders  []Sender      // used round robin, one batch each
	Rate     float64       // datagrams per second; 0 sends as fast as the senders take them
	Count    int64         // stop after this many datagrams (0: no limit)
	Duration time.Duration // stop after this long (0: no limit)
	Stop     <-chan struct{}
	Batch    int // datagrams per sendmmsg (default 64)
}

// BlastResult counts what was sent.
type BlastResult struct {
	Sent    int64           `json:"sent"`
	ByClass map[Class]int64 `json:"by_class"`
	Errors  int64           `json:"send_errors"` // failed send calls (e.g. ICMP unreachable)
	Elapsed time.Duration   `json:"elapsed_ns"`
	Rate    float64         `json:"rate_per_s"` // achieved
}

// Blast sends datagrams from src until Count, Duration or Stop, whichever comes first. At least
// one limit must be set.
func Blast(cfg BlastConfig, src Source) BlastResult {
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	msgs := make([]batchio.Message, cfg.Batch)
	classes := make([]Class, cfg.Batch)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 0, MaxDatagram)
	}
	var byClass [numClasses]int64
	res := BlastResult{}
	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	for turn := 0; ; turn++ {
		if cfg.Count > 0 && res.Sent >= cfg.Count {
			break
		}
		if stopped(cfg.Stop) || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		n := cfg.Batch
		if cfg.Count > 0 {
			n = int(min(int64(n), cfg.Count-res.Sent))
		}
		if cfg.Rate > 0 {
			pace(start, res.Sent+int64(n), cfg.Rate)
		}
		for i := 0; i < n; i++ {
			d, c := src.Next(msgs[i].Buf[:0])
			msgs[i].Buf = d[:len(d):cap(d)]
			msgs[i].N = len(d)
			msgs[i].Addr = cfg.Target
			classes[i] = c
		}
		s := cfg.Senders[turn%len(cfg.Senders)]
		done := 0
		for done < n {
			k, err := s.WriteBatch(msgs[done:n])
			for _, c := range classes[done : done+k] {
				byClass[c]++
			}
			done += k
			res.Sent += int64(k)
			if err != nil {
				res.Errors++
				if errors.Is(err, net.ErrClosed) {
					return finish(res, byClass, start)
				}
				done++ // the kernel refused this datagram (e.g. a queued ICMP error): not sent
			}
		}
	}
	return finish(res, byClass, start)
}

func finish(res BlastResult, byClass [numClasses]int64, start time.Time) BlastResult {
	res.Elapsed = time.Since(start)
	res.ByClass = map[Class]int64{}
	for c, n := range byClass {
		if n > 0 {
			res.ByClass[Class(c)] = n
		}
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.Rate = float64(res.Sent) / s
	}
	return res
}

// pace waits until sending the datagram numbered next keeps the average at rate.
func pace(start time.Time, next int64, rate float64) {
	due := start.Add(time.Duration(float64(next) / rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d) // rate limiting of the attack, not synchronisation
	}
}

func stopped(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// NewSenders opens n UDP sockets (each its own source port) for blasting, with large send
// buffers and no GSO, so every datagram reaches the listener as a datagram of its own.
func NewSenders(n int) ([]*batchio.Conn, error) {
	var cs []*batchio.Conn
	for i := 0; i < n; i++ {
		c, err := batchio.Listen("udp4", "127.0.0.1:0", batchio.Options{SendBuffer: 4 << 20, RecvBuffer: 4 << 20, DisableGSO: true, DisableGRO: true, BatchSize: 256})
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// ReadReplies reads what comes back on c until it is closed, calling fn for every datagram.
func ReadReplies(c *batchio.Conn, fn func(from netip.AddrPort, d []byte)) {
	slab := batchio.NewSlab(64, 64<<10) // whole datagrams: a reply's true size matters
	msgs := slab.Messages()
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		for i := range msgs[:n] {
			fn(msgs[i].Addr, msgs[i].Buf[:msgs[i].N])
		}
	}
}

// startReaders reads the replies arriving on each attack socket with fn, on one goroutine per
// socket, and returns the sockets as Senders; stop closes them and waits for the readers (once:
// defer it, and call it early to read the final counts).
func startReaders(conns []*batchio.Conn, fn func(netip.AddrPort, []byte)) (senders []Sender, stop func()) {
	var readers sync.WaitGroup
	senders = make([]Sender, len(conns))
	for i, c := range conns {
		senders[i] = c
		readers.Add(1)
		go func() {
			defer readers.Done()
			ReadReplies(c, fn)
		}()
	}
	return senders, sync.OnceFunc(func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	})
}
