"""Commit a bronze partition to S3 so readers never see half-written or mixed data.

Protocol: upload data files under fresh, attempt-unique names; then write the manifest (one
S3 PUT, atomic for readers); then delete files of the partition the manifest does not list.
Readers trust only the files a manifest lists, so a failure at any step leaves the previous
committed state (or nothing) visible, and a re-run of the same date replaces the partition.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from medallion.layout import MANIFEST_NAME


@dataclass
class LandedFile:
    key: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    """What a reader needs to trust a partition; written last."""

    source: dict[str, Any]
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    logical_date: str
    extracted_at: str
    row_count: int
    bytes: int
    checksum: str
    schema: list[dict[str, str]]
    files: list[str]
    file_details: list[LandedFile] = field(default_factory=list)
    schema_drift: dict[str, Any] = field(default_factory=dict)
    watermark: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def to_json(self) -> str:
        # one line: Spark's read.json and DuckDB read_json both read it without options
        return json.dumps(asdict(self), sort_keys=True, default=str)


def schema_fields(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def attempt_token() -> str:
    """Unique per attempt, so new files never overwrite files an old manifest still lists."""
    return uuid.uuid4().hex[:12]


def read_manifest(s3_hook: Any, bucket: str, partition_key: str) -> dict[str, Any] | None:
    """The committed manifest of a partition, or None if it was never committed."""
    key = partition_key + MANIFEST_NAME
    if not s3_hook.check_for_key(key, bucket_name=bucket):
        return None
    return json.loads(s3_hook.read_key(key, bucket_name=bucket))


def commit_partition(
    s3_hook: Any, bucket: str, partition_key: str, local_files: list[tuple[Path, int]], manifest: Manifest
) -> Manifest:
    """Upload files, write the manifest, then remove what the new manifest does not list."""
    token = attempt_token()
    details = []
    for index, (path, rows) in enumerate(local_files):
        key = f"{partition_key}part-{token}-{index:05d}.parquet"
        s3_hook.load_file(str(path), key=key, bucket_name=bucket, replace=True)
        details.append(LandedFile(key, rows, path.stat().st_size, file_sha256(path)))
    manifest.file_details = details
    manifest.files = [f"s3://{bucket}/{d.key}" for d in details]
    manifest.bytes = sum(d.bytes for d in details)
    manifest.checksum = hashlib.sha256("".join(d.sha256 for d in details).encode()).hexdigest()
    s3_hook.load_string(manifest.to_json(), key=partition_key + MANIFEST_NAME, bucket_name=bucket, replace=True)
    keep = {d.key for d in details} | {partition_key + MANIFEST_NAME}
    stale = [k for k in s3_hook.list_keys(bucket_name=bucket, prefix=partition_key) or [] if k not in keep]
    if stale:
        s3_hook.delete_objects(bucket=bucket, keys=stale)
    return manifest


def manifest_before(s3_hook: Any, bucket: str, dataset_prefix: str, partition_key: str) -> dict[str, Any] | None:
    """The manifest of the latest partition committed before this one (dates sort as strings)."""
    keys = s3_hook.list_keys(bucket_name=bucket, prefix=dataset_prefix) or []
    earlier = sorted(k for k in keys if k.endswith(MANIFEST_NAME) and k < partition_key + MANIFEST_NAME)
    return json.loads(s3_hook.read_key(earlier[-1], bucket_name=bucket)) if earlier else None


def previous_manifest(s3_hook: Any, bucket: str, dataset_prefix: str, partition_key: str) -> dict[str, Any] | None:
    """The manifest of this partition or, failing that, of the latest earlier partition."""
    current = read_manifest(s3_hook, bucket, partition_key)
    return current if current is not None else manifest_before(s3_hook, bucket, dataset_prefix, partition_key)


def schema_drift(previous: list[dict[str, str]] | None, current: list[dict[str, str]]) -> dict[str, Any]:
    """Columns added, removed or retyped since the previous extract (empty dict: no drift)."""
    if not previous:
        return {}
    before = {c["name"]: c["type"] for c in previous}
    after = {c["name"]: c["type"] for c in current}
    drift = {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "retyped": {n: f"{before[n]} → {after[n]}" for n in sorted(set(before) & set(after)) if before[n] != after[n]},
    }
    return drift if any(drift.values()) else {}
