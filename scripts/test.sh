#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite.
# Idempotent: a second run skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# PySpark (the HES builder's second engine, tested in local mode) needs a Java runtime.
if ! command -v java >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq default-jre-headless >/dev/null
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

# Python's own bytecode cache, even where the environment turns it off (PYTHONDONTWRITEBYTECODE): each
# worker would otherwise re-parse and re-compile every test module (pytest rewrites their asserts) and
# every server and CLI subprocess the project's modules, on every run. __pycache__/ is git-ignored.
unset PYTHONDONTWRITEBYTECODE

# Two workers (pytest-xdist); tests/conftest.py groups the tests by module (Spark tests together, so
# one JVM) and puts the longest groups first, which --no-loadscope-reorder keeps. Each worker that runs
# browser tests starts its own demo server. PIONEERS_TEST_WORKERS=0 runs everything in this one process.
exec .venv/bin/python -m pytest -n "${PIONEERS_TEST_WORKERS:-2}" --dist loadgroup --no-loadscope-reorder "$@"
