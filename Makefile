# `make serve` and `make test` each bootstrap .venv from nothing (Python 3.11+ on PATH).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-hostile test-explore lint schema check-contract plugin-roundtrip bench clean

SMS := plugins/gql-server-sms

$(STAMP): pyproject.toml $(SMS)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev,bench]'
	# The SMS method is a third-party package: installed beside the core, as an operator would.
	$(BIN)/pip install --quiet -e $(SMS)
	touch $(STAMP)

## Run the service on SQLite with demo accounts; GraphiQL at http://127.0.0.1:8000/graphql
serve: $(STAMP)
	$(BIN)/gql-server serve --demo

## The test suite, on SQLite and on PostgreSQL (GQL_SERVER_TEST_POSTGRES; skipped if unreachable, except under CI=true).
## Property tests draw the same examples on every run (Hypothesis profile `ci`, tests/conftest.py).
test: $(STAMP)
	$(BIN)/pytest --hypothesis-profile=ci

## Only the property-based hostile-input tests (hypothesis, 200 examples per mutation; part of `make test` too)
test-hostile: $(STAMP)
	$(BIN)/pytest --hypothesis-profile=ci -m hostile tests/test_hostile_input.py

## Every property test (marker `hypothesis`) with fresh randomness (profile `explore`): new examples, not CI's fixed ones
test-explore: $(STAMP)
	$(BIN)/pytest --hypothesis-profile=explore -m hypothesis

## Performance figures P1-P6 and the S3 timing check (bench/README.md); about 15-20 minutes on 2 cores.
## Shorter while developing: BENCH_DURATION=3 BENCH_RUNS=1 BENCH_ONLY=P1,P2 BENCH_P5_USERS=100000 make bench
bench: $(STAMP)
	$(BIN)/python -m bench

## ruff, mypy (strict) and hadolint on the Dockerfile
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

## Uninstall the SMS package, check that sms is gone, install it again, check that it is back
plugin-roundtrip: $(STAMP)
	$(BIN)/pip uninstall --quiet --yes gql-server-sms
	$(BIN)/gql-server plugins | $(BIN)/python -c "import json,sys; m=[x['id'] for x in json.load(sys.stdin)['methods']]; assert 'sms' not in m, m; print('without gql-server-sms:', m)"
	$(BIN)/pip install --quiet -e $(SMS)
	$(BIN)/gql-server plugins | $(BIN)/python -c "import json,sys; m=[x['id'] for x in json.load(sys.stdin)['methods']]; assert 'sms' in m, m; print('with gql-server-sms:', m)"
	GQL_SERVER_DISABLED_PLUGINS=sms $(BIN)/gql-server plugins | $(BIN)/python -c "import json,sys; m=[x['id'] for x in json.load(sys.stdin)['methods']]; assert 'sms' not in m, m; print('disabled by GQL_SERVER_DISABLED_PLUGINS:', m)"

## Rewrite schema/schema.graphql from the code
schema: $(STAMP)
	$(BIN)/gql-server export-schema > schema/schema.graphql

## Compare the exported schema with the public contract in ../shared/spec/api.graphql
check-contract: $(STAMP)
	$(BIN)/python ../shared/tools/check_contract.py schema/schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
