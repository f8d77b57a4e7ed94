PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint typecheck format migrate demo superuser check-deploy clean bench worker client

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## Install, migrate, load demo data and serve on 127.0.0.1:$(PORT) (SQLite, DEBUG on).
run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## A Celery worker for every queue plus the beat scheduler (the periodic outbox sweep).
## Needs CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/1) in the environment or .env.
P := $(CELERY_QUEUE_PREFIX)
QUEUES := $(P)default,$(P)email,$(P)webhooks,$(P)imports
worker: $(STAMP)
	$(BIN)/celery -A crmAdmin worker -B -Q $(QUEUES) -l info

## Install and run the whole suite (SQLite unless DATABASE_URL says otherwise).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto -q --create-db

## Schema fuzzing (tests/test_schemathesis.py) with many more, fresh random examples per
## operation than the suite's 8 (FUZZ_EXAMPLES=... to change).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_RANDOM=1 $(BIN)/python -m pytest -n auto -q --create-db tests/test_schemathesis.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MAKE) typecheck

## mypy over selectors, services, permissions and errors (the files listed in pyproject.toml).
typecheck: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo

superuser: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py createsuperuser

## The typed TypeScript client (clients/typescript/, README "TypeScript client"): writes the
## OpenAPI schema, generates its types with the pinned openapi-typescript (npm ci installs exactly
## package-lock.json) and compiles the client. Run it after any API change and commit the result;
## tests/test_typescript_client.py fails while the committed files lag behind the code.
client: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py spectacular --validate --fail-on-warn --file clients/typescript/openapi.yaml
	cd clients/typescript && npm ci --prefer-offline --no-audit --no-fund && npm run generate && npm run build

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

## Production-style serving: gunicorn with gunicorn.conf.py, DEBUG off, static files via whitenoise.
## Needs SECRET_KEY (and normally DATABASE_URL) in the environment or .env.
serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/gunicorn -c gunicorn.conf.py

## Benchmark on PostgreSQL (bench/README.md): seeds crm_bench, runs wrk against gunicorn at each
## scale, writes bench/RESULTS.md. Default 10k then 1M customers, about 8 minutes. Never part of CI.
## BENCH_ENDPOINTS=true installs the crmBench app (bench_seed, the bare view); run.py also sets it
## for each manage.py, gunicorn and query-count process it starts.
BENCH_SCALES ?= 10k,1m
BENCH_ARGS ?=
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	BENCH_ENDPOINTS=true $(BIN)/python bench/run.py --scales $(BENCH_SCALES) --label latest --order 90 $(BENCH_ARGS)
