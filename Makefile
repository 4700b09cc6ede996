# callfix — see README.md. Every target works on a fresh machine with Go 1.26.
GO        ?= go
BIN       := bin/callfix
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/callfix/callfix/internal/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 2m
# Brief fuzzing inside `make test`; long runs belong to `make fuzz`.
# make test fuzzes each target for a number of runs, not a time: Go 1.26's
# fuzz coordinator can fail a target with "context deadline exceeded" when
# a -fuzztime duration ends while a worker is busy (go.dev/issue/75804,
# fixed in Go 1.27). TESTFUZZTIMEOUT bounds the time.
TESTFUZZTIME ?= 500x
TESTFUZZTIMEOUT ?= 5m

.PHONY: all build run demo test test-unit test-alloc test-fuzz test-e2e e2e-deps browser-deps report-screenshot promtool-deps test-rules bench bench-deps fuzz lint vet clean chaos soak

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callfix

## run: the proxy on :8080 in front of the default region (us-east-1), no config file needed.
## Pass flags with ARGS, e.g. make run ARGS='--region eu-west-2 --mode audit'.
run:
	$(GO) run ./cmd/callfix serve $(ARGS)

## demo: build callfix, run it in front of a recording upstream, show what it does to legacy requests.
demo: build
	$(GO) run ./tools/callfix-demo --callfix $(BIN)

## test: vet, unit and end-to-end tests under the race detector, then each fuzz target briefly,
## then promtool on the alert rules.
test: vet test-unit test-alloc test-fuzz test-rules

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node_modules/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

test-unit: e2e-deps browser-deps bench-deps
	$(GO) test -race -count=1 $(PKGS)

E2E_DEPS := e2e/node_modules/.package-lock.json

## e2e-deps: the official JavaScript SDK for the end-to-end tests (npm ci only when
## e2e/node_modules is missing or older than e2e/package-lock.json).
e2e-deps: $(E2E_DEPS)

$(E2E_DEPS): e2e/package-lock.json e2e/package.json
	npm ci --prefix e2e --no-audit --no-fund
	@touch $@

## browser-deps: Debian's chromium, which the HTML report's browser test drives
## (internal/report/browser_test.go), only when /usr/bin/chromium is missing.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium is already installed"; \
	else \
		apt-get update && apt-get install -y --no-install-recommends chromium; \
	fi

## report-screenshot: docs/report.png, taken by the browser test from the report of
## internal/report/testdata/golden.log.
report-screenshot: browser-deps
	$(GO) test -count=1 -run '^TestBrowser_ReportRenders$$' ./internal/report -screenshot $(CURDIR)/docs/report.png

## promtool-deps: promtool from Debian's prometheus package, for test-rules, only when
## missing (nothing is started: the package's service is not needed).
promtool-deps:
	@if command -v promtool >/dev/null 2>&1; then \
		echo "promtool is already installed"; \
	else \
		apt-get update && apt-get install -y --no-install-recommends prometheus; \
	fi

## test-rules: the Prometheus config and alert rules of deploy/prometheus, checked and
## unit-tested by promtool.
test-rules: promtool-deps
	promtool check rules deploy/prometheus/alerts.yaml
	promtool test rules deploy/prometheus/alerts_test.yaml
	promtool check config deploy/prometheus/prometheus.yml

## test-e2e: only the SDK end-to-end tests.
test-e2e: e2e-deps
	$(GO) test -count=1 -run 'TestSDK|TestRig|TestRunTests' ./cmd/callfix/ ./e2e/...

# Allocation assertions run without -race, which defeats sync.Pool on purpose.
test-alloc:
	$(GO) test -count=1 -run 'ZeroAllocations' ./proxy ./rewrite

FUZZPKGS ?= ./rewrite ./proxy

test-fuzz:
	@for p in $(FUZZPKGS); do \
		for t in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "fuzz $$p $$t ($(TESTFUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(TESTFUZZTIME) -timeout $(TESTFUZZTIMEOUT) $$p || exit 1; \
		done; \
	done

## fuzz: every fuzz target for FUZZTIME each (default 2m).
fuzz:
	@$(MAKE) test-fuzz TESTFUZZTIME=$(FUZZTIME) TESTFUZZTIMEOUT=0

## bench: Go benchmarks of the hot paths, then callfix side by side with nginx, nginx+Lua,
## HAProxy, Caddy and the bare upstream on loopback, plain and with a TLS upstream
## (tools/callfix-bench; every peer from bench-deps, required). Harness flags in BENCHFLAGS,
## e.g. make bench BENCHFLAGS='-quick -require-peers'.
BENCHFLAGS ?= -require-peers -out-json bench-results.json -out-md bench-results.md
bench: bench-deps
	$(GO) test -run '^$$' -bench . -benchmem ./rewrite ./proxy
	$(GO) run ./tools/callfix-bench $(BENCHFLAGS)

## bench-deps: the peers and the load generator of `make bench`, from Debian's packages (as
## root): nginx, nginx's Lua module and lua-cjson (the nginx+Lua target), HAProxy, Caddy and wrk.
## Only what is missing is installed (apt-get update first); a second run does nothing.
BENCH_PKGS := nginx libnginx-mod-http-lua lua-cjson haproxy caddy wrk
bench-deps:
	@missing=""; for p in $(BENCH_PKGS); do \
		dpkg-query -W -f '$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "bench-deps: $(BENCH_PKGS) already installed"; \
	else \
		echo "bench-deps: installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

## chaos: the fault campaign (tools/callfix-chaos, not part of test): bin/callfix on loopback
## against a fault-injecting upstream, every scenario, under 5 minutes on 2 cores; prints a
## table and fails on any breach. Flags in CHAOSFLAGS, e.g. make chaos CHAOSFLAGS='-seed 7'.
CHAOSFLAGS ?=
chaos: build
	$(GO) run ./tools/callfix-chaos -callfix $(BIN) $(CHAOSFLAGS)

## soak: the campaign's soak alone, for SOAK (default 10m): make soak SOAK=30m.
SOAK ?= 10m
soak: build
	$(GO) run ./tools/callfix-chaos -callfix $(BIN) -only soak -soak $(SOAK) $(CHAOSFLAGS)

lint: vet
	$(GO) run $(STATICCHECK) $(PKGS)

clean:
	rm -rf bin
