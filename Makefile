# Thin wrapper over CMake: the README's one-word commands.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps data demo test test-asan fuzz install clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh scripts/deps.sh

data:
	@CIFAR=$(CIFAR) sh scripts/fetch_data.sh

demo: deps data build
	@$(BUILD)/lotto examples/demo.lua

test: deps data build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps data
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOTTO_SANITIZE=ON -DLOTTO_PORTABLE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LOTTO_ASAN=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer + ASan/UBSan on the file readers, FUZZ_SECONDS each (tests/fuzz/run.sh).
fuzz:
	@sh scripts/deps.sh fuzz
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DLOTTO_FUZZ=ON -DLOTTO_PORTABLE=ON \
	  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
