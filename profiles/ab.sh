#!/bin/sh
# Side-by-side comparison of two sttfast binaries on the in-process loopback bench: alternating A
# and B for ROUNDS rounds of 3 s, one line per run (binary, goodput Gbit/s, M messages/s, CPU
# seconds (user+sys, both ends) per GB verified, packet size the sessions ended with), then
# medians with min-max. CPU per GB is the steadier figure on a shared machine; goodput swings with
# whatever else runs.
# Usage: profiles/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [SIZE]   (needs /usr/bin/time and python3)
set -eu
a="$1" b="$2" rounds="${3:-5}" size="${4:-64KiB}"
out="$(mktemp)" tm="$(mktemp)" js="$(mktemp)"
trap 'rm -f "$out" "$tm" "$js"' EXIT
for i in $(seq "$rounds"); do
	for v in A B; do
		bin="$a"
		[ "$v" = B ] && bin="$b"
		/usr/bin/time -f "%U %S" -o "$tm" "$bin" bench --size "$size" --duration 3s --quiet --json > "$js"
		python3 -c "
import json
d = json.load(open('$js')); u, s = map(float, open('$tm').read().split()[:2])
print('$v', round(d['goodput_gbps'], 3), round(d.get('messages_per_s', 0) / 1e6, 3),
      round((u + s) / (d['bytes_verified'] / 1e9), 3), d.get('path_mtu', '-'))" | tee -a "$out"
	done
done
python3 -c "
import statistics
rows = [l.split() for l in open('$out')]
for v in ('A', 'B'):
    g = [float(r[1]) for r in rows if r[0] == v]
    m = [float(r[2]) for r in rows if r[0] == v]
    c = [float(r[3]) for r in rows if r[0] == v]
    print(v, 'goodput %.3f Gbit/s (%.3f-%.3f), %.3f M msg/s (%.3f-%.3f), CPU %.2f s/GB (%.2f-%.2f), n=%d' % (
        statistics.median(g), min(g), max(g), statistics.median(m), min(m), max(m),
        statistics.median(c), min(c), max(c), len(g)))"
