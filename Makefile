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

.PHONY: setup demo test bench notebook clean

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
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -c "import lasagne_style.api" # first import: checks the stack works
	@touch $(STAMP)

demo: setup
	@mkdir -p out
	$(CLI) texture $(SAMPLES)/cork.png -o out/texture.png --size 192 --iters 150 --seed 0
	$(CLI) transfer $(SAMPLES)/grace_hopper.jpg $(SAMPLES)/night_cafe.jpg \
	  -o out/transfer.png --size 256 --iters 150 --seed 0
	@echo "demo outputs: out/texture.png out/transfer.png"

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m lasagne_style.bench

# Execute notebooks/neural_style.ipynb in place at full quality: ~3000 loss
# evaluations at 256 px, about an hour at ~1 s each on 2 cores (see Speed in
# README). Its section 5 shows the statistics comparison, made first if missing.
COMPARE := docs/statistics/compare.png

notebook: setup $(COMPARE)
	LASAGNE_STYLE_FAST=0 $(VENV)/bin/jupyter-execute --inplace --timeout=-1 \
	  --kernel_name=python3 notebooks/neural_style.ipynb

$(COMPARE): | $(STAMP)
	$(CLI) compare --styles $(SAMPLES)/pere_tanguy.jpg $(SAMPLES)/night_cafe.jpg $(SAMPLES)/brick_wall.png \
	  --contents $(SAMPLES)/coffee_cup.jpg $(SAMPLES)/grace_hopper.jpg $(SAMPLES)/roebling_bridge.jpg \
	  --size 256 --iters 150 -o $@

clean:
	rm -rf $(VENV) out build *.egg-info weights/*.npz
