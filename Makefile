# srelab front door. Every target goes through the `srelab` CLI (python-on-whales), installed
# into .venv by `make install` (run automatically by the targets that need it).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SRELAB := $(VENV)/bin/srelab
PROFILE ?=
EXP ?= kill-one-web-replica
ARGS ?=

.PHONY: help install up down clean status logs test test-fast lint load locust bench chaos export images results

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

# The compose plugin link is refreshed every time: another checkout may have taken it over.
install: $(VENV)/.installed ## create .venv with pinned dependencies and the compose plugin
	@mkdir -p $(HOME)/.docker/cli-plugins
	@ln -sf $(abspath $(VENV))/bin/docker-compose $(HOME)/.docker/cli-plugins/docker-compose

up: install ## build and start the lab, wait until healthy, print the URLs (PROFILE=core|monitoring|all)
	$(SRELAB) up $(if $(PROFILE),--profile $(PROFILE)) $(ARGS)

down: install ## stop the lab, keep data
	$(SRELAB) down

clean: install ## stop the lab and remove its volumes (data)
	$(SRELAB) down --volumes

status: install ## what runs, health, URLs
	$(SRELAB) status

logs: install ## follow logs (SERVICE=web-a to pick one)
	$(SRELAB) logs $(SERVICE)

images: install ## build the local images (machines with no registry)
	$(SRELAB) images

lint: install ## ruff
	$(VENV)/bin/ruff check srelab services tests loadtest
	$(VENV)/bin/ruff format --check srelab services tests loadtest

# The venv's bin first on PATH: tools from pinned wheels (actionlint finds shellcheck there).
TEST_PATH := PATH=$(abspath $(VENV))/bin:$$PATH

test: install ## everything: lint, unit, integration, static and live tests
	$(MAKE) lint
	$(TEST_PATH) $(VENV)/bin/pytest $(ARGS)

test-fast: install ## tests that need no Docker
	$(TEST_PATH) $(VENV)/bin/pytest -m 'not live' $(ARGS)

load: install ## headless Locust run against the proxy (ARGS="--users 20 --run-time 30s")
	$(SRELAB) load $(ARGS)

locust: install ## Locust web UI on 127.0.0.1:8089
	$(SRELAB) up --profile loadtest

bench: install ## throughput/latency/memory table and bench.json
	$(SRELAB) bench $(ARGS)

chaos: install ## run a chaos experiment (EXP=kill-one-web-replica)
	$(SRELAB) chaos run chaos/experiments/$(EXP).yaml $(ARGS)

results: install ## list every run under results/ and write results/index.html
	$(SRELAB) results $(ARGS)

export: install ## render Kubernetes manifests for GKE into build/k8s
	$(SRELAB) export k8s $(ARGS)
