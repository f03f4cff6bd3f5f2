"""A TCP proxy that tests can cut: simulated partitions between processes.

The proxy runs its own asyncio loop in a daemon thread, so synchronous and
async tests control it alike.  While *blocked* it forwards nothing in either
direction: existing connections stay open but silent (bytes are held, as a
real partition delays TCP segments until it heals), and new connections are
accepted and held until ``heal``.  ``block(reset=True)`` instead resets every
connection, existing and new, as a crashed host or a firewall REJECT would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading


class FaultProxy:
    """Forward ``address`` to ``target``; ``block``, ``heal`` and ``close`` on demand."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
        self.target = target
        self._reset = False
        self._tasks: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._open, self._server = self._call(self._start(host, port))
        self.address: tuple[str, int] = self._server.sockets[0].getsockname()[:2]

    async def _start(self, host: str, port: int) -> tuple[asyncio.Event, asyncio.Server]:
        is_open = asyncio.Event()
        is_open.set()
        return is_open, await asyncio.start_server(self._accept, host, port)

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def connections(self) -> int:
        """Accepted connections still open."""
        return len(self._tasks)

    def block(self, reset: bool = False) -> None:
        """Stop forwarding; with ``reset``, also reset every connection until healed."""
        async def go():
            self._open.clear()
            self._reset = reset
            if reset:
                self._cancel_all()
        self._call(go())

    def heal(self) -> None:
        async def go():
            self._reset = False
            self._open.set()
        self._call(go())

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def go():
            self._server.close()
            self._cancel_all()
            await self._server.wait_closed()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._call(go())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream = None
        try:
            if self._reset:
                raise asyncio.CancelledError
            await self._open.wait()
            up_reader, upstream = await asyncio.open_connection(*self.target)
            pumps = [asyncio.ensure_future(self._pump(reader, upstream)),
                     asyncio.ensure_future(self._pump(up_reader, writer))]
            try:
                done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
                for pump in done:
                    pump.result()
            finally:
                for pump in pumps:
                    pump.cancel()
        except (asyncio.CancelledError, OSError):
            for end in (writer, upstream):
                if end is not None:
                    _abort(end)
        finally:
            self._tasks.discard(task)
            for end in (writer, upstream):
                if end is not None:
                    end.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        """Copy one direction, holding data while blocked; pass on a half-close."""
        while data := await reader.read(65536):
            await self._open.wait()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
