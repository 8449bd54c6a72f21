# medialens: `make up` starts the whole platform on this machine, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed

.PHONY: help install up down status worker test lint typecheck bench models deploy clean

help:
	@echo "make up      install what is missing and start the platform on 127.0.0.1"
	@echo "             SHARE=<address>: also offer Redis, S3 and the index there over TLS to worker hosts"
	@echo "make worker  JOIN=<join.json> [WORKERS=n]: run RQ workers and a functions host against a shared machine"
	@echo "make down    stop everything make up started"
	@echo "make status  list the running services"
	@echo "make test    install what is missing and run lint, type checks and the test suite"
	@echo "make bench   measure speed and write BENCHMARKS.md and benchmarks.json"
	@echo "make models  fetch model weights that no package ships (needs internet) into functions/*/weights"
	@echo "make deploy  on a faasd VPS, as root: DOMAIN=... make deploy (gateway-config/README.md)"

install: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/no-deps.txt requirements/dev.txt requirements/torchvision-test.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "medialens needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
		echo "Could not create a virtualenv: install python3-venv (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	$(PIP) install -q --upgrade pip wheel
	# torch is pinned to its CPU build: anything that asks for a newer torch pulls CUDA packages.
	$(PIP) install -q -r requirements/runtime.txt -r requirements/dev.txt
	$(PIP) install -q --no-deps -r requirements/no-deps.txt
	# torchvision's PyPI wheel is a CUDA build that breaks transformers when installed: the easyocr
	# and MTCNN tests alone put it on their path (requirements/torchvision-test.txt).
	$(PIP) install -q --no-deps --target $(VENV)/torchvision-test -r requirements/torchvision-test.txt
	$(PIP) install -q --no-deps -e .
	@touch $@

# SHARE=<address> (or MEDIALENS_EMBEDDED_SHARE_ADDRESS) offers this machine's storage to worker hosts.
up: install
	@$(PY) -m functions.weights --missing
	@$(if $(SHARE),MEDIALENS_EMBEDDED_SHARE_ADDRESS=$(SHARE)) $(PY) -m embedded up

# On a second (third, ...) machine: workers and a functions host against the storage that the
# join file names. `make down` there stops them; `make status` lists them.
worker: install
	@test -n "$(JOIN)" || { echo "usage: make worker JOIN=join.json [WORKERS=4] (join.json from the sharing machine)"; exit 2; }
	@$(PY) -m functions.weights --missing
	@MEDIALENS_EMBEDDED_JOIN_FILE=$(abspath $(JOIN)) $(if $(WORKERS),MEDIALENS_EMBEDDED_WORKERS=$(WORKERS)) \
		$(PY) -m embedded up

down:
	@test -x $(PY) && $(PY) -m embedded down || echo "nothing to stop"

status:
	@$(PY) -m embedded status

lint: install
	$(PY) -m ruff check .

typecheck: install
	$(PY) -m mypy .

test: install
	@$(PY) -m tests.system_packages
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(PY) -m pytest

bench: install
	$(PY) -m bench

models: install
	$(PY) -m functions.weights

# Runs on the VPS with the system python3: no virtualenv needed.
deploy:
	bash gateway-config/deploy.sh

clean: down
	rm -rf .state
