package delivery

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSampleMessageEntropy: each class's sample message has the entropy log2(m)/8 its alphabet
// gives, ClassOf puts it in its class, and two messages of a class differ.
func TestSampleMessageEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, SampleSize)
	for c := range Class(NumClasses) {
		want := math.Log2(float64(sampleAlphabets[c])) / 8
		m := SampleMessage(buf, c, rng)
		if h := Entropy(m); math.Abs(h-want) > 1e-9 || ClassOf(h) != c {
			t.Errorf("class %v: entropy %.4f (class %v), want %.4f", c, h, ClassOf(h), want)
		}
		first := string(m)
		if string(SampleMessage(buf, c, rng)) == first {
			t.Errorf("class %v: two sample messages are the same", c)
		}
	}
}
