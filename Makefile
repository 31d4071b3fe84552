# `make serve` and `make test` each bootstrap .venv from nothing (Python 3.11+ on PATH), at the exact
# versions of requirements.lock (`make lock` re-resolves it from pyproject.toml).
PYTHON ?= python3
PIP_TOOLS_VERSION := 7.6.2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lock serve test test-fast test-hostile test-explore lint schema check-contract plugin-roundtrip vendor-graphiql bench clean

SMS := plugins/gql-server-sms
WEBAUTHN := plugins/gql-server-webauthn

# The lock is a constraints file: it pins every package that gets installed, and through PIP_CONSTRAINT
# also the build back end (setuptools) in pip's isolated build environments.
LOCK := $(CURDIR)/requirements.lock
PIP_LOCKED := PIP_CONSTRAINT=$(LOCK) $(BIN)/pip install --quiet

$(STAMP): pyproject.toml $(SMS)/pyproject.toml $(WEBAUTHN)/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) --upgrade pip
	# tracing: the tests exercise it (tests/test_tracing.py); the service runs without it unless TRACING_ENABLED.
	$(PIP_LOCKED) -e '.[test,dev,bench,tracing]'
	# The SMS and WebAuthn methods are third-party packages: installed beside the core, as an operator would.
	$(PIP_LOCKED) -e $(SMS)
	$(PIP_LOCKED) -e $(WEBAUTHN)
	touch $(STAMP)

## Re-resolve requirements.lock from pyproject.toml (the core, the SMS and WebAuthn packages with every extra, plus pip
## and the build back end); then `make clean test` and commit both.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet 'pip-tools==$(PIP_TOOLS_VERSION)'
	printf -- '-e .[test,dev,bench,tracing]\n-e ./$(SMS)\n-e ./$(WEBAUTHN)\npip\nsetuptools\n' > .venv-lock/requirements.in
	.venv-lock/bin/pip-compile --quiet --no-header --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file .venv-lock/requirements.txt .venv-lock/requirements.in
	# Constraints hold no editable projects: the local packages are left out (with their "via" lines).
	( echo '# The exact versions `make`, the Dockerfile and CI install, as pip constraints. Made by `make lock`.'; \
	  awk '/^-e /{skip=1; next} skip && /^ /{next} {skip=0; print}' .venv-lock/requirements.txt ) > requirements.lock
	rm -rf .venv-lock

## Run the service on SQLite with demo accounts; GraphiQL at http://127.0.0.1:8000/graphql
serve: $(STAMP)
	$(BIN)/gql-server serve --demo

# Every run draws the same Hypothesis examples (profile `ci`, tests/conftest.py) and hashes passwords with a
# cheap argon2id, except in the tests marked real_hash (S1, S3, P4), which use S1's parameters.
PYTEST := $(BIN)/pytest --hypothesis-profile=ci --password-hashing=cheap
# Two workers for two cores. worksteal: each worker starts with half of the tests and takes over part of the
# other's queue when its own runs out, so neither idles while the other still has a long file to go (with
# loadfile one worker ran the 71 hostile properties alone at the end). Fixtures of a module or package (the
# browser tests' servers) are per worker anyway. Tests marked `timing` compare durations: they run
# afterwards, alone, so that the other worker's load is not in their figures.
PARALLEL := -n 2 --dist worksteal
FAST := not postgres and not browser and not hypothesis and not slow

## The full gate, on SQLite and on PostgreSQL (GQL_SERVER_TEST_POSTGRES; skipped if unreachable, except under
## CI=true), browser and property tests included (P8: <= 4 min on 2 idle cores).
test: $(STAMP)
	$(PYTEST) $(PARALLEL) -m "not timing"
	$(PYTEST) -m timing

## The quick loop (P7: <= 60 s on 2 cores): SQLite only, no browser, no property tests, and none of the tests
## that start processes of their own (marker `slow`: served workers, CLI runs, clusters; the timing test).
test-fast: $(STAMP)
	$(PYTEST) -q $(PARALLEL) -m "$(FAST) and not timing"

## Only the property-based hostile-input tests (hypothesis, 200 examples per mutation; part of `make test` too)
test-hostile: $(STAMP)
	$(PYTEST) $(PARALLEL) -m hostile tests/hostile

## Every property test (marker `hypothesis`) with fresh randomness (profile `explore`): new examples, not CI's fixed ones
test-explore: $(STAMP)
	$(PYTEST) $(PARALLEL) --hypothesis-profile=explore -m hypothesis

## Performance figures P1-P6, the S3 timing check and the lifecycle figures L1-L4 (bench/README.md); about 20-25 minutes on 2 cores.
## Shorter while developing: BENCH_DURATION=3 BENCH_RUNS=1 BENCH_ONLY=P1,P2 BENCH_P5_USERS=100000 make bench
bench: $(STAMP)
	$(BIN)/python -m bench

## ruff, mypy (strict) and hadolint on the Dockerfile
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

## Uninstall each third-party method package (sms, webauthn), check that its method is gone, install it again, check
## that it is back, and that GQL_SERVER_DISABLED_PLUGINS hides it while installed
plugin-roundtrip: $(STAMP)
	$(call roundtrip,gql-server-sms,$(SMS),sms)
	$(call roundtrip,gql-server-webauthn,$(WEBAUTHN),webauthn)

METHOD_IDS := import json,sys; m=[x['id'] for x in json.load(sys.stdin)['methods']]
# $(call roundtrip,distribution,directory,method id)
define roundtrip
$(BIN)/pip uninstall --quiet --yes $(1)
$(BIN)/gql-server plugins | $(BIN)/python -c "$(METHOD_IDS); assert '$(3)' not in m, m; print('without $(1):', m)"
$(PIP_LOCKED) -e $(2)
$(BIN)/gql-server plugins | $(BIN)/python -c "$(METHOD_IDS); assert '$(3)' in m, m; print('with $(1):', m)"
GQL_SERVER_DISABLED_PLUGINS=$(3) $(BIN)/gql-server plugins | $(BIN)/python -c "$(METHOD_IDS); assert '$(3)' not in m, m; print('disabled by GQL_SERVER_DISABLED_PLUGINS:', m)"
endef

## Copy GraphiQL's scripts and styles from the npm registry into gql_server/api/graphiql_assets, at the versions and
## SRI hashes of the installed Strawberry's page (after upgrading Strawberry; commit them). The script's --check needs no network
vendor-graphiql: $(STAMP)
	$(BIN)/python scripts/vendor_graphiql.py

## Rewrite schema/schema.graphql from the code
schema: $(STAMP)
	$(BIN)/gql-server export-schema > schema/schema.graphql

## Compare the exported schema with the product contract kept beside the repository (CONTRACT_TOOLS: its
## checker, which reads the contract's api.graphql next to itself), and with the whole of lifecycle.graphql
## (R13-R20); CI runs it.
CONTRACT_TOOLS ?= ../shared/tools
check-contract: $(STAMP)
	@test -f $(CONTRACT_TOOLS)/check_contract.py || { echo "no contract checker at $(CONTRACT_TOOLS)/check_contract.py (set CONTRACT_TOOLS)"; exit 1; }
	$(BIN)/python $(CONTRACT_TOOLS)/check_contract.py schema/schema.graphql
	$(BIN)/python $(CONTRACT_TOOLS)/check_contract.py schema/schema.graphql $(CONTRACT_TOOLS)/../spec/lifecycle.graphql

clean:
	rm -rf $(VENV) .venv-lock .pytest_cache .mypy_cache .ruff_cache
