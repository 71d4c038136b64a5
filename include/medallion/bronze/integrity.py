"""Bronze integrity: every file a partition's manifest lists is still the file the extract landed.

The bronze verify step (``bronze.verify``) checks it before anything reads the data, with one
HEAD per file: the object must exist with the size and the ETag recorded at upload. Why the ETag
and not the manifest's sha256: S3 gives every write of an object a new ETag, so a rewrite or
truncation after the commit changes it, and HEAD returns it without reading the data. Re-hashing
would download every file (as costly as the silver read itself), and S3's own SHA-256 of a
multipart upload is a checksum of the parts, not of the file, so it cannot be compared with the
manifest's. Manifests written before ETags were recorded are checked for existence and size only.
"""

from __future__ import annotations

from typing import Any


def verify_partition(s3_hook: Any, bucket: str, manifest: dict[str, Any]) -> list[str]:
    """One line per listed file that is missing or differs from the manifest (empty: intact)."""
    details = manifest.get("file_details") or [
        {"key": uri.removeprefix(f"s3://{bucket}/"), "bytes": None, "etag": ""} for uri in manifest.get("files") or []
    ]
    problems = []
    for detail in details:
        key = detail["key"]
        name = key.rsplit("/", 1)[-1]
        head = s3_hook.head_object(key, bucket_name=bucket)
        if head is None:
            problems.append(f"{name}: missing")
            continue
        size, etag = int(head["ContentLength"]), str(head.get("ETag", "")).strip('"')
        if detail.get("bytes") is not None and size != int(detail["bytes"]):
            problems.append(f"{name}: {size} bytes, the manifest recorded {detail['bytes']}")
        elif detail.get("etag") and etag != detail["etag"]:
            problems.append(f"{name}: ETag {etag}, the manifest recorded {detail['etag']} (rewritten after the commit)")
    return problems
