# Vigil developer entry points. `make up` and `make test` are the two commands in the README.
SHELL := /bin/bash
BUILD_DIR ?= build
PRESET ?= dev
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CTEST_ARGS ?=
UP_ARGS ?=

.PHONY: all deps configure build test unit integration root e2e fuzz bench up down status format tidy clean

all: build

deps:
	@./scripts/install-deps.sh

configure:
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then cmake --preset $(PRESET) >/dev/null; fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test: unit, integration, root (eBPF/cgroups; they say why when they skip), then a
# bounded libFuzzer run of every fuzz target.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	$(MAKE) fuzz

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L integration

root: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L root

fuzz:
	@if [ ! -f build-fuzz/build.ninja ]; then cmake --preset fuzz >/dev/null; fi
	cmake --build build-fuzz -j $(JOBS)
	./tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	./bench/run

# Installs what is missing, builds, and starts the all-in-one stack in the background
# (`vigilctl up`, data in .vigil/; docs/vigilctl.md). `make down` stops it, `make status` shows it.
up: deps build
	$(BUILD_DIR)/bin/vigilctl up $(UP_ARGS)

down:
	@if [ -x $(BUILD_DIR)/bin/vigilctl ]; then $(BUILD_DIR)/bin/vigilctl down; else echo "no $(BUILD_DIR)/bin/vigilctl"; fi

status:
	@$(BUILD_DIR)/bin/vigilctl status

# The attack scenarios through the whole stack (root; they say why when they skip).
e2e: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

tidy: configure
	git ls-files '*.cpp' | grep -v '^tests/fuzz' | xargs clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf build build-asan build-release build-fuzz
