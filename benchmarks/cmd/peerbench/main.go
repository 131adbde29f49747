// Command peerbench benchmarks sttfast against its peers (quic-go, kcp-go, SRT) and two ceilings
// over loopback, each side in its own process, and writes the reports in benchmarks/results.
// Run "peerbench help"; the method is in the peerbench package documentation and in
// benchmarks/README.md.
package main

import (
	"os"

	"github.com/sttfast/sttfast/benchmarks/peerbench"
)

func main() {
	os.Exit(peerbench.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
