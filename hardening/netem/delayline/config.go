package delayline

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Dist is the distribution of the per-datagram delay variation.
type Dist uint8

const (
	// Uniform draws the variation uniformly from [-Jitter, +Jitter]: the model, and the
	// one that reorders most for a given bound.
	Uniform Dist = iota
	// Normal draws it from a normal distribution with σ = Jitter, closer to queueing noise on a
	// real path (about 5% of datagrams vary by more than 2σ).
	Normal
)

// String returns the name ParseDist reads.
func (d Dist) String() string {
	if d == Normal {
		return "normal"
	}
	return "uniform"
}

// ParseDist reads "uniform" or "normal" (case-insensitive), for flags.
func ParseDist(s string) (Dist, error) {
	switch strings.ToLower(s) {
	case "uniform", "":
		return Uniform, nil
	case "normal":
		return Normal, nil
	}
	return Uniform, fmt.Errorf("delayline: unknown distribution %q (want uniform or normal)", s)
}

// Defaults of the per-direction memory bound (Config.MaxPackets, Config.MaxBytes): enough for
// 10 Gbit/s through 20 ms, far more than loopback forwarding carries, small enough that a stuck
// receiver cannot make the forwarder grow without bound.
const (
	DefaultMaxPackets = 1 << 16
	DefaultMaxBytes   = 32 << 20
	// DefaultQueueBytes is the bottleneck queue when Rate is set and QueueBytes is not: 64 KiB,
	// about 5 ms at 100 Mbit/s.
	DefaultQueueBytes = 64 << 10
)

// Config is the impairment of one direction. The zero value forwards at once, in order.
type Config struct {
	// Delay is added to every datagram (one-way propagation delay).
	Delay time.Duration
	// Jitter is the bound (Uniform) or standard deviation (Normal) of an independent per-datagram
	// variation added to Delay. The total is clamped at zero, so a datagram is never sent before
	// it arrived. Datagrams whose spacing is below the variation overtake each other.
	Jitter time.Duration
	Dist   Dist
	// Rate, in bytes per second, is a bottleneck the datagrams are serialised through before the
	// delay (0: none). Its queue holds at most QueueBytes; a datagram that does not fit is dropped
	// (drop-tail, counted in Stats.DroppedQueue).
	Rate       int64
	QueueBytes int
	// Loss is the probability in [0, 1) that a datagram is dropped at random (Stats.DroppedLoss).
	Loss float64
	// Seed seeds the PCG generator of this direction's loss and jitter draws, so that the same
	// arrival sequence gets the same decisions. Rate decisions depend on arrival times and are
	// therefore only as reproducible as those.
	Seed uint64
	// MaxPackets and MaxBytes bound what waits in this direction (0: the defaults); datagrams
	// beyond either are dropped (Stats.DroppedLimit).
	MaxPackets int
	MaxBytes   int
}

func (c Config) withDefaults() Config {
	if c.MaxPackets <= 0 {
		c.MaxPackets = DefaultMaxPackets
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Rate > 0 && c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Delay < 0 || c.Jitter < 0:
		return errors.New("delayline: Delay and Jitter must not be negative")
	case c.Dist > Normal:
		return fmt.Errorf("delayline: unknown distribution %d", c.Dist)
	case c.Rate < 0:
		return errors.New("delayline: Rate must not be negative")
	case c.Loss < 0 || c.Loss >= 1 || math.IsNaN(c.Loss):
		return fmt.Errorf("delayline: Loss %v is outside [0, 1)", c.Loss)
	}
	return nil
}

// String describes the impairment for logs and reports.
func (c Config) String() string {
	s := fmt.Sprintf("delay %v", c.Delay)
	if c.Jitter > 0 {
		sym := "±"
		if c.Dist == Normal {
			sym = "σ="
		}
		s += fmt.Sprintf(" %s%v %s", sym, c.Jitter, c.Dist)
	}
	if c.Rate > 0 {
		s += fmt.Sprintf(", rate %.1f Mbit/s queue %d B", float64(c.Rate)*8/1e6, c.QueueBytes)
	}
	if c.Loss > 0 {
		s += fmt.Sprintf(", loss %.2f%%", c.Loss*100)
	}
	return s
}

// dropReason says why the shaper refused a datagram.
type dropReason uint8

const (
	keep dropReason = iota
	dropLoss
	dropQueue
)

// shaper makes the per-datagram decisions of one direction. It is owned by that direction's
// reader goroutine, which is what makes the seeded draws reproducible.
type shaper struct {
	cfg Config
	rng *rand.Rand
	// busyUntil is when the bottleneck finishes serialising what it holds (ns on the line clock).
	busyUntil int64
}

func newShaper(cfg Config) *shaper {
	// The second PCG word is fixed: one seed per direction is all a user should have to choose.
	return &shaper{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))}
}

// decide returns when a datagram of size bytes that arrived at now (ns) is due out, or why it is
// dropped. The loss draw comes first and always happens when Loss > 0, so the sequence of draws
// depends only on the sequence of arrivals.
func (s *shaper) decide(now int64, size int) (int64, dropReason) {
	c := &s.cfg
	if c.Loss > 0 && s.rng.Float64() < c.Loss {
		return 0, dropLoss
	}
	depart := now
	if c.Rate > 0 {
		start := max(now, s.busyUntil)
		backlog := float64(start-now) * float64(c.Rate) / 1e9 // bytes still ahead of this one
		if backlog+float64(size) > float64(c.QueueBytes) {
			return 0, dropQueue
		}
		s.busyUntil = start + int64(float64(size)*1e9/float64(c.Rate))
		depart = s.busyUntil
	}
	return depart + s.delay(), keep
}

// delay draws the one-way delay of one datagram, never negative.
func (s *shaper) delay() int64 {
	d := float64(s.cfg.Delay)
	if j := float64(s.cfg.Jitter); j > 0 {
		if s.cfg.Dist == Normal {
			d += s.rng.NormFloat64() * j
		} else {
			d += (2*s.rng.Float64() - 1) * j
		}
	}
	return int64(max(d, 0))
}
