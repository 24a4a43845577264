# Everything a fresh clone needs: `make demo` and `make test` each install what they use
# (uv via pip if it is missing, then the locked environment from uv.lock).

UV := $(or $(shell command -v uv 2>/dev/null),python3 -m uv)
VENV_STAMP := .venv/.synced-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench eval setup clean help

help:
	@echo "make demo   - run the real pipeline on bundled recorded coverage (no internet needed)"
	@echo "make test   - run the test suite"
	@echo "make bench  - measure ingest, matching and diff cost (results in bench/results/latest.json)"
	@echo "make eval   - precision and recall of the novelty decision on the labelled set (tests/novelty_eval)"

setup: $(VENV_STAMP)

$(VENV_STAMP): uv.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --locked
	@rm -f .venv/.synced-* && touch $@

demo: setup
	$(UV) run --no-sync newswatch demo

test: setup
	$(UV) run --no-sync pytest

bench: setup
	$(UV) run --no-sync python -m bench.run

eval: setup
	$(UV) run --no-sync python tests/novelty_eval/evaluate.py

clean:
	rm -rf .venv data .pytest_cache
