# qdc-loop: `make run` (quickstart end to end on CPU) and `make test` set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.qdc-setup-done
# Drop pip's warnings about package-index folders this machine's pip config names but lacks.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

# One shared cache for DeepSpeed's JIT-built ops, so the ~50 s build is paid once per machine.
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export VLLM_CPU_KVCACHE_SPACE ?= 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test test-fast run bench clean-venv

setup: $(STAMP)

# Install order measured in STACK.md: the CPU torch first (a bare `torch` requirement would pull a
# CUDA build), then the stack and the project, then drop the CUDA-linked extras that break vllm.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt torch==2.13.0 2>&1 | $(QUIET_PIP)
	$(PIP) install --quiet -c constraints.txt -e '.[cpu,dev]' 2>&1 | $(QUIET_PIP)
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	$(PY) -c "import torch, transformers, trl, ray, faiss, deepspeed, vllm" >/dev/null
	@touch $(STAMP)
	@echo "setup done: $(VENV)"

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

# The quickstart end to end, every time into a fresh run directory, then its report.
run: setup
	@dir=$$($(VENV)/bin/qdc run recipes/quickstart.yaml | tail -n 1) && \
	  $(VENV)/bin/qdc report "$$dir" && echo "report: $$dir/report.html"

bench: setup
	$(PY) benchmarks/tint.py

clean-venv:
	rm -rf $(VENV)
