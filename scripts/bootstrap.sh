#!/usr/bin/env bash
# Create .venv with the pinned lock on a fresh machine; a no-op when the lock is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
stamp=.venv/.lock-sha
want=$(cat requirements-local.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "bootstrap: creating .venv with pinned packages (first run takes a few minutes)…"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q uv==0.13.9
.venv/bin/uv pip install -q --python .venv/bin/python -r requirements-local.lock
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
echo "$want" > "$stamp"
echo "bootstrap: .venv ready"
