"""The snapshot endpoint: save streams the archive into a file, restore streams one up.

Neither holds the archive in memory; ``progress(n)`` is told of every block moved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from proconsul.api.errors import APIError
from proconsul.api.options import QueryMeta, QueryOptions, WriteOptions

if TYPE_CHECKING:
    from proconsul.api.client import Client

BLOCK = 1 << 20
Progress = Callable[[int], None]


class _Counting:
    """A file whose reads are reported to ``progress``."""

    def __init__(self, source: BinaryIO, progress: Progress) -> None:
        self._source = source
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._progress(len(data))
        return data


class Snapshot:
    def __init__(self, client: Client) -> None:
        self.c = client

    def save(self, sink: BinaryIO, q: QueryOptions | None = None,
             progress: Progress | None = None) -> QueryMeta:
        """Write the servers' snapshot archive into ``sink``; its ``last_index`` is the
        snapshot's raft index."""
        q = q or QueryOptions()
        c = self.c
        started = time.monotonic()
        path = c._path("/v1/snapshot", c._defaults(q.params(), q.datacenter))
        conn, reply = c.transport.stream("GET", path, c._headers(q.token))
        try:
            if reply.status != 200:
                raise APIError(reply.status, reply.read().decode(errors="replace"))
            meta = QueryMeta.from_headers(dict(reply.getheaders()), time.monotonic() - started)
            while data := reply.read(BLOCK):
                sink.write(data)
                if progress is not None:
                    progress(len(data))
        finally:
            conn.close()
        return meta

    def restore(self, source: BinaryIO, w: WriteOptions | None = None,
                progress: Progress | None = None) -> None:
        """Send the archive in ``source`` (a file, read from its current position)."""
        w = w or WriteOptions()
        c = self.c
        size = os.fstat(source.fileno()).st_size - source.tell()
        headers = {**c._headers(w.token), "Content-Type": "application/octet-stream",
                   "Content-Length": str(size)}
        body = _Counting(source, progress) if progress is not None else source
        path = c._path("/v1/snapshot", c._defaults(w.params(), w.datacenter))
        conn, reply = c.transport.stream("PUT", path, headers, body)  # type: ignore[arg-type]
        try:
            text = reply.read().decode(errors="replace")
            if reply.status != 200:
                raise APIError(reply.status, text)
        finally:
            conn.close()
