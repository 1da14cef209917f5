# Two commands on a fresh machine, no root:  make demo  and  make test.
# `make setup` (run by both) creates .venv with a Python that Theano 1.0.5
# supports and installs the package; it does nothing when nothing changed.

VENV    := .venv
STAMP   := $(VENV)/.installed
PY      := $(VENV)/bin/python
CLI     := $(VENV)/bin/lasagne-style
SAMPLES := samples

# Theano 1.0.5 imports distutils, which Python 3.12 removed: look for 3.11..3.8.
find_python = $(firstword $(foreach p,$(PYTHON) python3.11 python3.10 python3.9 python3.8 python3,\
  $(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(not (3,8) <= sys.version_info[:2] < (3,12))' 2>/dev/null && echo $(p))))

.PHONY: setup demo test bench notebook compare clean

setup: $(STAMP)

$(STAMP): setup.py
	@py="$(find_python)"; \
	if [ -z "$$py" ]; then \
	  echo "error: lasagne_style needs Python 3.8-3.11 (Theano 1.0.5 imports distutils, removed in 3.12)."; \
	  echo "       Install one without root, e.g. 'uv python install 3.11' or 'pyenv install 3.11',"; \
	  echo "       then run 'make PYTHON=/path/to/python3.11 setup'."; \
	  exit 1; fi; \
	echo "using $$py ($$($$py --version))"; \
	[ -x $(PY) ] || $$py -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23" "setuptools>=65,<82" wheel
	$(PY) -m pip install --quiet -e ".[test,legacy,dask]"
	# plain `import theano` / `import lasagne` get our fixes in this .venv
	$(PY) -c "from lasagne_style import compat; compat.main(['install'])"
	$(PY) -c "import lasagne; import lasagne_style.api" # checks the stack
	@touch $(STAMP)

demo: setup
	@mkdir -p out
	$(CLI) texture $(SAMPLES)/cork.png -o out/texture.png --size 192 --iters 150 --seed 0
	$(CLI) transfer $(SAMPLES)/grace_hopper.jpg $(SAMPLES)/night_cafe.jpg \
	  -o out/transfer.png --size 256 --iters 150 --seed 0
	@echo "demo outputs: out/texture.png out/transfer.png"

test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q tests

# PyTorch is the benchmark's reference only: installed here, never by setup.
bench: setup
	$(PY) -m pip install --quiet -e ".[bench]" || echo "no PyTorch: benchmarking without the reference"
	$(PY) -m lasagne_style.bench

# The notebook's source is notebooks/neural_style.py (jupytext percent
# format, paired with the .ipynb): update the .ipynb's cells from it (the
# outputs of unchanged cells are kept), then execute it in place at full quality
# (sizes and budgets in its first cell; 71.2 minutes on 2 cores on
# 2026-12-05; the project aims at 90, no limit is set here).
NOTEBOOK := notebooks/neural_style
STATS_DIR := docs/statistics
COMPARE_ARGS := --styles $(SAMPLES)/pere_tanguy.jpg $(SAMPLES)/night_cafe.jpg $(SAMPLES)/brick_wall.png \
  --size 256 --iters 80

notebook: setup
	$(VENV)/bin/jupytext --update --to ipynb $(NOTEBOOK).py
	LASAGNE_STYLE_FAST=0 $(VENV)/bin/jupyter-execute --inplace --timeout=-1 \
	  --kernel_name=python3 $(NOTEBOOK).ipynb

compare: setup
	# two single-threaded processes use 2 cores better than one with 2 threads
	OPENBLAS_NUM_THREADS=1 $(CLI) compare $(COMPARE_ARGS) -o $(STATS_DIR)/textures.png & pid=$$!; \
	OPENBLAS_NUM_THREADS=1 $(CLI) compare $(COMPARE_ARGS) --no-textures \
	  --contents $(SAMPLES)/coffee_cup.jpg $(SAMPLES)/grace_hopper.jpg $(SAMPLES)/roebling_bridge.jpg \
	  -o $(STATS_DIR)/transfers.png && wait $$pid

clean:
	rm -rf $(VENV) out build *.egg-info weights/*.npz
