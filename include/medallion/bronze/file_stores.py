"""Where a file source's files live: a local folder, an S3 prefix or an SFTP folder.

Each store lists the files under a path that match a glob, and fetches one to a local path
(remote files are copied to the task's scratch folder; local files are read in place).
"""

from __future__ import annotations

import datetime as dt
import re
import stat
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from medallion import paths


@dataclass(frozen=True)
class SourceFile:
    """One input file: ``uri`` for people and manifests, ``key`` for the store that opens it."""

    uri: str
    key: str
    bytes: int
    etag: str = ""  # S3 ETag; SFTP/local files have none
    modified: str = ""

    def record(self, rows: int) -> dict[str, Any]:
        return {**asdict(self), "rows": rows}


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, relative: str) -> bool:
    """``*`` and ``?`` stay within one folder, ``**/`` crosses folders (like shell globstar)."""
    return _glob_regex(pattern).fullmatch(relative) is not None


def _iso(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds") if timestamp else ""


class FileStore(Protocol):
    def list(self, path: str, pattern: str) -> list[SourceFile]: ...
    def fetch(self, file: SourceFile, folder: Path) -> Path: ...
    def close(self) -> None: ...


class LocalStore:
    """Files on this machine (or a mounted share): read in place."""

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        root = paths.local_source(path)  # inside MEDALLION_FILE_ROOTS, or PermissionError before any read
        if root.is_file():
            return [self._file(root)]
        if not root.is_dir():
            return []
        walk = root.rglob("*") if "/" in pattern else root.glob("*")
        return sorted(
            (self._file(p) for p in walk if p.is_file() and glob_match(pattern, p.relative_to(root).as_posix())),
            key=lambda f: f.key,
        )

    @staticmethod
    def _file(p: Path) -> SourceFile:
        st = p.stat()
        return SourceFile(uri=str(p), key=str(p), bytes=st.st_size, modified=_iso(st.st_mtime))

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        return Path(file.key)

    def close(self) -> None:
        pass


class S3Store:
    """An S3 prefix through the amazon provider's ``S3Hook`` (credentials from the aws connection)."""

    def __init__(self, conn_id: str):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self.client = S3Hook(aws_conn_id=conn_id).get_conn()

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        bucket, _, key = path.removeprefix("s3://").partition("/")
        prefix = key if not key or key.endswith("/") else key + "/"
        options = {"Bucket": bucket, "Prefix": prefix} | ({} if "/" in pattern else {"Delimiter": "/"})
        files = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**options):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if relative and glob_match(pattern, relative):
                    files.append(self._file(bucket, obj))
        if not files and key and not key.endswith("/"):  # the path may name one object
            listed = self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            files = [self._file(bucket, o) for o in listed if o["Key"] == key]
        return files

    @staticmethod
    def _file(bucket: str, obj: dict[str, Any]) -> SourceFile:
        return SourceFile(
            uri=f"s3://{bucket}/{obj['Key']}",
            key=obj["Key"],
            bytes=int(obj["Size"]),
            etag=str(obj.get("ETag", "")).strip('"'),
            modified=obj["LastModified"].isoformat(timespec="seconds") if obj.get("LastModified") else "",
        )

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        bucket = file.uri.removeprefix("s3://").split("/", 1)[0]
        local = folder / PurePosixPath(file.key).name
        self.client.download_file(bucket, file.key, str(local))
        return local

    def close(self) -> None:
        pass


class SftpStore:
    """A folder on an SFTP server through the sftp provider's ``SFTPHook`` (one SSH session)."""

    def __init__(self, conn_id: str):
        from airflow.providers.sftp.hooks.sftp import SFTPHook

        hook = SFTPHook(ssh_conn_id=conn_id)
        self._session = hook.get_managed_conn()  # closes the SFTP channel and the SSH client
        self.sftp = self._session.__enter__()
        self.host = hook.remote_host

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        try:
            attrs = self.sftp.stat(path)
        except FileNotFoundError:
            return []
        if stat.S_ISREG(attrs.st_mode or 0):
            return [self._file(path, attrs)]
        files: list[SourceFile] = []
        self._walk(path.rstrip("/") or "/", "", pattern, "/" in pattern, files)
        return sorted(files, key=lambda f: f.key)

    def _walk(self, root: str, relative: str, pattern: str, recurse: bool, out: list[SourceFile]) -> None:
        folder = f"{root}/{relative}" if relative else root
        for entry in self.sftp.listdir_attr(folder):
            rel = f"{relative}/{entry.filename}" if relative else entry.filename
            if stat.S_ISDIR(entry.st_mode or 0) and recurse:
                self._walk(root, rel, pattern, recurse, out)
            elif stat.S_ISREG(entry.st_mode or 0) and glob_match(pattern, rel):
                out.append(self._file(f"{root.rstrip('/')}/{rel}", entry))

    def _file(self, path: str, attrs: Any) -> SourceFile:
        return SourceFile(
            uri=f"sftp://{self.host}{path}", key=path, bytes=int(attrs.st_size or 0), modified=_iso(attrs.st_mtime)
        )

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        local = folder / PurePosixPath(file.key).name
        self.sftp.get(file.key, str(local))
        return local

    def close(self) -> None:
        self._session.__exit__(None, None, None)


def open_store(storage: str, conn_id: str | None) -> FileStore:
    """The store for a spec's ``storage`` (opening it checks the connection and credentials)."""
    if storage == "s3":
        return S3Store(str(conn_id))
    if storage == "sftp":
        return SftpStore(str(conn_id))
    return LocalStore()
