# The two commands a developer needs: `make dev` and `make test`. Both bootstrap first
# (idempotent: a venv from requirements-dev.txt, Java 17, DynamoDB Local in .tools/).
PYTHON      := .venv/bin/python
API_PORT    ?= 8000
DYNAMO_PORT ?= 8100
FRONTEND_PORT ?= 8080
STATE_DIR   ?= .local
PYTEST_ARGS ?=

.PHONY: bootstrap dev test bench

bootstrap:
	@bash scripts/bootstrap.sh

dev: bootstrap
	$(PYTHON) -m devstack --api-port $(API_PORT) --dynamodb-port $(DYNAMO_PORT) --frontend-port $(FRONTEND_PORT) \
		--state-dir $(STATE_DIR)

test: bootstrap
	$(PYTHON) -m pytest -n 2 -q $(PYTEST_ARGS)

bench: bootstrap
	$(PYTHON) bench/api_throughput.py
	$(PYTHON) bench/search.py
	$(PYTHON) bench/gateway.py
	$(PYTHON) bench/payouts.py
	$(PYTHON) bench/coldstart.py
