"""Where the project lives, so every module resolves relative paths the same way."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The Astro project directory (``MEDALLION_PROJECT_DIR`` overrides the checkout location)."""
    env = os.environ.get("MEDALLION_PROJECT_DIR")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def local_dir() -> Path:
    """All local embedded state lives here (git-ignored)."""
    env = os.environ.get("MEDALLION_LOCAL_DIR")
    return Path(env).resolve() if env else project_root() / ".local"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve a project-relative path (as written in YAML or connections) to an absolute one."""
    p = Path(path)
    return p if p.is_absolute() else project_root() / p
