"""Named, cancellable background routines (Consul's leader routine manager)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RoutineFactory = Callable[[], Coroutine[Any, Any, None]]


class RoutineManager:
    """Starts routines by name, at most one per name, and cancels them on demand.

    A routine that raises is logged once and stays stopped; cancelling is how
    routines end normally (for example when leadership is lost).
    """

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task] = {}

    def start(self, name: str, factory: RoutineFactory) -> bool:
        """Start ``factory()`` as routine ``name``; False if it already runs."""
        if self.is_running(name):
            return False
        task = asyncio.get_running_loop().create_task(self._run(name, factory), name=name)
        self._tasks[name] = task
        return True

    def is_running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def running(self) -> list[str]:
        return sorted(name for name in self._tasks if self.is_running(name))

    async def stop(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self) -> None:
        for name in list(self._tasks):
            await self.stop(name)

    async def _run(self, name: str, factory: RoutineFactory) -> None:
        try:
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("routine %s failed", name)
