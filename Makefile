PY      := .venv/bin/python
PIP     := .venv/bin/pip
DEMO    := data/demo/customers.csv
DB      ?= data/clm.duckdb

.PHONY: run test bench bench-pages venv deps dev-deps demo clean oidc-provider

venv: .venv/.installed
.venv/.installed: requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.venv/.dev-installed: requirements-dev.txt requirements.txt .venv/.installed
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DEMO): .venv/.installed
	$(PY) -m clm_core.demo data/demo

demo: $(DEMO)

# CLM_DATABASE: the DuckDB file (default $(DB)) or a Spark URL such as spark://local[2] (README, "When your
# data outgrows one machine"); on Spark, run installs pyspark and Java first.
CLM_DATABASE ?= $(DB)
ON_SPARK := $(filter spark://% sc://%,$(CLM_DATABASE))

run: .venv/.installed $(DEMO) $(if $(ON_SPARK),.venv/.spark-installed)
	$(if $(ON_SPARK),bash scripts/system-deps.sh java)
	CLM_DATABASE='$(CLM_DATABASE)' $(PY) -m clm_core load-demo --data data/demo
	CLM_DATABASE='$(CLM_DATABASE)' .venv/bin/streamlit run app.py

# pyspark for the Spark parity tests (issue 13); kept out of requirements.txt so `make run` stays light.
.venv/.spark-installed: requirements-spark.txt .venv/.installed
	$(PIP) install --quiet --disable-pip-version-check -r requirements-spark.txt
	touch $@

# Two workers (pytest-xdist), one test file each at a time, so a module's fixtures (the Spark session, the
# browser tests' server) are built once: 10 minutes instead of 14 on 2 cores.
test: .venv/.dev-installed .venv/.spark-installed oidc-provider
	bash scripts/system-deps.sh
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# The OpenID Connect provider of the sign-in browser test (tests/e2e/test_login.py): panva's oidc-provider,
# pinned in tests/e2e/oidc/package-lock.json; without npm that test is skipped with the reason.
OIDC_STAMP := tests/e2e/oidc/node_modules/.package-lock.json
oidc-provider:
	@if [ -f $(OIDC_STAMP) ] && [ $(OIDC_STAMP) -nt tests/e2e/oidc/package-lock.json ]; then :; \
	elif command -v npm >/dev/null; then npm ci --prefix tests/e2e/oidc --no-audit --no-fund --silent; \
	else echo "npm is missing: tests/e2e/test_login.py will be skipped"; fi

.venv/.bench-installed: requirements-bench.txt requirements-dev.txt requirements.txt .venv/.installed
	$(PIP) install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: .venv/.bench-installed
	$(PY) bench/bench_core.py
	$(PY) bench/bench_models.py

# Page speed in headless Chromium at three data sizes (not part of `make test`); see bench/README.md.
bench-pages: .venv/.bench-installed
	bash scripts/system-deps.sh
	$(PY) bench/bench_pages.py

# Load test: 20 concurrent Chromium sessions through every page on 100k customers (not part of `make test`);
# see bench/README.md. ARGS passes options, e.g. make bench-load ARGS="--sessions 2 --size demo --no-write".
.PHONY: bench-load
bench-load: .venv/.bench-installed
	bash scripts/system-deps.sh
	$(PY) bench/bench_load.py $(ARGS)

# The core metrics on DuckDB against a local Spark session (local[2]) at 1 M and 10 M orders (issue 13; not part
# of `make test`); see bench/README.md. ARGS passes options, e.g. make bench-spark ARGS="--sizes 1m".
.PHONY: bench-spark
bench-spark: .venv/.spark-installed
	bash scripts/system-deps.sh java
	$(PY) bench/bench_spark.py $(ARGS)

clean:
	rm -rf .venv data/demo data/clm.duckdb
