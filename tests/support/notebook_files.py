"""The repository's pipeline notebooks and the bronze datasets each reads, for the notebook tests."""

from __future__ import annotations

import re
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "include" / "notebooks"
#: medallion's own notebooks (the preflight's test runner): not pipeline notebooks, they read no bronze.
OWN_NOTEBOOKS = "_medallion"


def pipeline_notebooks() -> list[Path]:
    """Every notebook under ``include/notebooks/`` a pipeline can run (medallion's own left out)."""
    return sorted(p for p in NOTEBOOKS_DIR.rglob("*.py") if p.relative_to(NOTEBOOKS_DIR).parts[0] != OWN_NOTEBOOKS)


def datasets_read(source: str) -> list[str]:
    """Datasets a notebook reads from bronze: ``{bronze_root}/<dataset>/ds=...`` in its code."""
    return sorted(set(re.findall(r"\{bronze_root\}/([A-Za-z0-9_.-]+)/ds=", source)))
