"""What every local server shares: ``with Server(...) as s:`` starts it and always stops it."""

from __future__ import annotations

from typing import Any, Self


class LocalService:
    """Mixin for servers with ``start() -> Self`` and an idempotent ``stop()``."""

    def start(self) -> Self:  # pragma: no cover - implemented by each server
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - implemented by each server
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for servers the tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
