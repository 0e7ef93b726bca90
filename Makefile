# tracetune: `make demo` and `make test` do all the set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export OMP_NUM_THREADS := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test install clean bench mutation

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tracetune run examples/jobs/demo.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:randomly tests

bench: $(STAMP)
	for f in benchmarks/*_bench.py; do $(BIN)/python $$f || exit 1; done

# Mutation testing (not part of `make test` or CI; tens of minutes). FILES=... narrows it,
# ARGS="--sample 30" samples. See docs/testing.md.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/python benchmarks/mutation_report.py $(FILES) $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
