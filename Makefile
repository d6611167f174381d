# jiesu — the two commands are `make run` and `make test`; everything else is here for operators and developers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVICES_ENV := .data/services.env
# Reads one variable of .data/services.env (written by scripts/services.sh).
service_var = $$(grep -s '^$(1)=' $(SERVICES_ENV) | cut -d= -f2-)

.PHONY: help venv run up services services-down migrate test test-unit lint clean-data readme dashboard \
	train finetune finetune-blend evaluate urgency-model urgency-encoder bench-judgement partitions retention bench-store contract loadtest surge chaos fuzz bench security

help:
	@echo "make run            the whole pipeline in one process (embedded bus, local Postgres) on 127.0.0.1:\$${PORT:-8000}"
	@echo "make test           venv + Kafka + Postgres + the whole test suite"
	@echo "make services       start Kafka and Postgres in the background (.data/services.env has their addresses)"
	@echo "make services-down  stop them"
	@echo "make up             services + gateway + two workers (WORKERS=n) in the foreground, each worker's"
	@echo "                    metrics on its own port from 9101 (Ctrl-C stops all)"
	@echo "make lint           ruff and mypy"
	@echo "make dashboard      the live dashboard's chart library (ECharts, pinned in app/dashboard) from npm"
	@echo "make chaos          fault scenarios on a private Kafka + Postgres → .data/chaos-report.json"
	@echo "make fuzz           thousands of malformed requests → .data/fuzz-report.json"
	@echo "make security       the security probes and targets (issue 18) → .data/security-report.json (make test runs them too)"
	@echo "make train          train the judgement model from ../shared/data (DATA_DIR=… or JIESU_TRAINING_DATA_DIR)"
	@echo "make finetune       fine-tune the sentence encoder (the teacher, ~30 min on 2 cores, cached in .data/) and"
	@echo "                    write its labels of the raw messages (workers/judgement/model/teacher-labels.csv)"
	@echo "                    that make train TEACHER=1 distils into the fast model"
	@echo "make evaluate       category, incident-grouping and urgency figures on held-out messages"
	@echo "make urgency-model  rebuild the urgency model from ingest/urgency/situations.toml and corpus/urgency/"
	@echo "make urgency-encoder  fine-tune the urgency model's second opinion into .data/models (~45 min, cached)"
	@echo "make loadtest       a surge day against the running gateway (ARGS=… passes options)"
	@echo "make surge          the full surge day (1.2 million in 15 min) end to end → .data/surge.json (~20 min)"
	@echo "make bench          every stage side by side → .data/bench.json (ARGS=--workers 1,2,3; needs wrk)"
	@echo "make retention      archive months older than JIESU_RETENTION_MONTHS (ARGS=--dry-run …)"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

services: venv
	scripts/services.sh up

services-down:
	scripts/services.sh down

# GET /dashboard's chart library: npm ci of app/dashboard/package-lock.json into .data/dashboard (once).
dashboard:
	scripts/dashboard_assets.sh

# npm, chromium and a CJK font for the dashboard's test (apt-get, when missing and run as root).
.PHONY: system-packages
system-packages:
	scripts/system_packages.sh

# The pretrained Chinese sentence encoder (bge-small-zh-v1.5, int8 ONNX) into .data/models; mvn fetches it once.
.PHONY: encoder
# Both encoders: the int8 one the judgement uses, and the fp32 one the fine-tuning code is tested against.
encoder:
	scripts/encoder.sh
	scripts/encoder.sh fetch fp32

# Apply migrations to DATABASE_URL (from the environment, else the local Postgres), then make months ahead.
migrate: venv
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(VENV)/bin/alembic upgrade head
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(PY) -m workers.maintenance partitions

# The embedded default: in-process bus unless KAFKA_BOOTSTRAP_SERVERS is set, local Postgres unless DATABASE_URL is.
run: venv
	@scripts/dashboard_assets.sh --if-npm
	@if [ -z "$${DATABASE_URL:-}" ]; then scripts/services.sh up postgres; fi
	@$(MAKE) --no-print-directory migrate
	@scripts/gateway_env.sh set "$${HOST:-$${JIESU_HOST:-127.0.0.1}}" "$${PORT:-$${JIESU_PORT:-8000}}"
	trap 'scripts/gateway_env.sh unset' EXIT; trap 'exit 130' INT TERM; \
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(PY) -m jiesu

