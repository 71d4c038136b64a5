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
