package ctrl

import (
	"fmt"
	"io"
	"os"

	"github.com/sttfast/sttfast/stc"
)

// KeyLogEnv names the environment variable that, when set to a file name and Config.KeyLog is
// nil, makes a node append its sessions' traffic secrets to that file, as SSLKEYLOGFILE does for
// TLS (format: docs/PROTOCOL.md §4, "Key log").
const KeyLogEnv = "STTKEYLOGFILE"

// openKeyLog returns the key log of cfg (Config.KeyLog, else the file named by STTKEYLOGFILE),
// the file to close with the node (nil when the writer is the caller's), or nil when keys are not
// logged. A key log hands the traffic to whoever reads it, so a node that writes one says so on
// stderr, whichever way it was asked to.
func openKeyLog(cfg *Config) (*stc.KeyLog, io.Closer, error) {
	if cfg.KeyLog != nil {
		fmt.Fprintln(os.Stderr, "sttfast: warning: session keys are being logged (Config.KeyLog): whoever reads the log can decrypt this node's traffic")
		return stc.NewKeyLog(cfg.KeyLog), nil, nil
	}
	path := os.Getenv(KeyLogEnv)
	if path == "" {
		return nil, nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("key log %s=%s: %w", KeyLogEnv, path, err)
	}
	fmt.Fprintf(os.Stderr, "sttfast: warning: %s is set: session keys are appended to %s; whoever reads it can decrypt this node's traffic\n", KeyLogEnv, path)
	return stc.NewKeyLog(f), f, nil
}
