# The two commands a fresh machine needs (README "Quick start"):
#   make demo   -- venv + tools + the flagship experiment on the local backend
#   make test   -- venv + tools + images + the whole test suite (what .ci/run calls)
# make images: Docker engine (installed, started) + Compose + the docker backend's images,
# built offline from a debootstrapped base (no registry needed; seconds when nothing changed).
# Every target is idempotent: run it as often as you like.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXPERIMENT ?= experiments/aphp-2024-08-03-dc-power-loss.yaml

.PHONY: demo test fuzz tools images venv lint bench clean rollback

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools:
	bash scripts/install-tools.sh

# After tools: the toxiproxy image copies the binaries install-tools.sh built.
images: venv tools
	bash scripts/install-docker.sh
	$(BIN)/python -m harness.backends.docker.images

demo: venv tools
	$(BIN)/hchaos run $(EXPERIMENT)

test: venv tools images
	$(BIN)/pytest -q

# The campaigns (fuzzing, interruption, soak) with long budgets and fresh random seeds; each
# is still bounded in count and time (tests/campaigns.py).
fuzz: venv tools
	HCHAOS_CAMPAIGN=long $(BIN)/pytest -q -m campaign -p no:cacheprovider --timeout 3600

lint: venv
	$(BIN)/ruff check harness mock_services tests bench
	$(BIN)/mypy harness mock_services

bench: venv tools
	$(BIN)/python bench/run_all.py

rollback: venv
	$(BIN)/hchaos rollback

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
