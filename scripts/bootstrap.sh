#!/usr/bin/env bash
# Create .venv with exactly the pinned lock; a no-op when the lock is unchanged.
# `uv pip sync` installs the lock as written (no re-resolution, so no extra dependencies such as
# mysqlclient) and `--only-binary :all:` refuses source builds: a package without a wheel for this platform
# fails here with its name, never with a compiler error half-way through. The one exception, named:
# pyspark (real Spark for the notebook tests) is published only as a pure-Python sdist (Python files
# and jars, no compiler needed), so `--no-binary pyspark` lets exactly that one build.
# Set VENV to bootstrap elsewhere (CI proves a fresh machine with a new venv and an empty cache).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
stamp=$VENV/.lock-sha
want=$(cat requirements-local.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "bootstrap: creating $VENV with the pinned lock…"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv==0.13.9
if ! "$VENV/bin/uv" pip sync -q --python "$VENV/bin/python" --only-binary :all: --no-binary pyspark requirements-local.lock; then
  echo "bootstrap: installing requirements-local.lock failed (see above). A package without a wheel for" >&2
  echo "  this platform is refused rather than compiled: pick a version with a wheel and re-lock." >&2
  exit 1
fi
# Our own package, editable, without dependencies (the lock has them all); the only build allowed.
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
echo "$want" > "$stamp"
echo "bootstrap: $VENV ready"
