# The README's commands. `make test` is what .ci/run calls: it installs what the suite needs
# (Python packages, Debian packages, the Neo4j launcher, ...) and then runs every test, the
# integration ones against real servers that the test fixtures start on 127.0.0.1.
PY ?= python3

.PHONY: install demo deps test-deps test test-fast

install:
	$(PY) -m pip install -q -e .

demo: install
	faultline demo

# The Python packages the tests import (pytest, jsonschema, ...): enough for `make test-fast`.
test-deps:
	$(PY) -m pip install -q -e '.[test]'

deps: test-deps
	@for s in .ci/services/*.sh; do [ -e "$$s" ] || continue; echo "== $$s"; bash "$$s" || exit 1; done

# FAULTLINE_REQUIRE_SERVERS=1: a missing server fails the run instead of skipping its tests.
test: deps
	FAULTLINE_REQUIRE_SERVERS=1 $(PY) -m pytest

# Unit tests only: no servers to install or start.
test-fast: test-deps
	$(PY) -m pytest -m "not integration"
