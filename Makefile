# creditbank: two commands.
#   make run   install, prepare the embedded SQLite database, load the demo world, serve on PORT (8000)
#   make test  install, start a throwaway PostgreSQL, run ruff, mypy --strict and the whole suite
#   make test-ha  the failover rehearsal: a Patroni cluster, two service instances, two leader kills
#   make messages  extract the message ids into creditbank/locale/messages.pot and update both .po files

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
# test processes (each starts its own PostgreSQL); 2 matches the 2 cores of CI
TEST_WORKERS ?= 2
# DIDs, status-list URLs and log origins are built from the public base URL: keep it on the port served.
export CREDITBANK_BASE_URL ?= http://127.0.0.1:$(PORT)

INTEROP := tests/interop
.PHONY: run test test-ha install system-deps interop-deps lint typecheck pytest bench clean messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

# The third-party verifiers of tests/interop (Node 20, npm): exactly the versions of its package-lock.json.
$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund
	touch $@

interop-deps: $(INTEROP)/node_modules/.installed

run: $(STAMP)
	@bash scripts/system-deps.sh --run || true
	mkdir -p var
	$(BIN)/creditbank db upgrade
	$(BIN)/creditbank demo --tokens-file var/demo-tokens.json
	@echo "serving on http://127.0.0.1:$(PORT)  (demo tokens: var/demo-tokens.json)"
	$(BIN)/creditbank serve --host 127.0.0.1 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps interop-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

test: $(STAMP) system-deps lint typecheck pytest

# Patroni, etcd and PostgreSQL 15 are installed when missing; the cluster lives under var/ha/.
test-ha: $(STAMP)
	@bash scripts/system-deps.sh --ha
	$(BIN)/pytest tests/ha -m ha -p no:cacheprovider -s

bench: $(STAMP) system-deps
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/posting.py
	$(BIN)/python bench/certificates.py

# The message catalogues (docs/translating.md): new ids enter both .po files with empty texts to fill
# in; the service reads the .po files themselves, so there is no compiled file to keep.
LOCALE := creditbank/locale
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --no-wrap --project=creditbank \
		--copyright-holder="creditbank contributors" --msgid-bugs-address="creditbank maintainers" \
		-o $(LOCALE)/messages.pot .
	sed -i '/^"POT-Creation-Date:/d' $(LOCALE)/messages.pot
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) --no-wrap --no-fuzzy-matching \
		--ignore-obsolete --ignore-pot-creation-date

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache $(INTEROP)/node_modules
