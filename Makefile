# Thin wrapper over CMake. `make` builds everything, `make demo` runs the
# tour, `make test` builds and runs every test through CTest.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all configure demo test bench clean install

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

demo: all
	$(BUILD)/bin/pymm demo

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: all
	$(BUILD)/bin/pymm bench alloc --quick
	$(BUILD)/bin/pymm bench objects --quick
	$(BUILD)/bin/pymm bench gc --quick

install: all
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
