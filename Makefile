# Every target sets itself up: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: demo test test-postgres test-django6 test-django6-engines lint types migrations-check docs bench bench-smoke ci clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -r requirements-extra.txt
	touch $(STAMP)

## Run the example project offline (no Stripe keys, no network): http://127.0.0.1:8000/
demo: $(STAMP)
	$(BIN)/python example_project/run_demo.py

## The whole test suite (SQLite; PostgreSQL too when DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP)
	DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest

## Django 6.x needs Python >= 3.12: a second virtualenv on the newest Python available
test-django6: $(STAMP)
	PATH="$$(ls -d $$(pyenv root 2>/dev/null || echo /root/.pyenv)/versions/3.1[23].*/bin 2>/dev/null | paste -sd: -):$$PATH" \
		$(BIN)/tox -e py312-django61-sqlite

## The real task engines (db, RQ, Celery) on Django 6.1's own django.tasks, on PostgreSQL
test-django6-engines: $(STAMP)
	PATH="$$(ls -d $$(pyenv root 2>/dev/null || echo /root/.pyenv)/versions/3.1[23].*/bin 2>/dev/null | paste -sd: -):$$PATH" \
		PG_URL=$(PG_URL) $(BIN)/tox -e py312-django61-postgres -- \
		tests/test_task_engines.py tests/test_enqueue_transaction.py tests/test_two_hosts.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

migrations-check: $(STAMP)
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings --pythonpath=.

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke

clean:
	rm -rf $(VENV) .tox build site .pytest_cache .mypy_cache .ruff_cache
