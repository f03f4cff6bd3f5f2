"""Supervised background routines: named, cancellable, restarted with backoff when they fail."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from proconsul.lib.metrics import registry as metrics

log = logging.getLogger(__name__)

RoutineFactory = Callable[[], Coroutine[Any, Any, None]]

RESTARTS_METRIC = "consul.proconsul.routine.restarts"
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
STABLE_RUN = 60.0  # a run at least this long resets the backoff


def restart_delay(failures: int, low: float = BACKOFF_MIN, high: float = BACKOFF_MAX) -> float:
    """The wait before restarting after ``failures`` failures in a row: 1 s doubling to 30 s."""
    return min(high, low * 2 ** max(failures - 1, 0))


@dataclass
class RoutineStatus:
    """What ``/v1/agent/self`` shows of one routine."""

    name: str
    running: bool = False
    restarts: int = 0
    last_error: str = ""
    last_error_at: float = 0.0  # epoch seconds; 0 if it never failed

    def to_json(self) -> dict[str, Any]:
        at = datetime.fromtimestamp(self.last_error_at, UTC).isoformat().replace("+00:00", "Z") \
            if self.last_error_at else ""
        return {"Running": self.running, "Restarts": self.restarts,
                "LastError": self.last_error, "LastErrorTime": at}


class InjectedFailure(Exception):
    """Raised in place of a routine's own error by :meth:`RoutineManager.inject_failure`."""


class RoutineManager:
    """Starts routines by name, at most one per name, and supervises them.

    A routine that raises is logged at once (one line; the traceback at debug),
    counted in ``consul.proconsul.routine.restarts`` and started again after a
    backoff (1 s doubling to 30 s, reset after a stable run). A routine that
    returns is done and forgotten; cancelling (:meth:`stop`) is how routines end
    on purpose, for example when leadership is lost.
    """

    def __init__(self, min_backoff: float = BACKOFF_MIN, max_backoff: float = BACKOFF_MAX,
                 stable_run: float = STABLE_RUN) -> None:
        self._min, self._max, self._stable = min_backoff, max_backoff, stable_run
        self._tasks: dict[str, asyncio.Task] = {}
        self._runs: dict[str, asyncio.Task] = {}  # the current run of each routine
        self._status: dict[str, RoutineStatus] = {}

    def start(self, name: str, factory: RoutineFactory, label: str = "") -> bool:
        """Start ``factory()`` as routine ``name``; False if it already runs.

        ``label`` names the routine in the restart metric (default: ``name``);
        give routines started per object (a session, a bucket) one shared label.
        """
        if name in self._tasks and not self._tasks[name].done():
            return False
        self._status[name] = RoutineStatus(name)
        task = asyncio.get_running_loop().create_task(
            self._supervise(name, factory, label or name), name=name)
        self._tasks[name] = task
        return True

    def is_running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def running(self) -> list[str]:
        return sorted(name for name in self._tasks if self.is_running(name))

    def statuses(self) -> list[RoutineStatus]:
        return [self._status[name] for name in sorted(self._status)]

    def inject_failure(self, name: str) -> bool:
        """Make the current run of ``name`` fail now (test hook); False if it is not running."""
        run = self._runs.get(name)
        if run is None or run.done():
            return False
        run.cancel(msg=InjectedFailure.__name__)
        return True

    async def stop(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        self._status.pop(name, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self) -> None:
        for name in list(self._tasks):
            await self.stop(name)

    async def _supervise(self, name: str, factory: RoutineFactory, label: str) -> None:
        def started(run: asyncio.Task) -> None:
            self._runs[name] = run

        try:
            await supervise(name, factory, label=label, status=self._status[name],
                            backoff=(self._min, self._max), stable_run=self._stable,
                            on_run=started)
        finally:
            self._runs.pop(name, None)
            if self._tasks.get(name) is asyncio.current_task():
                del self._tasks[name]
                self._status.pop(name, None)


async def supervise(name: str, factory: RoutineFactory, *, label: str = "",
                    status: RoutineStatus | None = None,
                    backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
                    stable_run: float = STABLE_RUN,
                    on_run: Callable[[asyncio.Task], None] | None = None) -> None:
    """Run ``factory()`` until it returns, restarting it with backoff when it raises.

    Each failure is logged in one line (traceback at debug), counted in
    ``consul.proconsul.routine.restarts`` under ``label`` (default ``name``) and
    recorded in ``status``. Cancel the calling task to stop.
    """
    loop = asyncio.get_running_loop()
    status = status if status is not None else RoutineStatus(name)
    failures = 0
    while True:
        started = loop.time()
        run = loop.create_task(factory())
        if on_run is not None:
            on_run(run)
        error = await _outcome(run, status)
        if error is None:
            return
        failures = 1 if loop.time() - started >= stable_run else failures + 1
        delay = restart_delay(failures, *backoff)
        status.last_error, status.last_error_at = _describe(error), time.time()
        log.error("routine %s failed, restarting in %gs: %s", name, delay, status.last_error)
        log.debug("routine %s failed", name, exc_info=error)
        await asyncio.sleep(delay)
        status.restarts += 1
        metrics.incr_counter(RESTARTS_METRIC, labels={"routine": label or name})


async def _outcome(run: asyncio.Task, status: RoutineStatus) -> BaseException | None:
    """Await one run: its error, or None if it returned."""
    status.running = True
    try:
        await run
    except asyncio.CancelledError as err:
        if asyncio.current_task().cancelling():  # stopped on purpose
            raise
        return InjectedFailure("killed by a test hook") \
            if err.args == (InjectedFailure.__name__,) else err
    except Exception as err:
        return err
    finally:
        status.running = False
    return None


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
