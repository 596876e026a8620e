# linkd: the two set-up commands are `make run` and `make test`.

GO        ?= go
BIN       := bin/linkd
PKGS      := ./...
# Each fuzz target runs this long in `make fuzz`; `make test` runs a shorter pass.
FUZZTIME  ?= 20s
TEST_FUZZTIME ?= 3s
BENCHCOUNT ?= 6
BENCHTIME ?= 1s
# linkd --version names the build: the nearest tag (or the commit) and the commit.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: build run demo test test-on-database fuzz bench lint clean console-shots

# The console's upload page runs linkd's own Go code in the browser:
# go generate builds it to WebAssembly, which the binary embeds.
build:
	$(GO) generate ./console
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/linkd

# `make run`: both parties with synthetic directories (linkd dev).
run: build
	./$(BIN) dev

# `make demo`: the identifier pipeline on a sample list, and a key file
# made, rotated and shown in a temporary directory.
demo: build
	./scripts/demo.sh $(BIN)

# `make test` runs against the server at TEST_DATABASE_URL, or, when none
# answers there, a throwaway one that scripts/pgrun starts and removes.
test:
	$(GO) vet $(PKGS)
	$(GO) run ./scripts/pgrun $(MAKE) --no-print-directory test-on-database

test-on-database:
	$(GO) test -count=1 $(PKGS)
	$(GO) run ./cmd/linkd policy test policies
	FUZZTIME=$(TEST_FUZZTIME) ./scripts/fuzz.sh

# `make console-shots`: a screenshot of every console page, at 1280 and
# 390 pixels wide, into console-shots/ (the browser tests, in Chromium).
console-shots:
	rm -rf console-shots
	LINKD_CONSOLE_SHOTS=$(CURDIR)/console-shots $(GO) run ./scripts/pgrun $(GO) test -count=1 -run 'Browser' ./console
	@ls console-shots

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) -benchtime $(BENCHTIME) $(PKGS) | tee bench.txt
	$(GO) tool benchstat bench.txt

lint:
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

clean:
	rm -rf bin bench.txt console-shots
