package peerbench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A peer's knob set is written after its name in a contender name, "peer@key=value/key=value"
// (kcp-go@window=1024/mtu=1400/nodelay=fast), so that the orchestrator, the children and the
// samples in the JSON all carry exactly the setting a run used, and a sweep is an ordinary run
// of several such contenders interleaved.
const (
	knobSep     = "@"
	knobPairSep = "/"
)

// ErrBadKnobs is returned for a knob set that does not parse or names a value out of range.
var ErrBadKnobs = errors.New("bad knob set")

// tunable is a peer whose main settings are swept (peerbench sweep) so that the race runs it at
// its best. Its plain name runs the tuned settings (constants in the peer's file, chosen by the
// sweep); a name with a knob set runs exactly that set.
type tunable interface {
	Contender
	// withKnobs returns the contender running knob set spec (a subset of keys: the rest keep
	// the tuned values of the bulk workload).
	withKnobs(spec string) (Contender, error)
	// sweepGrid is the sweep's knob sets, in order.
	sweepGrid() []string
	// sweepWorkloads are the workloads the sweep measures by default.
	sweepWorkloads() []string
	// tunedSettings names the settings the plain contender runs, per workload.
	tunedSettings() string
}

// parseKnobs splits spec into key=value pairs, each key one of keys and given at most once.
func parseKnobs(spec string, keys []string) (map[string]string, error) {
	out := map[string]string{}
	if spec == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadKnobs)
	}
	for _, pair := range strings.Split(spec, knobPairSep) {
		k, v, ok := strings.Cut(pair, "=")
		switch {
		case !ok || k == "" || v == "":
			return nil, fmt.Errorf("%w: %q is not key=value", ErrBadKnobs, pair)
		case !slices.Contains(keys, k):
			return nil, fmt.Errorf("%w: unknown key %q (have %s)", ErrBadKnobs, k, strings.Join(keys, ", "))
		case out[k] != "":
			return nil, fmt.Errorf("%w: %q given twice", ErrBadKnobs, k)
		}
		out[k] = v
	}
	return out, nil
}

// knobInt parses an integer knob value within [lo, hi].
func knobInt(key, v string, lo, hi int) (int, error) {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return 0, fmt.Errorf("%w: %s=%q is not an integer", ErrBadKnobs, key, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%d outside %d..%d", ErrBadKnobs, key, n, lo, hi)
	}
	return n, nil
}

// knobChoice checks that v is one of choices.
func knobChoice(key, v string, choices []string) (string, error) {
	if !slices.Contains(choices, v) {
		return "", fmt.Errorf("%w: %s=%q (have %s)", ErrBadKnobs, key, v, strings.Join(choices, ", "))
	}
	return v, nil
}

// splitKnobs splits a contender name into the peer's name and its knob set ("" when none).
func splitKnobs(name string) (peer, spec string) {
	peer, spec, _ = strings.Cut(name, knobSep)
	return peer, spec
}

// knobsRecord is what the JSON records of c's settings: its knob set when it runs one, the tuned
// settings of a plain tunable peer, "" for the others.
func knobsRecord(c Contender) string {
	if _, spec := splitKnobs(c.Name()); spec != "" {
		return spec
	}
	if t, ok := c.(tunable); ok {
		return t.tunedSettings()
	}
	return ""
}

// knobVariants rebuilds the contenders of a recorded run that ran a knob set
// ("kcp-go@window=4096/..."), in name order, for reports rebuilt from a run's JSON.
func knobVariants(recorded map[string]string) []Contender {
	var names []string
	for n := range recorded {
		if strings.Contains(n, knobSep) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []Contender
	for _, n := range names {
		if c, err := contenderByName(n); err == nil {
			out = append(out, c)
		}
	}
	return out
}
