"""The lock is the whole truth of the local install: it agrees with its inputs and installs without compiling.

``scripts/bootstrap.sh`` runs ``uv pip sync --only-binary :all: --no-binary pyspark requirements-local.lock``:
exactly the lock, no re-resolution, no source builds but the one pure-Python sdist named (pyspark has no
wheel). These tests fail when that install would go wrong on a fresh machine:
a pin that disagrees with ``requirements.txt`` / ``requirements-dev.in``, a dependency missing from the
lock, or a locked package that has no wheel for this platform (it would need a compiler and headers).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-local.lock"


def _pins(text: str) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line (extras and comments dropped, names normalised)."""
    out = {}
    for line in text.splitlines():
        line = line.split("#")[0].split(";")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, version = line.partition("==")
            out[re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).lower().strip()] = version.strip()
    return out


def test_bootstrap_installs_exactly_the_lock_and_never_builds() -> None:
    script = (ROOT / "scripts/bootstrap.sh").read_text()
    sync = r"uv\" pip sync .*--only-binary :all: --no-binary pyspark requirements-local\.lock"
    assert re.search(sync, script), script
    assert not re.search(r"pip install .*-r ", script), "a re-resolving install (-r) is back"


def test_ci_proves_a_fresh_machine() -> None:
    ci = (ROOT / ".ci/run").read_text()
    assert "UV_CACHE_DIR=" in ci and "mktemp" in ci, "CI must install with an empty package cache"
    assert "make test" in ci


def test_direct_pins_match_the_lock() -> None:
    lock = _pins(LOCK.read_text())
    for source in ("requirements.txt", "requirements-dev.in"):
        pinned = _pins((ROOT / source).read_text())
        wrong = {name: (version, lock.get(name)) for name, version in pinned.items() if lock.get(name) != version}
        assert not wrong, f"{source} pins (wanted, locked) that differ from requirements-local.lock: {wrong}"


def test_python_version_matches_pyproject() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11,<3.12" and sys.version_info[:2] == (3, 11)


def test_lock_is_complete_consistent_and_has_wheels_for_this_platform(tmp_path: Path) -> None:
    """Re-resolve the inputs constrained to the lock with source builds refused: the answer must be the lock itself.

    A dependency missing from the lock, a pin that contradicts an input, or a package with no wheel for
    this platform makes uv fail (or answer with another set), naming the package.
    """
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not in this venv (scripts/bootstrap.sh installs it)")
    out = tmp_path / "recompiled.txt"
    result = subprocess.run(
        [
            str(uv), "pip", "compile", "requirements-dev.in",
            "--overrides", "requirements-local-overrides.txt",
            "--constraint", "requirements-local.lock",
            "--only-binary", ":all:", "--no-binary", "pyspark",
            "--python-version", "3.11", "--no-header", "--no-annotate", "-q", "-o", str(out),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"the lock cannot be installed without building:\n{result.stderr[-3000:]}"
    locked, resolved = _pins(LOCK.read_text()), _pins(out.read_text())
    assert resolved == locked, {
        "missing from the lock": sorted(set(resolved) - set(locked)),
        "locked but not needed": sorted(set(locked) - set(resolved)),
    }
