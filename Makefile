# seftbot: `make demo` runs the real job against seftsim; `make test` runs every test.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The build date honours SOURCE_DATE_EPOCH, so a rebuild of a commit can match byte for byte.
DATE    ?= $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(date +%s)} +%Y-%m-%dT%H:%M:%SZ)
CLIPKG  := github.com/isaric/seftbot/internal/cli
LDFLAGS := -X $(CLIPKG).version=$(VERSION) -X $(CLIPKG).commit=$(COMMIT) -X $(CLIPKG).buildDate=$(DATE)
# Each package runs once: those with goroutines of their own under the race
# detector, the rest without it (scripts/test-packages.sh says which). The two
# sets run side by side: most of a run waits on browsers and servers, not on
# the CPU.
TESTFLAGS ?= -count=1 -timeout 20m

.PHONY: all build deps test test-plain test-race vet race demo bench dist clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/seftbot ./cmd/seftsim

deps:
	scripts/install-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...

test: deps vet
	@$(MAKE) --no-print-directory -j2 test-plain test-race

test-plain:
	$(GO) test $(TESTFLAGS) $$(scripts/test-packages.sh plain)

test-race race:
	$(GO) test -race $(TESTFLAGS) $$(scripts/test-packages.sh race)

demo: deps build
	scripts/demo.sh

bench: deps build
	scripts/bench.sh

# Release artefacts in dist/: static linux/amd64 and arm64 binaries, .deb and
# .rpm packages, a CycloneDX SBOM per binary and SHA256SUMS (scripts/dist.sh).
dist:
	VERSION=$(VERSION) scripts/dist.sh

clean:
	rm -rf $(BIN) dist
