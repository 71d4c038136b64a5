"""Where the project lives, so every module resolves relative paths the same way."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The Astro project directory (``MEDALLION_PROJECT_DIR`` overrides the checkout location)."""
    env = os.environ.get("MEDALLION_PROJECT_DIR")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """The folder of specs every command and the DAG loader read (``MEDALLION_CONFIG_DIR`` overrides it)."""
    env = os.environ.get("MEDALLION_CONFIG_DIR")
    return Path(env).resolve() if env else project_root() / "dag_configs"


def local_dir() -> Path:
    """All local embedded state lives here (git-ignored)."""
    env = os.environ.get("MEDALLION_LOCAL_DIR")
    return Path(env).resolve() if env else project_root() / ".local"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve a project-relative path (as written in YAML or connections) to an absolute one."""
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


#: Folders local ``file`` sources may read (``os.pathsep``-separated); a deployment setting, not a spec key.
FILE_ROOTS_ENV = "MEDALLION_FILE_ROOTS"


def file_roots() -> list[Path]:
    """Where local file sources may read: ``MEDALLION_FILE_ROOTS``, else the project's ``data/`` folder."""
    env = os.environ.get(FILE_ROOTS_ENV, "")
    roots = [resolve(p).resolve() for p in env.split(os.pathsep) if p.strip()]
    return roots or [project_root() / "data"]


def within(path: Path, roots: list[Path]) -> bool:
    """Whether ``path`` (symlinks and ``..`` resolved) is one of ``roots`` or inside one."""
    real = path.resolve()
    return any(real.is_relative_to(root.resolve()) for root in roots)


def local_source(path: str) -> Path:
    """A local file source's (rendered) path, resolved from the project, if it is inside an allowed root.

    Checked again when a task reads, because a template can render what validate could not see.
    """
    resolved = resolve(path).resolve()
    roots = file_roots()
    if not within(resolved, roots):
        raise PermissionError(
            f"local path {path!r} ({resolved}) is outside the folders file sources may read "
            f"({', '.join(str(r) for r in roots)}); the deployment sets them in {FILE_ROOTS_ENV}"
        )
    return resolved
