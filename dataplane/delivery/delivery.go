package delivery

import "math"

// Class is one of the five entropy classes of the reference mapping, from ClassLow (H <= 0.3)
// to ClassHighest (H > 0.9). It is the index into per-class counters.
type Class uint8

// The entropy classes, lowest first.
const (
	ClassLow     Class = iota // H <= 0.30: target 0.70
	ClassMid                  // H <= 0.60: target 0.80
	ClassHigh                 // H <= 0.75: target 0.90
	ClassHigher               // H <= 0.90: target 0.95
	ClassHighest              // H >  0.90: target 0.99
	NumClasses   = 5
)

// classBounds are the lower entropy bounds (exclusive) of each class above ClassLow, and
// classTargets the delivery target of each class: the seed's reference mapping.
var (
	classBounds  = [NumClasses]float64{0, 0.3, 0.6, 0.75, 0.9}
	classTargets = [NumClasses]float64{0.70, 0.80, 0.90, 0.95, 0.99}
)

// MaxRetransmissions caps the budget a target can ask for: on a path losing nearly everything
// no finite number of copies meets 0.99, and a cap keeps a probabilistic stream from turning
// into a retransmission storm there (the message is abandoned instead).
const MaxRetransmissions = 8

// Entropy returns the normalised Shannon entropy of p: H = −Σ f·log2 f over the byte
// frequencies f, divided by 8 (the entropy of uniformly random bytes), so 0 <= H <= 1. An empty
// message has entropy 0. It counts bytes in a 256-entry table on the stack and allocates nothing.
func Entropy(p []byte) float64 {
	if len(p) == 0 {
		return 0
	}
	var counts [256]uint32
	for _, b := range p {
		counts[b]++
	}
	n := float64(len(p))
	h := 0.0
	for _, c := range counts {
		if c != 0 {
			f := float64(c) / n
			h -= f * math.Log2(f)
		}
	}
	return min(max(h/8, 0), 1)
}

// ClassOf returns the entropy class of a normalised entropy h.
func ClassOf(h float64) Class {
	c := ClassLow
	for k := ClassMid; k < NumClasses; k++ {
		if h > classBounds[k] {
			c = k
		}
	}
	return c
}

// Target is the delivery probability the class promises.
func (c Class) Target() float64 { return classTargets[c] }

// String names the class by its target, as the bench reports it.
func (c Class) String() string {
	return [NumClasses]string{"H<=0.30 (0.70)", "H<=0.60 (0.80)", "H<=0.75 (0.90)", "H<=0.90 (0.95)", "H>0.90 (0.99)"}[c]
}

// Retransmissions returns the smallest k >= 0 such that a message sent in packets independent
// copies of which are each lost with probability loss arrives with probability at least target
// when each of its packets may be sent k more times: (1 − loss^(k+1))^packets >= target. For a
// one-packet message this is the reference formula 1 − p^(k+1) >= target. The result is capped
// at MaxRetransmissions; a loss of 0 needs none and a loss of 1 gets the cap.
func Retransmissions(target, loss float64, packets int) int {
	if loss <= 0 || target <= 0 {
		return 0
	}
	if loss >= 1 || target >= 1 {
		return MaxRetransmissions
	}
	// Each packet must arrive with probability target^(1/packets) for the message to arrive
	// with probability target.
	perPacket := target
	if packets > 1 {
		perPacket = math.Pow(target, 1/float64(packets))
	}
	miss := loss // probability that all k+1 copies are lost
	for k := 0; k < MaxRetransmissions; k++ {
		if 1-miss >= perPacket {
			return k
		}
		miss *= loss
	}
	return MaxRetransmissions
}

// ExpectedRetransmissions is the mean number of retransmissions per packet a budget of k costs
// on a path losing loss of its packets: the i-th retransmission happens only when the first i
// copies were all lost, so the mean is loss + loss² + … + loss^k. It is the minimum a sender
// meeting its target must spend, against which the measured count is judged.
func ExpectedRetransmissions(k int, loss float64) float64 {
	sum, term := 0.0, 1.0
	for i := 0; i < k; i++ {
		term *= loss
		sum += term
	}
	return sum
}

// DeliveryProbability is the probability that a one-packet message with a budget of k
// retransmissions arrives on a path losing loss of its packets: 1 − loss^(k+1).
func DeliveryProbability(k int, loss float64) float64 {
	return 1 - math.Pow(loss, float64(k+1))
}

// ExpectedRounds is the mean number of retransmission rounds a message of packets packets
// costs with a budget of k on a path losing loss of its packets: round r happens while some
// packet has lost all of its first r copies, so the mean is Σ_{r=1..k} 1 − (1 − loss^r)^packets.
// For one packet it is ExpectedRetransmissions.
func ExpectedRounds(k int, loss float64, packets int) float64 {
	sum, miss := 0.0, 1.0
	for r := 1; r <= k; r++ {
		miss *= loss
		sum += 1 - math.Pow(1-miss, float64(packets))
	}
	return sum
}

// MinimumRetransmissions is the mean retransmission rounds per message that a target needs on a
// path losing loss of its packets, for messages of one packet of which the fraction straddle is
// cut across two (a message smaller than a packet whose bytes a packet boundary splits): each
// kind with its own budget (Retransmissions with 1 or 2 packets).
func MinimumRetransmissions(target, loss, straddle float64) float64 {
	one := ExpectedRounds(Retransmissions(target, loss, 1), loss, 1)
	two := ExpectedRounds(Retransmissions(target, loss, 2), loss, 2)
	return (1-straddle)*one + straddle*two
}
