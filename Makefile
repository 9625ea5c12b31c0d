# The two commands a developer needs: `make dev` and `make test`. Both bootstrap first
# (idempotent: a venv from requirements-dev.txt, Java 17, DynamoDB Local in .tools/).
PYTHON      := .venv/bin/python
API_PORT    ?= 8000
DYNAMO_PORT ?= 8100
FRONTEND_PORT ?= 8080
STATE_DIR   ?= .local
PYTEST_ARGS ?=

.PHONY: bootstrap dev test fuzz bench

bootstrap:
	@bash scripts/bootstrap.sh

dev: bootstrap
	$(PYTHON) -m devstack --api-port $(API_PORT) --dynamodb-port $(DYNAMO_PORT) --frontend-port $(FRONTEND_PORT) \
		--state-dir $(STATE_DIR)

test: bootstrap
	$(PYTHON) -m pytest -n 2 -q $(PYTEST_ARGS)

# The long fuzzing run (make test runs a bounded one): MF_FUZZ_EXAMPLES per operation and phase,
# MF_FUZZ_MAX_TIME seconds at most, MF_FUZZ_SEED; reports in test-artifacts/fuzz/.
fuzz: bootstrap
	MF_FUZZ_EXAMPLES=$${MF_FUZZ_EXAMPLES:-200} MF_FUZZ_MAX_TIME=$${MF_FUZZ_MAX_TIME:-1800} \
		$(PYTHON) -m pytest -p no:xdist -q tests/fuzz

bench: bootstrap
	$(PYTHON) bench/api_throughput.py
	$(PYTHON) bench/search.py
	$(PYTHON) bench/gateway.py
	$(PYTHON) bench/payouts.py
	$(PYTHON) bench/coldstart.py
	$(PYTHON) bench/stripe_vs_localstripe.py
