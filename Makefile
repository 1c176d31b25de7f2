# The two commands: `make run` and `make test`. Both make .venv and install first.
PYTHON ?= python3
VENV := .venv
FLASK := $(VENV)/bin/flask --app karusaku

$(VENV)/.installed: requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: install run test
install: $(VENV)/.installed

run: install
	$(FLASK) init-db
	$(FLASK) seed-demo
	$(VENV)/bin/python run.py

test: install
	$(VENV)/bin/python -m pytest
