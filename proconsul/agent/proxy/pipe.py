"""Copy bytes both ways between two stream pairs, with bounded buffers.

Each direction reads at most ``CHUNK`` bytes and waits for the other side's
transport to drain below its high-water mark before reading again, so a slow
peer holds back its sender instead of growing memory. An end of stream is
passed on as a half-close where the other transport can do one (plain TCP);
where it cannot (TLS), the connection as a whole is closed, as Consul's
built-in proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024  # bytes a transport may buffer before the copy waits for it


@dataclass
class Traffic:
    """Bytes moved: ``sent`` from the first pair to the second, ``received`` back."""

    sent: int = 0
    received: int = 0


def bound(writer: asyncio.StreamWriter) -> None:
    """Cap what ``writer``'s transport buffers before ``drain`` waits."""
    with contextlib.suppress(AttributeError, NotImplementedError):
        writer.transport.set_write_buffer_limits(high=HIGH_WATER)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                traffic: Traffic, outbound: bool) -> bool:
    """Copy until end of stream; True if the end was passed on as a half-close."""
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        writer.write(data)
        if outbound:
            traffic.sent += len(data)
        else:
            traffic.received += len(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
        return True
    return False


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> Traffic:
    """Copy ``a`` → ``b`` and ``b`` → ``a`` until both ends are done (or one end
    cannot be half-closed, or either side fails); close both and count the bytes."""
    traffic = Traffic()
    for _, writer in (a, b):
        bound(writer)
    forward = asyncio.ensure_future(_copy(a[0], b[1], traffic, True))
    backward = asyncio.ensure_future(_copy(b[0], a[1], traffic, False))
    pending = {forward, backward}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None or not task.result():
                    pending = _cancel(pending)
    finally:
        for task in (forward, backward):
            task.cancel()
        await asyncio.gather(forward, backward, return_exceptions=True)
        for _, writer in (a, b):
            close(writer)
    return traffic


def _cancel(tasks: set[asyncio.Future]) -> set[asyncio.Future]:
    for task in tasks:
        task.cancel()
    return set()


def close(writer: asyncio.StreamWriter) -> None:
    """Close without waiting: an abort if TLS shutdown cannot proceed is fine here."""
    with contextlib.suppress(Exception):
        writer.close()