# Kafka + Postgres + gateway + two workers, in the foreground.
up: services migrate
	@scripts/dashboard_assets.sh --if-npm
	scripts/up.sh

test: services encoder system-packages dashboard
	JIESU_REQUIRE_SERVICES=1 $(VENV)/bin/pytest -q -rs

# Kill brokers, databases and workers under load (a private stack on other ports; make test runs these too).
chaos: venv
	JIESU_REQUIRE_SERVICES=1 $(VENV)/bin/pytest -q -rs -m chaos tests/chaos

# Each probe an attacker or a careless operator would try, its expected and actual answer, and what the gateway
# put on the intake topics meanwhile (the gateway app on its in-process bus), then issue 18's targets measured
# with the default limits (a real uvicorn on 127.0.0.1; the stopped-worker one on Postgres, hence services);
# the figures are printed at the end and written to the report.
security: services venv
	JIESU_REQUIRE_SERVICES=1 $(VENV)/bin/pytest -q -rs tests/security

fuzz: services
	JIESU_REQUIRE_SERVICES=1 $(VENV)/bin/pytest -q -rs tests/fuzz

test-unit: venv
	$(VENV)/bin/pytest -q -m "not kafka and not postgres"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# The judgement model: training writes workers/judgement/model/ (committed); evaluation prints the figures.
# make finetune rebuilds the fine-tuned encoder (the teacher) from the pinned fp32 jar, the data and the seed
# (~30 min on 2 cores, cached in .data/models/teacher/) and rewrites its labels of the raw messages
# (workers/judgement/model/teacher-labels.csv, committed); make train TEACHER=1 distils them into the fast
# model (measured worse than without, docs/judgement.md, so plain make train does not); make finetune-blend
# scores averaging the teacher with the fast model for low-confidence messages.
DATA_ARG = $(if $(DATA_DIR),--data-dir $(DATA_DIR))
TEACHER_ARG = $(if $(TEACHER),--teacher-labels workers/judgement/model/teacher-labels.csv)
train: venv
	$(PY) -m judgement_lab.train $(DATA_ARG) $(TEACHER_ARG)

finetune: venv
	$(PY) -m judgement_lab.finetune $(DATA_ARG)

finetune-blend: venv
	$(PY) -m judgement_lab.finetune blend $(DATA_ARG)

evaluate: venv
	$(PY) -m judgement_lab.evaluate $(DATA_ARG)
	$(PY) -m judgement_lab.urgency.evaluate $(DATA_ARG)

# The fine-tuned encoder that gives the urgency model a second opinion in its band (docs/judgement.md,
# "A fine-tuned encoder as a second opinion"): bge-small-zh-v1.5 fp32 from the pinned jar, fine-tuned per fold
# of writers (the band's threshold) and on every training example, int8 ONNX into .data/models/urgency-encoder/
# (~45 min on 2 shared cores the first time; folds and final model cached in .data/models/urgency-finetune/).
urgency-encoder: venv
	scripts/encoder.sh fetch fp32
	$(PY) -m judgement_lab.urgency.finetune_band build --threads 2 $(DATA_ARG)

# The urgency model, rebuilt from the situation catalogue (ingest/urgency/situations.toml) and corpus/urgency/.
urgency-model: venv
	$(PY) -m judgement_lab.urgency.train $(DATA_ARG)

bench-judgement: venv
	$(PY) -m judgement_lab.bench

# Storage: partitions ahead, retention (archives old months), the write-path benchmark, the event contract.
partitions: venv
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(PY) -m workers.maintenance partitions

retention: venv
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(PY) -m workers.maintenance retention $(ARGS)

bench-store: venv
	DATABASE_URL=$${DATABASE_URL:-$(call service_var,DATABASE_URL)} $(PY) -m loadtest.bench.store $(ARGS)

contract: venv
	$(PY) -m ingest.schemas.contract write

readme: venv
	$(PY) scripts/readme_tables.py

# Every stage measured side by side in one run (gateway vs a bare endpoint under wrk, batch, judgement,
# pipeline with W worker processes, memory); starts and stops its own processes. wrk is Debian's package.
bench: services
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(PY) -m loadtest.bench $(ARGS)

# The surge-day simulator against a running gateway (make up, or make run).
loadtest: venv
	$(PY) -m loadtest $(ARGS)

# The whole surge day (1.2 million, 15 min) through its own gateway + 2 workers on the local stack → .data/surge.json
surge: services
	$(PY) -m loadtest.surge $(ARGS)

clean-data: services-down
	rm -rf .data
