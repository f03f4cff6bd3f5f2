"""Script checks (Consul's CheckMonitor): run a command, map its exit code to a status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from proconsul.agent.checks.base import IntervalRunner, TailBuffer
from proconsul.lib.duration import SECOND, format_duration
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, HEALTH_WARNING

SCRIPTS_DISABLED = ("Scripts are disabled on this agent; to enable, configure "
                    "'enable_script_checks' or 'enable_local_script_checks' to true")
SCRIPTS_DISABLED_REMOTE = ("Scripts are disabled on this agent from remote calls; to enable, "
                           "configure 'enable_script_checks' to true")


class ScriptChecksDisabled(PermissionError):
    """Script checks were requested but the agent does not allow them."""


class ScriptRunner(IntervalRunner):
    """Exit 0 → passing, 1 → warning, anything else → critical.

    stdout and stderr are captured together in a tail buffer of
    ``output_max_size`` bytes. On timeout the whole process group is killed
    and the check goes critical with "Timed out (<timeout>) running check"
    (that report, like set-up failures, bypasses the thresholds as in Consul).
    """

    kind = "script"

    def __init__(self, check_id: str, update: Any, *, args: list[str], shell: str = "",
                 output_max_size: int, **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.args = list(args)
        if shell:  # run the arguments as one shell command line
            self.args = [shell, "-c", " ".join(args)]
        self.output_max_size = output_max_size

    async def probe(self) -> None:
        buffer = TailBuffer(self.output_max_size)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except FileNotFoundError:
            self._notify(HEALTH_CRITICAL, _not_found(self.args[0]))
            return
        except OSError as err:
            self._notify(HEALTH_CRITICAL, f"fork/exec {self.args[0]}: {_strerror(err)}")
            return

        async def collect() -> int:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                buffer.write(chunk)
            return await proc.wait()

        collector = asyncio.ensure_future(collect())
        try:
            code = await asyncio.wait_for(asyncio.shield(collector), self.timeout)
        except TimeoutError:
            _kill_group(proc)
            message = f"Timed out ({format_duration(round(self.timeout * SECOND))}) running check"
            captured = buffer.captured()
            if captured:
                message += "\n\n" + captured
            self._notify(HEALTH_CRITICAL, message)
            # Never start the next run while this one lives: wait for the exit.
            await _reap(proc, collector)
            return
        except asyncio.CancelledError:
            _kill_group(proc)
            await asyncio.shield(_reap(proc, collector))
            raise
        output = buffer.captured()
        if code == 0:
            self.report(HEALTH_PASSING, output)
        elif code == 1:
            self.report(HEALTH_WARNING, output)
        else:
            self.report(HEALTH_CRITICAL, output)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _reap(proc: asyncio.subprocess.Process, collector: asyncio.Future) -> None:
    await proc.wait()
    # A grandchild that escaped the group could keep the pipe open; stop reading.
    if not collector.done():
        try:
            await asyncio.wait_for(asyncio.shield(collector), 1.0)
        except TimeoutError:
            collector.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await collector


def _not_found(program: str) -> str:
    if "/" in program:
        return f"fork/exec {program}: no such file or directory"
    return f'exec: "{program}": executable file not found in $PATH'


def _strerror(err: OSError) -> str:
    return (err.strerror or str(err)).lower()
