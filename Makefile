# `make run` and `make test` set everything up on a fresh machine, then go on.
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed-stamp
LOCK        := constraints.txt
TORCH       := torch==2.13.0
# PyTorch's CPU-only wheels: the registry's Linux torch pulls ~17 nvidia-* CUDA packages (GBs).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# HF_HUB_OFFLINE is not forced: Brief stays offline for a local model folder (the bundled
# default) and downloads a hub id named by BRIEF_EMBED_MODEL, unless you set HF_HUB_OFFLINE=1.
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test lint bench lock clean

# CPU torch first, from PyTorch's CPU index; if that index is unreachable, fail within seconds
# (no retries, short timeout) and fall back to the configured index, which serves a local CPU
# wheel where one is configured and otherwise the registry's (on Linux, CUDA) build.
define install_torch
	$(PY) -m pip install --quiet --timeout 5 --retries 0 --index-url $(TORCH_INDEX) $(TORCH) || { \
	  echo "make: PyTorch's CPU index ($(TORCH_INDEX)) is unreachable; installing $(TORCH) from the configured index"; \
	  $(PY) -m pip install --quiet $(TORCH); }
endef

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(install_torch)
	# The pinned set: the same versions on every machine (regenerate with `make lock`).
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Regenerates the pins from pyproject.toml: installs what pyproject asks for (unpinned, so new
# dependencies resolve), then writes the installed closure of brief[dev] to $(LOCK).
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(install_torch)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) tools/lock.py > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	touch $(STAMP)

run: $(STAMP)
	$(PY) bot.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/query.py
	$(PY) bench/quality.py
	$(PY) bench/scale.py

clean:
	rm -rf $(VENV) index/brief.sqlite index/brief.sqlite-wal index/brief.sqlite-shm index/segments index/.lock index/CURRENT index/versions
