package delivery

import "math/rand/v2"

// SampleSize is the length of the messages SampleMessage makes.
const SampleSize = 256

// sampleAlphabets is each class's number of symbols m: a SampleSize-byte message holding each of
// m symbols equally often has a normalised entropy of exactly log2(m)/8 (1/8, 3/8, 5/8, 7/8, 1),
// inside the class's range.
var sampleAlphabets = [NumClasses]int{2, 8, 32, 128, 256}

// SampleMessage fills buf (its capacity must be at least SampleSize) with a SampleSize-byte
// message of class c and returns it: m symbols, each SampleSize/m times, in an order drawn from
// rng, so its entropy is the class's and its bytes differ from message to message. It is the
// message of every measurement of probabilistic delivery (sttfast bench --probabilistic, the
// in-process and network-namespace tests), so they all send the same kind of feed.
func SampleMessage(buf []byte, c Class, rng *rand.Rand) []byte {
	m := sampleAlphabets[c]
	buf = buf[:SampleSize]
	base := byte(rng.Uint32())
	for j := range buf {
		buf[j] = base + byte(j%m)*byte(SampleSize/m)
	}
	rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
	return buf
}
