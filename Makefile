# Resilient Records — build and test entry points.
#
#   make demo          the whole story (put, grant, get, revoke, erase, audit) on a local 4-node network
#   make test          everything CI runs: gofmt, vet, staticcheck, the npm oracle, kubo, all Go tests
#   make bench-umbral  the Umbral package against the reference (WASM under Node.js)
#   make bench-envelope, bench-store   the sealed-file format and the embedded store against age and kubo
#   make bench-ledger, bench-proxy, bench-replication   figures on a 4-node loopback network
#   make bench-abuse   honest users' figures while hostile clients flood a 4-node network
#   make bench-scale   what grows with load: a 4-node network loaded to 10 000 and 100 000 records
#   make bench-vault   the proxy vault's database against one file per grant, 10k to 1M fragments
#   make bench-stream  streams: appends a second from one device, a day of 1 Hz points read through a grant
#
# Tools the tests need are installed under .cache/ (gitignored) on first use.

GO        ?= go
NPM       ?= npm
CACHE     := $(CURDIR)/.cache
ORACLE    := umbral/testdata/oracle
IPFS      := $(CACHE)/bin/ipfs
STATICCHECK := $(CACHE)/bin/staticcheck

export RREC_UMBRAL_ORACLE := $(CURDIR)/$(ORACLE)
FHIREX    := fhir/testdata/r4examples
export RREC_FHIR_R4_EXAMPLES := $(CURDIR)/$(FHIREX)/node_modules/hl7.fhir.r4.examples
export RREC_IPFS          := $(IPFS)

.PHONY: demo test vet lint oracle kubo bench-umbral bench-envelope bench-store bench-ledger bench-proxy bench-replication bench-abuse bench-scale bench-vault bench-stream

demo:
	$(GO) run ./cmd/rrec demo

# One test binary at a time (-p 1): the network tests run 4 validators in one process, and
# two such packages at once on a 2-core machine turn consensus timeouts into flaky failures.
test: vet lint oracle fhir-examples fhirkit kubo chromium
	$(GO) test -count=1 -p 1 -timeout 20m ./...

vet:
	$(GO) vet ./...

# Headless Chromium (Debian's package) for the app's browser test, installed only when no
# chromium is on PATH, without questions (as root, or through sudo when not).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# gofmt must have nothing to say, and staticcheck (pinned) neither.
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*' -not -path '*/node_modules/*')); if [ -n "$$out" ]; then echo "gofmt -w these files:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(CACHE)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The reference Umbral implementation (npm @nucypher/umbral-pre@0.10.0), pinned by the lock file.
oracle: $(ORACLE)/node_modules/.package-lock.json

$(ORACLE)/node_modules/.package-lock.json: $(ORACLE)/package.json $(ORACLE)/package-lock.json
	cd $(ORACLE) && $(NPM) ci --no-audit --no-fund --loglevel=error

# The official HL7 FHIR R4 examples (npm hl7.fhir.r4.examples@4.0.1), pinned by the lock file:
# the fhir package's tests check what it emits against the examples of the same resources.
.PHONY: fhir-examples
fhir-examples: $(FHIREX)/node_modules/.package-lock.json

$(FHIREX)/node_modules/.package-lock.json: $(FHIREX)/package.json $(FHIREX)/package-lock.json
	cd $(FHIREX) && $(NPM) ci --no-audit --no-fund --loglevel=error

# A FHIR client (npm fhir-kit-client), pinned by the lock file: the FHIR read endpoint's
# test reads every route through it under Node.js, as a provider's system would.
FHIRKIT   := fhir/fhirserve/testdata/fhirkit
.PHONY: fhirkit
fhirkit: $(FHIRKIT)/node_modules/.package-lock.json

$(FHIRKIT)/node_modules/.package-lock.json: $(FHIRKIT)/package.json $(FHIRKIT)/package-lock.json
	cd $(FHIRKIT) && $(NPM) ci --no-audit --no-fund --loglevel=error

# kubo v0.43.0 for the store/kubo tests, pinned as a tool dependency in its own module so that
# its dependency graph stays out of ours. The first build takes minutes; later ones are cached.
kubo: $(IPFS)

$(IPFS): tools/kubo/go.mod tools/kubo/go.sum
	$(GO) build -modfile=tools/kubo/go.mod -trimpath -ldflags='-s -w' -o $@ github.com/ipfs/kubo/cmd/ipfs

# One run on this machine: the reference (WASM under Node.js) against the Go package, medians
# of interleaved rounds, ratio per operation, min and geometric-mean speedup.
bench-umbral: oracle
	GO=$(GO) scripts/bench-umbral/run.sh

# 1 GiB sealed and opened against filippo.io/age, paired child-process runs, peak RSS of each.
bench-envelope:
	$(GO) run ./scripts/bench-envelope

# store/local import against 'ipfs add --cid-version=1 --raw-leaves' of the same files.
bench-store: kubo
	$(GO) run ./scripts/bench-store -ipfs $(IPFS) -sizes 100M,1G -runs 3

# Grant commit latency (p50, p90) and sustained grants/s on a 4-node loopback network.
bench-ledger:
	$(GO) run ./scripts/bench-ledger

# Cfrags/s, accesses/s end to end and access latency on a 4-node loopback network.
bench-proxy:
	$(GO) run ./scripts/bench-proxy

# Time from PutRecord commit until all four nodes hold a 100 MiB blob, embedded and kubo stores.
bench-replication: kubo
	$(GO) run ./scripts/bench-replication -ipfs $(IPFS) -size 100M -runs 3 -stores embedded,kubo

# Honest put → grant → get → revoke, quiet and then under a flood of hostile clients: access
# p50/p90 of both runs, the longest block interval, each node's disk growth against its quotas.
bench-abuse:
	$(GO) run ./scripts/bench-abuse

bench-scale:
	$(GO) run ./scripts/bench-scale

# Streams: entries appended a second from one device, batched, and a day of 1 Hz points
# (86 400 entries) read through a grant; medians of 3 runs.
bench-stream:
	$(GO) run ./scripts/bench-stream

# Deposit rate, Get p50, deletion rate, start-up (open + reconcile), sweep and migration of the
# proxy vault at 10k, 100k and 1M fragments, against the earlier file-per-grant layout; medians.
bench-vault:
	$(GO) run ./scripts/bench-vault
