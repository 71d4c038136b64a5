"""Commit a bronze partition to S3 so readers never see half-written or mixed data.

Protocol: upload data files under fresh, attempt-unique names; then write the manifest (one
S3 PUT, atomic for readers); then delete files of the partition the manifest does not list.
Readers trust only the files a manifest lists, so a failure at any step leaves the previous
committed state (or nothing) visible, and a re-run of the same date replaces the partition.
Each file's size and S3 ETag are recorded so the bronze gate can tell, with one HEAD per file,
that nothing was rewritten or truncated since (see ``quality.integrity``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from medallion.bronze import steps
from medallion.errors import run_step
from medallion.layout import MANIFEST_NAME

UPLOAD_HINT = "check the lake bucket exists and the aws_lake connection may write to it, then clear the task"
COMMIT_HINT = (
    "the files were uploaded but the manifest could not be written: readers still see the previous "
    "partition (or none); clear the task once S3 answers"
)
CLEANUP_HINT = "the partition is committed; files of earlier attempts could not be removed: clear the task"


@dataclass
class LandedFile:
    key: str
    rows: int
    bytes: int
    sha256: str
    etag: str = ""  # as S3 reported it after the upload; empty in manifests written before it was recorded


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


def upload_file(s3_hook: Any, bucket: str, key: str, path: Path) -> str:
    """Upload one file and return its ETag; an object of another size than the file is an error."""
    s3_hook.load_file(str(path), key=key, bucket_name=bucket, replace=True)
    head = s3_hook.head_object(key, bucket_name=bucket)
    size = path.stat().st_size
    if head is None or int(head["ContentLength"]) != size:
        landed = "nothing" if head is None else f"{head['ContentLength']} bytes"
        raise OSError(f"s3://{bucket}/{key} holds {landed} after uploading {size} bytes")
    return str(head.get("ETag", "")).strip('"')


def commit_partition(
    s3_hook: Any, bucket: str, partition_key: str, local_files: list[tuple[Path, int]], manifest: Manifest
) -> Manifest:
    """Upload files, write the manifest, then remove what the new manifest does not list.

    Each is a step on the lake (``upload``, ``commit manifest``, ``remove stale files``), so a
    failure names the bucket and is classed as S3's, whatever its message says."""
    token = attempt_token()
    where = steps.lake_target(bucket, partition_key, s3_hook.aws_conn_id)
    details = []
    for index, (path, rows) in enumerate(local_files):
        key = f"{partition_key}part-{token}-{index:05d}.parquet"
        with steps.writing(path):  # the local file: its size and checksum
            size, sha256 = path.stat().st_size, file_sha256(path)
        etag = run_step(
            "upload", where, UPLOAD_HINT, lambda k=key, p=path: upload_file(s3_hook, bucket, k, p), kind=steps.LAKE
        )
        details.append(LandedFile(key, rows, size, sha256, etag))
    manifest.file_details = details
    manifest.files = [f"s3://{bucket}/{d.key}" for d in details]
    manifest.bytes = sum(d.bytes for d in details)
    manifest.checksum = hashlib.sha256("".join(d.sha256 for d in details).encode()).hexdigest()
    run_step(
        "commit manifest",
        where,
        COMMIT_HINT,
        lambda: s3_hook.load_string(
            manifest.to_json(), key=partition_key + MANIFEST_NAME, bucket_name=bucket, replace=True
        ),
        kind=steps.LAKE,
    )
    keep = {d.key for d in details} | {partition_key + MANIFEST_NAME}

    def remove_stale() -> None:
        stale = [k for k in s3_hook.list_keys(bucket_name=bucket, prefix=partition_key) or [] if k not in keep]
        if stale:
            s3_hook.delete_objects(bucket=bucket, keys=stale)

    run_step("remove stale files", where, CLEANUP_HINT, remove_stale, kind=steps.LAKE)
    return manifest


def manifest_before(s3_hook: Any, bucket: str, dataset_prefix: str, partition_key: str) -> dict[str, Any] | None:
    """The manifest of the latest partition committed before this one (dates sort as strings)."""
    keys = s3_hook.list_keys(bucket_name=bucket, prefix=dataset_prefix) or []
    earlier = sorted(k for k in keys if k.endswith(MANIFEST_NAME) and k < partition_key + MANIFEST_NAME)
    return json.loads(s3_hook.read_key(earlier[-1], bucket_name=bucket)) if earlier else None


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
