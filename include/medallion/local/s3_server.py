"""The local S3: moto's server with every object written through to disk.

moto keeps buckets in memory, so ``medallion local down`` or a crash used to erase every bronze
partition, gate report and alert state while ``.local/lakehouse.duckdb`` kept silver and gold.
Here, after each request that may change something (any method but GET/HEAD/OPTIONS) and before
its response leaves, the buckets and objects that changed are written to (or removed from) a
folder: per object one data file and one JSON record (key, ETag, Last-Modified, metadata,
checksum), each replaced atomically, the record after its data. Whatever the client was told
succeeded is on disk, and a kill -9 at any point leaves the last acknowledged state. At start the
folder is loaded back into moto with the same ETags and dates, so boto3, S3Hook, DuckDB's httpfs
and the manifests' recorded ETags see the objects they wrote.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from medallion.local.service import LocalService, serve_in_background, shut_down

log = logging.getLogger(__name__)

_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
_BUCKET_RECORD = "bucket.json"
_OBJECTS = "objects"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _object_id(key: str) -> str:
    """A file name for any S3 key (keys may hold ``/``, ``..`` or exceed a file name's length)."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _signature(key: Any) -> tuple[Any, ...]:
    """What a client can observe of an object; a change of any part is written to disk."""
    return (
        key.etag,
        key.last_modified,
        key.size,
        tuple(sorted(key.metadata.items())),
        key.storage_class,
        key.checksum_value,
    )


class S3Store:
    """The on-disk copy of moto's S3 backends: ``<root>/<bucket>/bucket.json`` and ``objects/``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._buckets: set[str] = set()
        self._objects: dict[tuple[str, str], tuple[Any, ...]] = {}

    # ---------------------------------------------------------------- moto's state

    @staticmethod
    def _live() -> Iterator[tuple[Any, Any]]:
        """(backend, bucket) for every bucket moto holds, without creating backends."""
        from moto.s3.models import s3_backends

        for per_account in list(dict.values(s3_backends)):
            for backend in list(dict.values(per_account)):
                for bucket in list(backend.buckets.values()):
                    yield backend, bucket

    @staticmethod
    def _live_keys(bucket: Any) -> dict[str, Any]:
        """The current version of every key (delete markers are absent objects)."""
        from moto.s3.models import FakeKey

        out = {}
        for name, versions in list(dict.items(bucket.keys)):  # builtin copy: atomic under the GIL
            if versions and isinstance(versions[-1], FakeKey):
                out[name] = versions[-1]
        return out

    # ---------------------------------------------------------------- write-through

    def sync(self) -> None:
        """Bring the folder up to moto's current state (only what changed is written)."""
        with self._lock:
            live_buckets: set[str] = set()
            live_objects: set[tuple[str, str]] = set()
            for backend, bucket in self._live():
                live_buckets.add(bucket.name)
                if bucket.name not in self._buckets:
                    self._write_bucket(backend, bucket)
                for name, key in self._live_keys(bucket).items():
                    live_objects.add((bucket.name, name))
                    try:
                        signature = _signature(key)
                        if self._objects.get((bucket.name, name)) != signature:
                            self._write_object(bucket.name, key)
                            self._objects[(bucket.name, name)] = signature
                    except ValueError:  # replaced (and its buffer closed) meanwhile: that request syncs it
                        continue
            for bucket_name, name in set(self._objects) - live_objects:
                self._remove_object(bucket_name, name)
            for bucket_name in self._buckets - live_buckets:
                shutil.rmtree(self.root / bucket_name, ignore_errors=True)
                self._buckets.discard(bucket_name)

    def _write_bucket(self, backend: Any, bucket: Any) -> None:
        folder = self.root / bucket.name / _OBJECTS
        folder.mkdir(parents=True, exist_ok=True)
        record = {"name": bucket.name, "account_id": backend.account_id, "region": bucket.region_name}
        _atomic_write(self.root / bucket.name / _BUCKET_RECORD, json.dumps(record).encode())
        self._buckets.add(bucket.name)

    def _write_object(self, bucket_name: str, key: Any) -> None:
        folder = self.root / bucket_name / _OBJECTS
        object_id = _object_id(key.name)
        etag = key.etag.strip('"')
        data_name = f"{object_id}.{hashlib.sha256(f'{etag}|{key.last_modified}'.encode()).hexdigest()[:16]}.data"
        _atomic_write(folder / data_name, key.value)
        record = {
            "key": key.name,
            "data": data_name,
            "etag": etag,
            "last_modified": key.last_modified.isoformat(),
            "size": key.size,
            "metadata": dict(key.metadata),
            "storage_class": key.storage_class,
            "checksum": [key.checksum_algorithm, key.checksum_value, getattr(key, "checksum_type", None)],
        }
        record_path = folder / f"{object_id}.json"
        previous = _read_record(record_path)
        _atomic_write(record_path, json.dumps(record).encode())  # the commit point
        if previous and previous.get("data") != data_name:
            (folder / previous["data"]).unlink(missing_ok=True)

    def _remove_object(self, bucket_name: str, name: str) -> None:
        folder = self.root / bucket_name / _OBJECTS
        record_path = folder / f"{_object_id(name)}.json"
        record = _read_record(record_path)
        record_path.unlink(missing_ok=True)  # the commit point
        if record:
            (folder / record["data"]).unlink(missing_ok=True)
        self._objects.pop((bucket_name, name), None)

    # ---------------------------------------------------------------- restore

    def restore(self) -> int:
        """Load the folder into moto (call before serving); returns the number of objects."""
        from moto.s3.exceptions import BucketAlreadyExists
        from moto.s3.models import s3_backends

        count = 0
        with self._lock:
            for bucket_dir in sorted(p for p in self.root.glob("*") if (p / _BUCKET_RECORD).is_file()):
                info = json.loads((bucket_dir / _BUCKET_RECORD).read_text(encoding="utf-8"))
                backend = s3_backends[info["account_id"]]["aws"]
                with contextlib.suppress(BucketAlreadyExists):  # moto in this process already has it
                    backend.create_bucket(info["name"], info["region"])
                self._buckets.add(info["name"])
                count += self._restore_objects(backend, info["name"], bucket_dir / _OBJECTS)
        return count

    def _restore_objects(self, backend: Any, bucket_name: str, folder: Path) -> int:
        referenced: set[str] = set()
        count = 0
        for record_path in sorted(folder.glob("*.json")):
            record = _read_record(record_path)
            data = folder / record["data"] if record else None
            if record is None or data is None or not data.is_file():
                log.warning("local S3: %s has no readable data; removed", record_path)
                record_path.unlink(missing_ok=True)
                continue
            referenced.add(record["data"])
            algorithm, checksum, checksum_type = record.get("checksum") or (None, None, None)
            key = backend.put_object(
                bucket_name,
                record["key"],
                data.read_bytes(),
                storage=record.get("storage_class"),
                etag=record["etag"],
                checksum_value=checksum,
                disable_notification=True,
            )
            key.set_metadata(dict(record.get("metadata") or {}), replace=True)
            key.last_modified = dt.datetime.fromisoformat(record["last_modified"])
            key.checksum_algorithm, key.checksum_type = algorithm, checksum_type
            self._objects[(bucket_name, record["key"])] = _signature(key)
            count += 1
        for leftover in folder.iterdir():  # data of a write that never committed, temp files of a crash
            if leftover.name not in referenced and not leftover.name.endswith(".json"):
                leftover.unlink(missing_ok=True)
        return count


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("local S3: unreadable record %s (%s)", path, exc)
        return None


class WriteThrough:
    """WSGI middleware: a changing request's response leaves only after ``store.sync()``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: S3Store):
        self.app, self.store = app, store

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in _READ_ONLY:
            return self.app(environ, start_response)
        result = self.app(environ, start_response)
        try:
            body = list(result)  # werkzeug sends nothing before the body is returned
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        self.store.sync()
        return body


class PersistentS3Server(LocalService):
    """moto's S3 (and the rest of its API) on 127.0.0.1:``port``, persisted under ``root``."""

    def __init__(self, port: int, root: Path, host: str = "127.0.0.1"):
        self.port, self.root, self.host = port, Path(root), host
        self.store = S3Store(self.root)
        self.restored = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.root.mkdir(parents=True, exist_ok=True)
        self.restored = restored = self.store.restore()
        app = WriteThrough(DomainDispatcherApplication(create_backend_app), self.store)
        # bound here, not by werkzeug: a taken port is an OSError to report, not werkzeug's sys.exit(1)
        with socket.create_server((self.host, self.port)) as sock:
            self._server = make_server(
                self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler, fd=sock.fileno()
            )
        self._thread = serve_in_background(self._server, "local-s3")
        log.info("local S3 on %s:%s: %d object(s) restored from %s", self.host, self.port, restored, self.root)
        return self

    def stop(self) -> None:
        if self._server is not None:
            shut_down(self._server, self._thread, timeout=10)
        self._server = self._thread = None
