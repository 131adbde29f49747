package recovery

import (
	"math"
	"time"
)

// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation).
//
// The sender keeps a running count of delivered bytes and when the count
// last moved. Each packet is stamped at send with a snapshot of that
// state; when it is acknowledged, the bytes delivered since the snapshot
// divided by the time they took is a sample of the path's delivery rate.
// The time is the longer of the send interval (first to last packet of
// the sample) and the ACK interval, so neither ACK compression nor a
// burst of sends can make the rate look faster than the bottleneck.

// rateSampler is the sender-wide state of the estimator plus the sample
// being built for the ACK in progress.
type rateSampler struct {
	delivered     uint64 // bytes acknowledged so far (lost-then-acked included)
	deliveredTime Time   // when delivered last grew
	firstSentTime Time   // send time of the newest packet acked, start of the send interval
	// appLimitedUntil marks the delivered count up to which samples are
	// app-limited (0 = not app-limited): packets sent while the sender
	// had nothing to send carry the mark, and their samples may not lower
	// the bandwidth estimate.
	appLimitedUntil uint64

	s rateSample
}

// rateSample is what one ACK tells about the delivery rate. The prior*
// fields come from the newest packet acknowledged by the ACK.
type rateSample struct {
	priorDelivered uint64
	priorTime      Time // delivered time when that packet was sent
	priorSent      Time // its send time, to pick the newest packet
	sendElapsed    time.Duration
	deliveredNow   uint64  // bytes delivered by this ACK
	rate           float64 // bytes per nanosecond; valid only if ok
	has            bool    // at least one packet was delivered
	appLimited     bool
	ok             bool // rate is a usable sample
}

// Per-packet stamps are stored in the slot as microsecond offsets back
// from the send time, so two stamps cost 8 bytes instead of 16; uint32
// microseconds span 71 minutes, far beyond any interval a packet can be
// in flight, and a microsecond is far below the intervals (at least the
// min RTT) a sample is taken over.
func stampAgo(sent, t Time) uint32 {
	d := (sent - t) / Time(time.Microsecond)
	if d < 0 {
		return 0
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}

func unstamp(sent Time, ago uint32) Time { return sent - Time(ago)*Time(time.Microsecond) }

// onSent stamps sl, a packet about to enter flight. inFlight is the bytes
// in flight before it: an empty pipe restarts both intervals at now, so
// the idle time before the packet is not counted as delivery time.
func (r *rateSampler) onSent(now Time, sl *slot, inFlight int) {
	if inFlight == 0 {
		r.firstSentTime = now
		r.deliveredTime = now
	}
	sl.delivered = r.delivered
	sl.deliveredAgo = stampAgo(now, r.deliveredTime)
	sl.firstSentAgo = stampAgo(now, r.firstSentTime)
	if r.appLimitedUntil != 0 {
		sl.flags |= flagAppLimited
	}
}

// beginAck clears the sample before an ACK's packets are delivered.
func (r *rateSampler) beginAck() { r.s = rateSample{} }

// onDelivered accounts for one acknowledged packet, including a packet
// declared lost earlier and acknowledged late: its bytes did reach the
// peer, and leaving them out would make the rate look lower than it is.
func (r *rateSampler) onDelivered(now Time, sl *slot) {
	r.delivered += uint64(sl.size)
	r.deliveredTime = now
	s := &r.s
	s.deliveredNow += uint64(sl.size)
	if s.has && (sl.delivered < s.priorDelivered || (sl.delivered == s.priorDelivered && sl.sent <= s.priorSent)) {
		return // an older packet: the newest one defines the sample
	}
	s.has = true
	s.priorDelivered = sl.delivered
	s.priorTime = unstamp(sl.sent, sl.deliveredAgo)
	s.priorSent = sl.sent
	s.sendElapsed = time.Duration(sl.sent - unstamp(sl.sent, sl.firstSentAgo))
	s.appLimited = sl.flags&flagAppLimited != 0
	r.firstSentTime = sl.sent
}

// endAck turns the packets delivered by this ACK into a rate sample. An
// interval shorter than minRTT is discarded: it can only come from ACK
// compression or a stretch ACK, and would overestimate the rate.
func (r *rateSampler) endAck(minRTT time.Duration) *rateSample {
	s := &r.s
	if r.appLimitedUntil != 0 && r.delivered > r.appLimitedUntil {
		r.appLimitedUntil = 0 // the app-limited packets are all acknowledged
	}
	if !s.has {
		return s
	}
	interval := s.sendElapsed
	if ack := time.Duration(r.deliveredTime - s.priorTime); ack > interval {
		interval = ack
	}
	if interval <= 0 || interval < minRTT {
		return s
	}
	s.rate = float64(r.delivered-s.priorDelivered) / float64(interval)
	s.ok = true
	return s
}

// setAppLimited marks the pipe as not full because the application had
// nothing to send: samples until what is in flight now is acknowledged
// cannot prove the bandwidth went down.
func (r *rateSampler) setAppLimited(inFlight int) {
	r.appLimitedUntil = r.delivered + uint64(inFlight)
	if r.appLimitedUntil == 0 {
		r.appLimitedUntil = 1
	}
}
