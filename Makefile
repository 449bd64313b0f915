# Two commands for a fresh machine:
#   make run   - the suite against the embedded reference CSCF (writes reports/ and pcaps/)
#   make test  - the project's own tests (unit and integration)
# Both create .venv and install what they need.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: run test tools clean help

help:
	@echo "make run    run the conformance suite against the embedded reference CSCF"
	@echo "make test   run the project's own tests"
	@echo "make clean  remove reports/, pcaps/ and the virtual environment"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/conformance run $(ARGS)

tools:
	scripts/install-tools.sh

test: $(STAMP) tools
	$(BIN)/python -m pytest tests -q -p no:cacheprovider $(ARGS)

clean:
	rm -rf reports/*.html reports/*.json reports/*.xml reports/assets pcaps/*.pcap $(VENV)
