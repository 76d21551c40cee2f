# The two commands every user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run web test setup lint bench clean

# Rebuilt only when requirements.txt changes, so a current .venv is reused.
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) -m recommender data prepare
	$(PY) -m jobs train --if-missing
	$(PY) -m bot

# The web app (bot/web.py) on 127.0.0.1, port WEB_PORT (8501), after the same preparation.
web: setup
	$(PY) -m recommender data prepare
	$(PY) -m jobs train --if-missing
	$(PY) -m bot --web

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) -m bench.pipeline

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
