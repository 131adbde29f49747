#!/bin/sh
# fuzz-long.sh: run every fuzz target of the module, one at a time, for FUZZTIME each, with
# -parallel PARALLEL workers ("make fuzz-long"; docs/RELIABILITY.md). Every target runs even if
# an earlier one failed; a failing input is written by "go test" to the target's package under
# testdata/fuzz/<Target>/, where it becomes a regression seed (keep it with the fix). The log of
# each target and a summary (execs, new interesting inputs, result) go to LOGDIR. Exit status 1
# if any target failed.
#
#   FUZZTIME=3m PARALLEL=2 LOGDIR=/tmp/sttfast-fuzz-long GO=go hardening/attack/scripts/fuzz-long.sh [PKG...]
set -u
FUZZTIME=${FUZZTIME:-3m}
PARALLEL=${PARALLEL:-2}
LOGDIR=${LOGDIR:-/tmp/sttfast-fuzz-long}
GO=${GO:-go}
mkdir -p "$LOGDIR"
summary="$LOGDIR/summary.md"
pkgs=${*:-$($GO list ./...)}
failed=0
total=0
{
	echo "fuzz-long $(date -u +%Y-%m-%dT%H:%M:%SZ): $FUZZTIME per target, -parallel $PARALLEL, $($GO version | cut -d' ' -f3)"
	echo
	echo "| package | target | time | execs | new interesting (corpus) | result |"
	echo "|---|---|---|---|---|---|"
} >"$summary"
for pkg in $pkgs; do
	targets=$($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for t in $targets; do
		short=$(echo "$pkg" | sed 's|^github.com/sttfast/sttfast/||')
		log="$LOGDIR/$(echo "$short" | tr / _)_$t.log"
		echo "== $short $t ($FUZZTIME)"
		if $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel "$PARALLEL" "$pkg" >"$log" 2>&1; then
			result=ok
		else
			result=FAIL
			failed=$((failed + 1))
			grep -E 'Failing input written to|--- FAIL|panic:' "$log" | head -5
		fi
		# The last progress line: "fuzz: elapsed: 3m0s, execs: 123 (45/sec), new interesting: 6 (total: 78)".
		last=$(grep '^fuzz: elapsed:' "$log" | tail -1)
		execs=$(echo "$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')
		newi=$(echo "$last" | sed -n 's/.*new interesting: \([0-9]*\) (total: \([0-9]*\)).*/\1 (\2)/p')
		elapsed=$(echo "$last" | sed -n 's/^fuzz: elapsed: \([^,]*\),.*/\1/p')
		total=$((total + ${execs:-0}))
		echo "| $short | $t | ${elapsed:-?} | ${execs:-?} | ${newi:-?} | $result |" >>"$summary"
		echo "   $result: ${execs:-?} execs, ${newi:-?} new interesting; log $log"
	done
done
{
	echo
	echo "total executions: $total; failed targets: $failed"
} >>"$summary"
cat "$summary"
[ "$failed" -eq 0 ]
