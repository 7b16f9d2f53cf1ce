#!/usr/bin/env bash
# Install the dashboard into .venv and start it on the demo dataset at http://127.0.0.1:8050
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
exec .venv/bin/pioneers serve "$@"
