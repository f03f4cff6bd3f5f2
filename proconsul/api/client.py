"""The synchronous client: one agent address, JSON in and out, Consul's headers."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import urllib.parse
from typing import Any

from proconsul.api.config import Config
from proconsul.api.errors import APIError
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions
from proconsul.api.transport import Response, Transport


class Client:
    """Talks to one agent; endpoint groups hang off it as in Consul's Go ``api.Client``."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config.from_env()
        self.transport = Transport(self.config)
        self._token = self.config.effective_token()

    # -- endpoint groups -------------------------------------------------
    def kv(self):
        from proconsul.api.kv import KV
        return KV(self)

    def catalog(self):
        from proconsul.api.catalog import Catalog
        return Catalog(self)

    def health(self):
        from proconsul.api.health import Health
        return Health(self)

    def agent(self):
        from proconsul.api.agent import Agent
        return Agent(self)

    def session(self):
        from proconsul.api.session import Session
        return Session(self)

    def txn(self):
        from proconsul.api.txn import Txn
        return Txn(self)

    def event(self):
        from proconsul.api.event import Event
        return Event(self)

    def status(self):
        from proconsul.api.status import Status
        return Status(self)

    def coordinate(self):
        from proconsul.api.coordinate import Coordinate
        return Coordinate(self)

    def operator(self):
        from proconsul.api.operator import Operator
        return Operator(self)

    def connect(self):
        from proconsul.api.connect import Connect
        return Connect(self)

    def prepared_query(self):
        from proconsul.api.prepared_query import PreparedQuery
        return PreparedQuery(self)

    def snapshot(self):
        from proconsul.api.snapshot import Snapshot
        return Snapshot(self)

    def acl(self):
        from proconsul.api.acl import ACL
        return ACL(self)

    def peerings(self):
        from proconsul.api.peering import Peerings
        return Peerings(self)

    # -- requests --------------------------------------------------------
    def _path(self, path: str, params: list[tuple[str, str]]) -> str:
        quoted = urllib.parse.quote(path, safe="/:@")
        if not params:
            return quoted
        parts = [urllib.parse.quote(k, safe="") + ("=" + urllib.parse.quote(v, safe="")
                                                   if v != "" else "") for k, v in params]
        return quoted + "?" + "&".join(parts)

    def _headers(self, token: str) -> dict[str, str]:
        headers = {}
        token = token or self._token
        if token:
            headers["X-Consul-Token"] = token
        if self.config.http_auth:
            raw = ":".join(self.config.http_auth).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return headers

    def _defaults(self, params: list[tuple[str, str]], opts_dc: str) -> list[tuple[str, str]]:
        out = list(params)
        if not opts_dc and self.config.datacenter:
            out.insert(0, ("dc", self.config.datacenter))
        if self.config.namespace and not any(k == "ns" for k, _ in out):
            out.append(("ns", self.config.namespace))
        if self.config.partition and not any(k == "partition" for k, _ in out):
            out.append(("partition", self.config.partition))
        return out

    def raw(self, method: str, path: str, params: list[tuple[str, str]] | None = None,
            body: bytes | None = None, token: str = "") -> tuple[Response, float]:
        """Send one request; return the reply (any status) and the time it took."""
        started = time.monotonic()
        headers = self._headers(token)
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        reply = self.transport.request(method, self._path(path, params or []), body, headers)
        return reply, time.monotonic() - started

    def query_raw(self, path: str, q: QueryOptions | None = None,
                  params: list[tuple[str, str]] | None = None,
                  ok: tuple[int, ...] = (200,)) -> tuple[Response, QueryMeta]:
        q = q or QueryOptions()
        all_params = self._defaults(q.params() + (params or []), q.datacenter)
        reply, took = self.raw("GET", path, all_params, token=q.token)
        if reply.status not in ok:
            raise APIError(reply.status, reply.body.decode(errors="replace"))
        return reply, QueryMeta.from_headers(reply.headers, took)

    def query(self, path: str, q: QueryOptions | None = None,
              params: list[tuple[str, str]] | None = None) -> tuple[Any, QueryMeta]:
        """GET ``path`` and decode its JSON body."""
        reply, meta = self.query_raw(path, q, params)
        return decode(reply.body), meta

    def write(self, method: str, path: str, body: Any = None, w: WriteOptions | None = None,
              params: list[tuple[str, str]] | None = None, raw_body: bytes | None = None,
              ok: tuple[int, ...] = (200,)) -> tuple[Any, WriteMeta]:
        """PUT/POST/DELETE ``path`` with a JSON (or raw) body; decode the JSON reply."""
        w = w or WriteOptions()
        data = raw_body if raw_body is not None else (
            None if body is None else json.dumps(body).encode())
        reply, took = self.raw(method, path, self._defaults(w.params() + (params or []),
                                                            w.datacenter), data, w.token)
        if reply.status not in ok:
            raise APIError(reply.status, reply.body.decode(errors="replace"))
        return decode(reply.body), WriteMeta(took)

    def stream(self, path: str, params: list[tuple[str, str]], token: str = "",
               for_seconds: float | None = None):
        """GET a streaming endpoint; yield its body line by line until the agent ends it
        (or, with ``for_seconds``, until that long has passed)."""
        conn, reply = self.transport.stream("GET", self._path(path, self._defaults(params, "")),
                                            self._headers(token))
        timer, hung = None, threading.Event()
        if for_seconds is not None:
            timer = threading.Timer(for_seconds, _hang_up, (conn, hung))
            timer.daemon = True
            timer.start()
        try:
            if reply.status != 200:
                raise APIError(reply.status, reply.read().decode(errors="replace"))
            while line := reply.readline():
                yield line.decode(errors="replace")
        except (OSError, http.client.HTTPException, ValueError):
            if not hung.is_set():
                raise
        finally:
            if timer is not None:
                timer.cancel()
            conn.close()

    def close(self) -> None:
        self.transport.close()


def _hang_up(conn: http.client.HTTPConnection, hung: threading.Event) -> None:
    """End a stream from another thread: a blocked read returns."""
    hung.set()
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def decode(body: bytes) -> Any:
    return json.loads(body) if body.strip() else None
