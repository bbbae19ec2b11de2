# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint format bench clean

# Re-installs whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Development mode, explicitly: debug pages, the development key, e-mail on the console.
run: export DEBUG = 1
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo
	@echo "Serving http://127.0.0.1:$(PORT)/ with a task cluster; Ctrl-C stops both."
	@$(PY) manage.py qcluster & QPID=$$!; \
	trap 'kill $$QPID 2>/dev/null; wait $$QPID 2>/dev/null' INT TERM EXIT; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	$(PY) bench/gate.py
	$(PY) bench/releases.py
	$(PY) bench/public.py
	$(PY) bench/fanout.py
	$(PY) bench/audit.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
