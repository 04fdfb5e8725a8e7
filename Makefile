# The two commands of the README's quick start:
#   make demo   install what is missing, build, quantize the bundled model, compare, generate
#   make test   install what is missing, build (warnings are errors), run every test
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build demo test test-asan clean

deps:
	@tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITFOLD_WERROR=ON $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@tools/demo.sh $(BUILD)/bitfold

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory test-asan

# The file loaders, tokenizers and the model layer again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBITFOLD_WERROR=ON \
	  -DBITFOLD_SANITIZE=ON -DBITFOLD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target test_core test_io test_text test_model
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L '^(core|io|text|model)$$'

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
