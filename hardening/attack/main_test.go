package attack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binaries the process tests run: the listener (sttfast, with -race when the tests run under
// it), an uninstrumented listener for the flood, and the attacker (sttattack, never
// instrumented: it must send at full rate). They are built on first use, so that unit tests
// and fuzzing never wait for them.
var (
	binDir                                string
	binSttfast, binSttfastFast, binAttack string
	buildOnce                             sync.Once
	buildErr                              error
)

// TestMain removes the binaries after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needBinaries builds the binaries once.
func needBinaries(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sttattack-test-")
		if buildErr != nil {
			return
		}
		binSttfastFast = filepath.Join(binDir, "sttfast-norace")
		binAttack = filepath.Join(binDir, "sttattack")
		binSttfast = binSttfastFast
		builds := [][]string{
			{"-o", binSttfastFast, "github.com/sttfast/sttfast/cmd/sttfast"},
			{"-o", binAttack, "github.com/sttfast/sttfast/hardening/attack/cmd/sttattack"},
		}
		if raceEnabled {
			binSttfast = filepath.Join(binDir, "sttfast-race")
			builds = append(builds, []string{"-race", "-o", binSttfast, "github.com/sttfast/sttfast/cmd/sttfast"})
		}
		for _, args := range builds {
			if out, err := exec.Command("go", append([]string{"build"}, args...)...).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}
