# Resilient Records — build and test entry points.
#
#   make test          everything CI runs: vet, the npm oracle, kubo, all Go tests
#   make bench-umbral  the Umbral package against the reference (WASM under Node.js)
#
# Tools the tests need are installed under .cache/ (gitignored) on first use.

GO        ?= go
NPM       ?= npm
CACHE     := $(CURDIR)/.cache
ORACLE    := umbral/testdata/oracle

export RREC_UMBRAL_ORACLE := $(CURDIR)/$(ORACLE)

.PHONY: test vet oracle bench-umbral bench-envelope

test: vet oracle
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

# The reference Umbral implementation (npm @nucypher/umbral-pre@0.10.0), pinned by the lock file.
oracle: $(ORACLE)/node_modules/.package-lock.json

$(ORACLE)/node_modules/.package-lock.json: $(ORACLE)/package.json $(ORACLE)/package-lock.json
	cd $(ORACLE) && $(NPM) ci --no-audit --no-fund --loglevel=error

# One run on this machine: the reference (WASM under Node.js) against the Go package, medians
# of interleaved rounds, ratio per operation, min and geometric-mean speedup.
bench-umbral: oracle
	GO=$(GO) scripts/bench-umbral/run.sh

# 1 GiB sealed and opened against filippo.io/age, paired child-process runs, peak RSS of each.
bench-envelope:
	$(GO) run ./scripts/bench-envelope
