# Tradeflow developer entry points. Everything runs as local processes
# (deploy/local/*.sh); no Docker engine needed.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
LOCAL := deploy/local
WITH_ENV := . $(LOCAL)/env.sh &&
PYTEST_ARGS ?=
CHAOS_ARGS ?=

.PHONY: help venv browser screenshots infra services up down test lint demo bench chaos clean

help:
	@echo "make venv      create .venv with the package and dev tools"
	@echo "make browser   install Debian's chromium for the console's browser tests (if missing)"
	@echo "make infra     start PostgreSQL, Kafka and stripe-mock (local processes)"
	@echo "make up        infra + the services (api, relay, consume, timers each)"
	@echo "make down      stop the services and the infrastructure"
	@echo "make test      run pytest against the local infra (PYTEST_ARGS='...')"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make demo      start everything and run 'tradeflow demo'"
	@echo "make bench     run the benchmarks (python -m bench)"
	@echo "make screenshots  docs/console/*.png: each console view, from its browser tests"
	@echo "make chaos     the full fault-injection run (10,000 trades; CHAOS_ARGS='...')"
	@echo "make clean     stop everything, remove .venv, .cache and tool caches"

venv: $(STAMP)

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# The console's browser tests drive Debian's chromium through Playwright (never a
# downloaded browser build). Installed here when missing, so a clean machine (CI) has it.
CHROMIUM := /usr/bin/chromium
browser: $(CHROMIUM)
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver

infra:
	bash $(LOCAL)/infra.sh up

services: venv infra
	bash $(LOCAL)/services.sh up

up: infra services

down:
	bash $(LOCAL)/services.sh down
	bash $(LOCAL)/infra.sh down

test: venv browser infra
	$(WITH_ENV) $(VENV)/bin/pytest -q tests $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: venv infra services
	$(WITH_ENV) $(VENV)/bin/tradeflow demo

# Its own PostgreSQL and Kafka (other ports), which it kills; stripe-mock is shared.
chaos: venv
	$(WITH_ENV) $(VENV)/bin/python -m tests.chaos $(CHAOS_ARGS)

bench: venv infra
	$(WITH_ENV) $(VENV)/bin/python -m bench

clean: down
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Screenshots of each console view, from the browser tests (real pages of a test stack).
screenshots: venv browser infra
	mkdir -p docs/console
	$(WITH_ENV) TRADEFLOW_SCREENSHOTS=$(CURDIR)/docs/console $(VENV)/bin/pytest -q tests/integration/console/test_browser.py
