#!/bin/sh
# Captures CPU and allocation profiles of sttfast's bulk and small-message benchmarks (the
# in-process loopback bench: sender and receiver in one process, so one profile shows both
# halves), next to the binary they came from so `go tool pprof` can symbolize them later.
# Usage: profiles/capture.sh [duration]   (run from the repository root; make profile does)
set -eu
dur="${1:-5s}"
out="profiles"
ver="$(git describe --always --dirty 2>/dev/null || echo dev)"
go build -ldflags "-X main.version=$ver" -o "$out/sttfast.bin" ./cmd/sttfast
"$out/sttfast.bin" version > "$out/VERSION"
for w in "bulk 64KiB" "small 64"; do
	set -- $w
	name=$1 size=$2
	echo "== $name ($size-byte messages, $dur)"
	"$out/sttfast.bin" bench --duration "$dur" --size "$size" --quiet --json \
		--cpuprofile "$out/$name.cpu.pprof" --memprofile "$out/$name.alloc.pprof" > "$out/$name.json"
	go tool pprof -top -nodecount=25 "$out/sttfast.bin" "$out/$name.cpu.pprof" > "$out/$name.cpu.top.txt" 2>/dev/null
	go tool pprof -sample_index=alloc_space -top -nodecount=15 "$out/sttfast.bin" "$out/$name.alloc.pprof" > "$out/$name.alloc.top.txt" 2>/dev/null
done
echo "profiles written to $out/ (binary $ver)"
