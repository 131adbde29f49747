package delivery_test

import (
	"fmt"

	"github.com/sttfast/sttfast/dataplane/delivery"
)

// A message's entropy picks its delivery target, and the path's loss rate turns the target
// into the number of times the sender may send it again.
func Example() {
	telemetry := []byte("temp=21.5 temp=21.5 temp=21.5 temp=21.6")
	class := delivery.ClassOf(delivery.Entropy(telemetry))
	k := delivery.Retransmissions(class.Target(), 0.20, 1)
	fmt.Printf("target %.2f, %d retransmissions at 20%% loss\n", class.Target(), k)
	// Output: target 0.80, 0 retransmissions at 20% loss
}
