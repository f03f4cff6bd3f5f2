"""Remote exec, the agent side of ``consul exec`` (only when ``disable_remote_exec`` is
false; Consul's default, and ours, is true).

A ``_rexec`` user event carries ``{"Prefix", "Session"}``. The job spec waits in KV
at ``PREFIX/SESSION/job`` (``Command`` for the shell, or ``Args`` run directly, or a
``Script``; ``Wait`` in nanoseconds). The agent writes, each with a lock on the
session so nothing lands once the session is gone: ``PREFIX/SESSION/NODE/ack``, then
the merged stdout and stderr in chunks of at most 4 KiB as ``NODE/out/00000``,
``00001``... (a chunk goes up after 500 ms without more output; an empty one is a
heartbeat after ``Wait`` of silence), and last ``NODE/exit`` with the exit code
(255 when the command could not run).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import posixpath
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from proconsul.structs.kv import DirEntry, KVOp, KVSRequest
from proconsul.structs.requests import KeyRequest

log = logging.getLogger("proconsul.agent.remote_exec")

EVENT_NAME = "_rexec"
CHUNK_SIZE = 4 * 1024
CHUNK_IDLE = 0.5
CANNOT_RUN = 255


class RemoteExecError(Exception):
    """The job could not be read or a result could not be written."""


@dataclass
class Spec:
    """A job as ``consul exec`` uploads it."""

    command: str = ""
    args: list[str] = field(default_factory=list)
    script: bytes = b""
    wait: float = 2.0  # seconds of silence before a heartbeat

    @classmethod
    def decode(cls, raw: bytes) -> Spec:
        try:
            data = json.loads(raw)
            return cls(command=str(data.get("Command") or ""),
                       args=[str(a) for a in data.get("Args") or []],
                       script=base64.b64decode(data.get("Script") or ""),
                       wait=max(int(data.get("Wait") or 0) / 1e9, 0.05))
        except (ValueError, TypeError, AttributeError) as err:
            raise RemoteExecError(f"failed to decode remote exec spec: {err}") from None


def parse_event(payload: bytes | None) -> tuple[str, str]:
    """(prefix, session) of a ``_rexec`` event's JSON payload."""
    try:
        data = json.loads(payload or b"")
        return str(data["Prefix"]), str(data["Session"])
    except (ValueError, TypeError, KeyError) as err:
        raise RemoteExecError(f"failed to decode remote exec event: {err}") from None


class RemoteExecJob:
    """One node's run of one remote exec job, reporting through KV."""

    def __init__(self, prefix: str, session: str, node: str, datacenter: str,
                 rpc: Callable[[str, Any], Awaitable[Any]], token: Callable[[], str]) -> None:
        self.prefix, self.session, self.node = prefix, session, node
        self.datacenter, self._rpc, self._token = datacenter, rpc, token

    async def run(self) -> None:
        """The whole job; never raises (a failed job is logged, and must not be re-run)."""
        try:
            spec = await self._spec()
            await self._write("ack", None)
        except RemoteExecError as err:
            log.error("remote exec %s: %s", self.session, err)
            return
        except Exception:  # noqa: BLE001 - a job must end here, not be restarted
            log.exception("remote exec %s failed before it ran", self.session)
            return
        code = CANNOT_RUN
        try:
            code = await self._execute(spec)
        except RemoteExecError as err:
            log.error("remote exec %s: %s", self.session, err)
        except Exception:  # noqa: BLE001
            log.exception("remote exec %s failed", self.session)
        try:
            await self._write("exit", str(code).encode())
        except Exception as err:  # noqa: BLE001
            log.error("remote exec %s: failed to write exit code: %s", self.session, err)

    async def _spec(self) -> Spec:
        key = posixpath.join(self.prefix, self.session, "job")
        for stale in (True, False):  # a stale read first, for scale; then a consistent one
            req = KeyRequest(Datacenter=self.datacenter, Key=key, AllowStale=stale,
                             Token=self._token())
            reply = await self._rpc("KVS.Get", req)
            if reply.Entries:
                return Spec.decode(reply.Entries[0].Value or b"")
        raise RemoteExecError("remote exec aborted, job spec missing")

    async def _write(self, suffix: str, value: bytes | None) -> None:
        key = posixpath.join(self.prefix, self.session, self.node, suffix)
        req = KVSRequest(Op=KVOp.LOCK, Datacenter=self.datacenter, Token=self._token(),
                         DirEnt=DirEntry(Key=key, Value=value, Session=self.session))
        if not await self._rpc("KVS.Apply", req):
            raise RemoteExecError(f"failed to write {key}: write failed")

    async def _execute(self, spec: Spec) -> int:
        with contextlib.ExitStack() as stack:
            if spec.args:
                argv = spec.args
            else:
                script = spec.command
                if spec.script:
                    script = self._spill(spec.script)
                    stack.callback(os.remove, script)
                argv = ["/bin/sh", "-c", script]
            log.info("remote exec '%s'", " ".join(argv))
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
            except OSError as err:
                log.error("remote exec %s: failed to start: %s", self.session, err)
                return CANNOT_RUN
            try:
                await self._stream(proc.stdout, spec.wait)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise
            code = await proc.wait()
            return code if code >= 0 else -1  # killed by a signal: Go's ExitStatus() is -1

    @staticmethod
    def _spill(script: bytes) -> str:
        fd, path = tempfile.mkstemp(prefix="rexec")
        with os.fdopen(fd, "wb") as f:
            f.write(script)
        os.chmod(path, 0o750)
        return path

    async def _stream(self, output: asyncio.StreamReader, wait: float) -> None:
        """Upload the output as it comes: full chunks at once, a partial one after
        ``CHUNK_IDLE`` of quiet, an empty one (heartbeat) after ``wait`` of silence."""
        num, pending = 0, bytearray()
        while True:
            try:
                data = await asyncio.wait_for(output.read(CHUNK_SIZE),
                                              CHUNK_IDLE if pending else wait)
            except TimeoutError:
                await self._write(f"out/{num:05x}", bytes(pending) or None)
                num, pending = num + 1, bytearray()
                continue
            if not data:
                break
            pending += data
            while len(pending) >= CHUNK_SIZE:
                await self._write(f"out/{num:05x}", bytes(pending[:CHUNK_SIZE]))
                num, pending = num + 1, pending[CHUNK_SIZE:]
        if pending:
            await self._write(f"out/{num:05x}", bytes(pending))
