# One set of commands for people, CI (.ci/run calls `make test`) and the README.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# llama.cpp for any x86-64 host with AVX2, not for this one: a native build takes AMX on CPUs
# that have it, and its AMX kernels crash on some VMs (docs/local-model.md, "The build").
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
  -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
# Debian's chromium drives the browser tests (tests/test_browser.py); never `playwright install`.
CHROMIUM ?= /usr/bin/chromium

# Nothing downloads a model, and nothing phones home.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: chat test eval perf install install-dev chromium lint typecheck format ingest clean \
  llama-runtime rebuild-llama

## Install, index the seed collection (when missing or changed) and open the chat on 127.0.0.1:7860.
chat: $(VENV)/.installed llama-runtime
	$(PY) -m ingest seeds
	$(PY) -m qa chat

## Install with the test extras (and chromium, when missing), then lint, type-check and run
## the whole test suite, browser tests included (screenshots in out/screenshots/).
test: $(VENV)/.dev-installed llama-runtime lint typecheck chromium
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest

## Index the seed collection, then evaluate it on the seed cases: report in out/eval/.
eval: $(VENV)/.installed
	$(PY) -m ingest -q seeds
	$(PY) -m qa eval tests/eval/seed_qa.jsonl --report out/eval

## Speed against the floor (the embedding model itself) and LangChain's tutorial pipeline:
## tables on stdout, plot in docs/perf.png. Needs the MultiHop-RAG data (QA_BENCH_DATA).
perf: $(VENV)/.installed
	$(PY) -m bench.perf

install: $(VENV)/.installed
install-dev: $(VENV)/.dev-installed

# torch first, pinned: it is a local CPU build here, and an unpinned torch would pull
# several GB of CUDA wheels through sentence-transformers. llama-cpp-python compiles llama.cpp
# for this CPU (no wheel on PyPI for it): about 15 minutes the first time, then pip's cache;
# its multimodal library is not needed. Then the local model is assembled and verified (once).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || echo "Installing; llama-cpp-python is \
	built from source the first time (about 15 minutes on 2 cores)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --disable-pip-version-check \
	  -c constraints.txt -e .
	$(MAKE) --no-print-directory llama-runtime
	$(PY) -m qa model
	touch $@

# Every run checks that the installed llama-cpp-python is the portable build (half a second):
# a venv or pip cache holding a native one, AMX and all, heals on the next `make`.
llama-runtime:
	@$(PY) -m qa.local check >/dev/null || $(MAKE) --no-print-directory rebuild-llama

## Rebuild llama-cpp-python for any x86-64 host with AVX2 (pip's cached wheel is dropped first:
## pip keys it by the source, not by the build options).
rebuild-llama:
	@echo "Building llama-cpp-python for any AVX2 host (about 15 minutes on 2 cores)..."
	-$(BIN)/pip cache remove 'llama_cpp_python*' >/dev/null 2>&1
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --disable-pip-version-check \
	  --force-reinstall --no-deps -c constraints.txt 'llama-cpp-python[server]'
	$(PY) -m qa.local check

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# apt-get as root, else through sudo; the package lists are refreshed only when needed.
chromium:
	@test -x $(CHROMIUM) || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y --no-install-recommends chromium \
	  || { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends chromium; }; }

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check qa ingest tests bench
	$(PY) -m ruff format --check qa ingest tests bench

typecheck: $(VENV)/.dev-installed
	$(PY) -m mypy

format: $(VENV)/.dev-installed
	$(PY) -m ruff format qa ingest tests bench
	$(PY) -m ruff check --fix qa ingest tests bench

ingest: $(VENV)/.installed
	$(PY) -m ingest seeds

clean:
	rm -rf .qa_index .pytest_cache .mypy_cache .ruff_cache
