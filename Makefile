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

# Development mode, explicitly: debug pages, the development key, e-mail written to var/mail/.
# Links in e-mail, feeds and calendars follow PORT unless SITE_URL is set.
run: export DEBUG = 1
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: export EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend
run: $(VENV)/.installed
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py demo
	@exec $(PY) manage.py devserver --port $(PORT)

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
	$(PY) bench/status.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
