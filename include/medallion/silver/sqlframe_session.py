"""sqlframe as ``pyspark`` for notebooks: Spark's API on DuckDB, without touching ``sys.modules``.

A notebook's ``from pyspark.sql import functions as F`` is served sqlframe's DuckDB flavour through
the notebook's own ``__import__`` (so real pyspark, when installed, stays what the rest of the
process imports); ``open_session`` gives a fresh ``DuckDBSession`` on a DuckDB connection, with
Spark's answers where DuckDB's differ (``silver/sqlframe_spark.py``).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import types
from collections.abc import Sequence
from typing import Any

import duckdb

_SUBMODULE_ALIASES = {
    "functions": {},
    "types": {},
    "window": {},
    "column": {},
    "dataframe": {"DataFrame": "DuckDBDataFrame"},
    "group": {"GroupedData": "DuckDBGroupedData"},
    "readwriter": {"DataFrameReader": "DuckDBDataFrameReader", "DataFrameWriter": "DuckDBDataFrameWriter"},
    "session": {"SparkSession": "DuckDBSession"},
}


def _alias_module(name: str, source: types.ModuleType, aliases: dict[str, str]) -> types.ModuleType:
    """A copy of ``source`` named ``name`` with Spark names added (sqlframe's modules stay untouched)."""
    module = types.ModuleType(name)
    module.__dict__.update({k: v for k, v in vars(source).items() if not k.startswith("__")})
    module.__dict__.update({alias: getattr(source, target) for alias, target in aliases.items()})
    return module


@functools.cache
def _pyspark_modules() -> dict[str, types.ModuleType]:
    """Fake ``pyspark`` package whose ``sql`` modules are sqlframe's DuckDB flavour."""
    import sqlframe.duckdb as engine

    from medallion.silver.sqlframe_spark import spark_semantics

    spark_semantics()  # before the functions module is copied: its to_date is patched
    modules: dict[str, types.ModuleType] = {}
    sql_aliases: dict[str, str] = {}
    for sub, aliases in _SUBMODULE_ALIASES.items():
        source = importlib.import_module(f"sqlframe.duckdb.{sub}")
        modules[f"pyspark.sql.{sub}"] = _alias_module(f"pyspark.sql.{sub}", source, aliases)
        sql_aliases.update(aliases)
    sql = _alias_module("pyspark.sql", engine, sql_aliases)
    for sub in _SUBMODULE_ALIASES:
        setattr(sql, sub, modules[f"pyspark.sql.{sub}"])
    root = types.ModuleType("pyspark")
    root.sql = sql  # type: ignore[attr-defined]
    return {"pyspark": root, "pyspark.sql": sql, **modules}


def notebook_builtins() -> dict[str, Any]:
    """Builtins whose ``__import__`` serves ``pyspark`` from sqlframe, leaving ``sys.modules`` alone."""
    modules = _pyspark_modules()

    def _import(
        name: str,
        globals_: dict[str, Any] | None = None,
        locals_: dict[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level == 0 and name.split(".")[0] == "pyspark":
            if name not in modules:
                raise ModuleNotFoundError(
                    f"No module named '{name}': the local Databricks emulator maps only "
                    f"{', '.join(sorted(modules))} to sqlframe"
                )
            return modules[name] if fromlist else modules["pyspark"]
        return builtins.__import__(name, globals_, locals_, fromlist, level)

    return {**vars(builtins), "__import__": _import}


def open_session(con: duckdb.DuckDBPyConnection) -> Any:
    """A fresh sqlframe session on ``con``.

    sqlframe keeps one process-wide session (``_BaseSession._instance``) and ignores ``conn`` when
    one exists, so the slot is emptied first; the caller restores it afterwards.
    """
    from sqlframe.base.session import _BaseSession
    from sqlframe.duckdb import DuckDBSession

    from medallion.silver.sqlframe_spark import spark_semantics

    spark_semantics()
    _BaseSession._instance = None
    return DuckDBSession(conn=con)
