# sttfast build entry points. Every target works on a fresh machine with only Go installed.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 500ms
COUNT     ?= 6
FUZZTIME  ?= 10s
DATE      := $(shell date -u +%Y-%m-%d)
RESULTS   := benchmarks/results

.PHONY: all build test test-js lint run bench fuzz profile clean

all: lint build test

build:
	$(GO) build -o bin/sttfast ./cmd/sttfast

# The CI gate: vet, then every test under the race detector; then the allocation tests once more
# without it (the race detector makes sync.Pool drop items, so the data plane's AllocsPerRun tests
# skip under -race and are exact only here); then the stream buffers and the end-to-end transfers
# of ctrl without it, because only there do stream bytes live in the off-heap arena (under -race
# they stay on the heap, where the detector can watch them); then the benchmark harness's own
# smoke test (its module holds the peer libraries), so the harness cannot rot.
ALLOC_PKGS ?= ./batchio/... ./frame/... ./stc/... ./ring/... ./dataplane/... ./prim/objcodec/...
ARENA_PKGS ?= ./dataplane/streambuf/ ./ctrl/
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -run 'Alloc|Footprint' $(ALLOC_PKGS)
	$(GO) test -count=1 -timeout 10m $(ARENA_PKGS)
	cd benchmarks && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...
	$(MAKE) test-js

# The JavaScript client (clients/js): its known-answer vectors shared with Go, then the client
# against the freshly built binary over ws:// in Node and, where .ci/setup-chromium installed
# them, in headless Chromium. Skipped, saying so, where node is absent.
test-js: build
	@if command -v node >/dev/null 2>&1; then node --test clients/js/test/; \
	else echo "test-js: skipped: node is not installed (.ci/setup-node installs it)"; fi

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff
	cd benchmarks && $(GO) mod tidy -diff

# The main job: an encrypted loopback transfer with a live throughput readout.
run:
	$(GO) run ./cmd/sttfast bench

# Every Go benchmark of the core module, COUNT runs each (for benchstat), saved with the date.
bench:
	@mkdir -p $(RESULTS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee $(RESULTS)/go-bench-$(DATE).txt

# Each fuzz target for FUZZTIME (go test -fuzz takes one target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

profile:
	@mkdir -p profiles
	./profiles/capture.sh

clean:
	rm -rf bin

# Cross-transport benchmarks (separate module benchmarks/, see benchmarks/README.md): the harness
# binary, and extra flags for it (e.g. PEERBENCH_FLAGS=--quick for a smoke run).
PEERBENCH       ?= bin/peerbench
PEERBENCH_FLAGS ?=

.PHONY: bench-stt bench-peers

# sttfast's own numbers (issue 3), about 1.5 minutes: writes $(RESULTS)/stt-$(DATE).{md,json}.
bench-stt:
	cd benchmarks && $(GO) build -o $(abspath $(PEERBENCH)) ./cmd/peerbench
	./$(PEERBENCH) run --suite stt --out $(RESULTS) --date $(DATE) $(PEERBENCH_FLAGS)

# Everything: sttfast, quic-go, kcp-go, SRT and the ceilings, interleaved rounds, about 8 minutes
# on 2 cores: writes $(RESULTS)/peers-$(DATE).{md,svg,json} and stt-$(DATE).md.
bench-peers:
	cd benchmarks && $(GO) build -o $(abspath $(PEERBENCH)) ./cmd/peerbench
	./$(PEERBENCH) run --suite peers --out $(RESULTS) --date $(DATE) $(PEERBENCH_FLAGS)

# Issue 6, hostile-network tests (hardening/attack, docs/RELIABILITY.md). The fast versions run in
# "make test"; test-hard runs the long ones (60 s of hostile input, 1e6 replays, a 30 s handshake
# flood, the WebSocket attacks beside a 128 MiB echo) without the race detector, one after the
# other, and prints their figures.
.PHONY: test-hard fuzz-long

test-hard:
	STT_HARD_LONG=1 $(GO) test -count=1 -timeout 60m -v -run 'TestHostileInput|TestReplayCaptured|TestHandshakeFlood|TestWSHostile' ./hardening/attack/

# Every fuzz target of the module, one at a time, FUZZTIME each (3m unless given on the command
# line: "make fuzz-long FUZZTIME=10m"), 2 workers; logs and a summary in FUZZLOG. A failing input
# lands in its package's testdata/fuzz/<Target>/ (keep it: it is the regression seed).
FUZZLOG ?= /tmp/sttfast-fuzz-long
fuzz-long:
	FUZZTIME=$(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),3m) PARALLEL=2 LOGDIR=$(FUZZLOG) GO=$(GO) \
		./hardening/attack/scripts/fuzz-long.sh

