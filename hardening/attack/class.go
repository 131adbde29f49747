package attack

import "fmt"

// Class names a kind of attack datagram, so that what was sent can be compared with the drop
// reasons the listener counted.
type Class uint8

// Hostile input (RunHostile).
const (
	ClassRandom           Class = iota // uniformly random bytes, 0 to 1500 of them
	ClassTruncated                     // the magic and less than a header
	ClassOversize                      // a handshake-kind packet above the 2048-byte handshake limit
	ClassBadVersion                    // a header of another protocol version
	ClassBadKind                       // a header of an unknown packet kind
	ClassBadHeader                     // reserved flag bits, flags on a handshake packet, pn ≥ 2^62
	ClassGarbageLive                   // protected kind, a live session's id, random payload
	ClassGarbageUnknown                // protected kind, an id no session has, random payload
	ClassHelloGarbage                  // handshake kind starting with a HELLO frame, random rest
	ClassHandshakeGarbage              // handshake kind, other first frames, random rest
	ClassBitFlip                       // a captured real packet with 1 to 3 bits flipped
	ClassReplay                        // a captured real packet, unchanged

	// Replay (RunReplay).
	ClassReplayInWindow    // a captured client→listener packet within 2048 of the largest number
	ClassReplayBelowWindow // a captured client→listener packet behind the replay window
	ClassReplayToClient    // a captured listener→client protected packet, sent to the listener
	ClassMangled           // a captured client→listener packet renumbered with an unseen number
	ClassReplayHandshake   // a captured handshake packet (HELLO, CHALLENGE, AUTH_PROOF)

	// Handshake flood (RunFlood).
	ClassBadMAC        // a well-formed HELLO with a wrong MAC
	ClassCapturedHello // a real peer's HELLO, captured and sent again and again
	ClassValidRepeat   // a HELLO built with the seed, its nonce drawn from a small set: it repeats

	numClasses
)

var classNames = [numClasses]string{"random", "truncated", "oversize", "bad_version", "bad_kind",
	"bad_header", "garbage_live", "garbage_unknown", "hello_garbage", "handshake_garbage",
	"bit_flip", "replay", "replay_in_window", "replay_below_window", "replay_to_client", "mangled", "replay_handshake",
	"bad_mac", "captured_hello", "valid_repeat"}

// String returns the class's name.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// MarshalText names the class in JSON (map keys included).
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a class name.
func (c *Class) UnmarshalText(b []byte) error {
	for i, n := range classNames {
		if n == string(b) {
			*c = Class(i)
			return nil
		}
	}
	return fmt.Errorf("attack: unknown class %q", b)
}

// HostileClasses are the classes RunHostile mixes by default.
func HostileClasses() []Class {
	return []Class{ClassRandom, ClassTruncated, ClassOversize, ClassBadVersion, ClassBadKind,
		ClassBadHeader, ClassGarbageLive, ClassGarbageUnknown, ClassHelloGarbage,
		ClassHandshakeGarbage, ClassBitFlip, ClassReplay}
}
