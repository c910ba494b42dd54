# seftbot: `make demo` runs the real job against seftsim; `make test` runs every test.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/isaric/seftbot/internal/cli.version=$(VERSION)
# Each package runs once: those with goroutines of their own under the race
# detector, the rest without it (scripts/test-packages.sh says which). The two
# sets run side by side: most of a run waits on browsers and servers, not on
# the CPU.
TESTFLAGS ?= -count=1 -timeout 20m

.PHONY: all build deps test test-plain test-race vet race demo bench clean

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

clean:
	rm -rf $(BIN)