# Network hardening (hardening/netem, issue 6). NETEM_SIZE bytes per transfer; SOAK_DURATION of
# soak (CSV every 10 s into hardening/netem/results/soak-DATE.csv). See hardening/netem/README.md.
NETEM_SIZE    ?= 256MiB
SOAK_DURATION ?= 1h
NETEM_RESULTS := hardening/netem/results

.PHONY: test-net soak

# As root: two network namespaces, a 100 Mbit/s and a 1 Gbit/s tbf bottleneck, nftables loss
# (1%, 5%, 20%, bursts); writes $(NETEM_RESULTS)/netns-$(DATE).{md,json}. About 10 minutes.
test-net:
	STT_NETEM_SIZE=$(NETEM_SIZE) STT_NETEM_RESULTS=$(abspath $(NETEM_RESULTS)) \
	  $(GO) test -count=1 -timeout 3h -run '^TestNetem' -v ./hardening/netem/

# Not in CI: bulk + small-message streams between sttpeer and sttfast serve for SOAK_DURATION.
soak:
	STT_SOAK_DURATION=$(SOAK_DURATION) STT_SOAK_CSV=$(abspath $(NETEM_RESULTS))/soak-$(DATE).csv \
	  $(GO) test -tags soak -count=1 -timeout 24h -run '^TestSoak$$' -v ./hardening/netem/

# Issue 10: sttfast (CUBIC and BBR) and quic-go each move 64 MiB through a userspace delay line
# (hardening/netem/delayline) run by the orchestrator: 5 ms each way with no jitter, ±1 ms and
# ±4 ms uniform, 3 interleaved rounds; writes $(RESULTS)/jitter-$(DATE).{md,json}. A few minutes
# when every transfer is fast; up to about 30 while transfers crawl (each gets at most 60 s).
.PHONY: bench-jitter
bench-jitter:
	cd benchmarks && $(GO) build -o $(abspath $(PEERBENCH)) ./cmd/peerbench
	./$(PEERBENCH) run --suite jitter --out $(RESULTS) --date $(DATE) $(PEERBENCH_FLAGS)

# Issue 15, long fat paths: one stream moves 256 MiB through the delay line at 400 Mbit/s with
# a 1, 100 and 300 ms round trip; sttfast (CUBIC, BBR, and with its windows pinned as before)
# beside quic-go with windows as large as sttfast's caps, interleaved; writes
# $(RESULTS)/longfat-$(DATE).{md,json}. About 2 minutes a round; --quick moves 32 MiB.
.PHONY: bench-longfat
bench-longfat:
	cd benchmarks && $(GO) build -o $(abspath $(PEERBENCH)) ./cmd/peerbench
	./$(PEERBENCH) run --suite longfat --out $(RESULTS) --date $(DATE) $(PEERBENCH_FLAGS)

# Issue 10: sttfast (CUBIC and BBR) and quic-go each move 64 MiB between two network namespaces
# (hardening/netem/netns.sh: veth pair, tbf bottleneck with a 10 ms queue, nftables random loss
# in both directions): 100 Mbit/s and 1 Gbit/s links x 0, 5 and 20% loss, 3 interleaved rounds;
# each transfer gets at most 120 s. As root; skips, saying why, where namespaces cannot be made.
# Writes $(RESULTS)/netns-$(DATE).{md,json}. About 6 minutes a round (quic-go at 20% loss runs
# into the limit).
.PHONY: bench-netns
bench-netns:
	cd benchmarks && $(GO) build -o $(abspath $(PEERBENCH)) ./cmd/peerbench
	./$(PEERBENCH) run --suite netns --out $(RESULTS) --date $(DATE) $(PEERBENCH_FLAGS)
