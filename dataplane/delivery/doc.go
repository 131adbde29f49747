// Package delivery holds the arithmetic of probabilistic streams (PROTOCOL.md §5, RELIABILITY.md
// "Probabilistic delivery"): the normalised Shannon entropy of a message's plaintext, the
// delivery target that entropy earns, and the number of retransmissions a target needs on a
// path with a measured loss rate.
//
// Everything here is a pure function of its arguments and allocates nothing, because the sender
// calls Entropy on every message it writes to a probabilistic stream and Retransmissions on
// every loss it handles.
//
// Why entropy: a message of high entropy (compressed video, ciphertext, audio) cannot be
// predicted or concealed from its neighbours, so losing it costs the most; a message of low
// entropy (repetitive telemetry, a counter that moved by one) is cheap to lose because the next
// one says nearly the same. The mapping is the seed's reference, kept because nothing measured
// here argues against it:
//
//	H > 0.90  -> 0.99
//	H > 0.75  -> 0.95
//	H > 0.60  -> 0.90
//	H > 0.30  -> 0.80
//	otherwise -> 0.70
package delivery
