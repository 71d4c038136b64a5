"""Load every spec of a config folder and run the cross-pipeline checks: one path for both
``medallion validate`` and the DAG loader, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medallion.errors import Problem, SpecError
from medallion.spec.checks import GoldSelector, LoadedSpec, ProjectReport, check_project
from medallion.spec.load import SpecLoader, spec_files
from medallion.spec.paths import check_roots

_LOADERS: dict[Path, SpecLoader] = {}


def loader_for(root: Path) -> SpecLoader:
    """One loader per config root per process, so its content-hash cache survives re-parses."""
    root = root.resolve()
    if root not in _LOADERS:
        _LOADERS[root] = SpecLoader(root)
    return _LOADERS[root]


@dataclass
class Project:
    root: Path
    files: list[Path]
    valid: dict[Path, LoadedSpec] = field(default_factory=dict)
    report: ProjectReport = field(default_factory=ProjectReport)

    def problems(self, path: Path) -> list[Problem]:
        return self.report.problems.get(path, [])

    def buildable(self) -> list[LoadedSpec]:
        """Specs with no error (warnings allowed), in file order."""
        return [item for path, item in self.valid.items() if not self.report.errors(path)]


def known_connections() -> set[str] | None:
    """Connection ids in airflow_settings.yaml, or None when there is no such file."""
    from medallion.settings import load_settings, settings_path

    return set(load_settings().connections) if settings_path().is_file() else None


def load_project(
    root: Path,
    files: list[Path] | None = None,
    *,
    connections: set[str] | None = None,
    select_gold: GoldSelector | None,
) -> Project:
    """Validate ``files`` (default: every spec under ``root``) and check them together.

    Gold selections resolve through ``select_gold``, which the caller names (cosmos's selector,
    ``medallion.gold.selection.select_gold``, for `validate` and the loader: this package imports no layer);
    None skips the gold selection checks, for callers that only need the parsed specs.
    """
    root = root.resolve()
    loader = loader_for(root)
    project = Project(root, [f.resolve() for f in (files if files is not None else spec_files(root))])
    for path in project.files:
        try:
            spec, doc = loader.load_with_doc(path)
        except SpecError as exc:
            project.report.problems.setdefault(path, []).extend(exc.problems)
        else:
            project.valid[path] = LoadedSpec(path, spec, doc)
    cross = check_project(project.valid.values(), connections, select_gold)
    for path, problems in cross.problems.items():
        project.report.problems.setdefault(path, []).extend(problems)
    for path, problems in check_roots(project.valid.values()).items():  # notebooks, dbt, local files
        project.report.problems.setdefault(path, []).extend(problems)
    project.report.gold, project.report.owners = cross.gold, cross.owners
    return project
