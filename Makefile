# make grade      build if needed, then grade every assignment's demo submissions
# make test       the full test suite (what CI runs)
# make test-fast  skip the tests marked slow (no notebook execution)
# make build      rebuild student notebooks and autograder zips from solutions/
# make check      fail if assignments/ is stale against solutions/
# Switches: PYTHON=python3.11  PYTEST_ARGS="-k grade -x"  WORKERS=2  TEST_JOBS=2 (pytest-xdist workers; default 1: none)
#           INSTALL_WITH=pip (setup installs with pip instead of uv)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
WORKERS ?=
TEST_JOBS ?= 1
XDIST  := $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadgroup)

.PHONY: setup grade test test-fast build check clean

# the data set and bubblewrap come from apt while pip fills the venv; either failing fails setup
setup:
	@(scripts/install-dataset.sh; data=$$?; scripts/install-bubblewrap.sh; exit $$data) & apt=$$!; \
	$(MAKE) --no-print-directory $(STAMP); pip=$$?; \
	wait $$apt && [ $$pip = 0 ]

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/install-requirements.py requirements.txt requirements-test.txt
	touch $@

grade: setup
	$(PY) -m autograder grade $(if $(WORKERS),--workers $(WORKERS))

test: setup
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

build: setup
	$(PY) -m autograder build

check: setup
	$(PY) -m autograder build --check

clean:
	rm -rf autograder/dist graded
