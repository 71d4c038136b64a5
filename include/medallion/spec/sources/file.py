"""Source kind `file`: CSV, JSON lines or parquet files (operator: bronze/sources/file.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from medallion.spec.base import ColumnName, Identifier, StrictModel
from medallion.spec.paths import no_parent_segments, s3_url

#: Arrow type names, plus the SQL spellings engineers type by habit (mapped in bronze/file_readers.py).
ColumnType = Annotated[
    str,
    Field(
        pattern=r"^(bool|boolean|u?int(8|16|32|64)|tinyint|smallint|int|integer|bigint|float(32|64)?|double|real"
        r"|string|utf8|varchar|text|binary|date|date32|datetime|timestamp|timestamptz"
        r"|timestamp\[(s|ms|us|ns)(, ?tz=[A-Za-z0-9_/+:-]+)?\]|(decimal|numeric)\(\d{1,2}, ?\d{1,2}\))$"
    ),
]


class CsvOptions(StrictModel):
    """How CSV files are split into rows and columns."""

    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    header: bool = Field(True, description="first row names the columns; false: names from `columns` in order")
    quote_char: Annotated[str, Field(max_length=1)] = Field('"', description="'' turns quoting off")
    escape_char: Annotated[str, Field(max_length=1)] = Field("", description="'' for none (quotes are doubled)")
    skip_rows: Annotated[int, Field(ge=0)] = Field(0, description="lines to skip before the header")
    null_values: list[str] | None = Field(None, description="strings read as null (default: '', NULL, null, NA …)")
    encoding: str = "utf8"


class FileSource(StrictModel):
    """CSV, JSON lines or parquet files in an S3 prefix, an SFTP folder or a local folder."""

    kind: Literal["file"]
    name: Identifier
    storage: Literal["s3", "sftp", "local"] = Field(
        "local", description="where the files are (default: s3 for an s3:// path, else local)"
    )
    conn_id: str | None = Field(None, description="aws connection (s3) or sftp connection (sftp); none for local")
    path: str = Field(
        description="s3://bucket/prefix/, or a folder (or one file) on the SFTP server or this machine; "
        "Jinja such as {{ ds }} is rendered"
    )
    pattern: str = Field(
        "*",
        description="glob on paths under `path` (* and ? stay in one folder, **/ crosses folders), "
        "e.g. '*.csv.gz' or 'orders_{{ ds_nodash }}*.jsonl'; .gz/.bz2/.zst/.lz4 files are decompressed",
    )
    format: Literal["csv", "jsonl", "parquet"]
    csv: CsvOptions | None = Field(None, description="CSV options (format: csv only)")
    columns: dict[ColumnName, ColumnType] = Field(
        {}, description="explicit types, e.g. {amount: decimal(12,2), sold_at: timestamp}; others are inferred"
    )
    on_empty: Literal["fail", "warn", "allow"] = Field("fail", description="when no file matches or all are empty")
    batch_rows: Annotated[int, Field(ge=1000, le=1_000_000)] = 100_000

    @model_validator(mode="before")
    @classmethod
    def _storage_from_path(cls, data: Any) -> Any:
        if isinstance(data, dict) and "storage" not in data and isinstance(data.get("path"), str):
            return {**data, "storage": "s3" if data["path"].startswith("s3://") else "local"}
        return data

    @field_validator("path")
    @classmethod
    def _path_stays_inside(cls, value: str) -> str:
        """No '..' in any path; an S3 URL also needs a bucket and no empty key segments (spec/paths.py)."""
        return s3_url(value) if value.startswith("s3://") else no_parent_segments(value)

    @model_validator(mode="after")
    def _storage_matches(self) -> FileSource:
        if (self.storage == "s3") != self.path.startswith("s3://"):
            raise ValueError("storage s3 takes an s3://bucket/prefix/ path, and an s3:// path needs storage s3")
        if self.storage == "local" and self.conn_id:
            raise ValueError("a local path takes no conn_id (set storage: sftp for an SFTP server)")
        if self.storage != "local" and not self.conn_id:
            raise ValueError(f"storage {self.storage} needs conn_id (an Airflow {self.storage} connection)")
        if self.csv is not None and self.format != "csv":
            raise ValueError("csv options apply to format: csv only")
        return self
