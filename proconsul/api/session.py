"""``/v1/session``: Consul's ``api.Session``, including periodic renewal."""

from __future__ import annotations

import threading
import time
from typing import Any

from proconsul.api.errors import APIError, ClientError
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions

BEHAVIOR_RELEASE = "release"
BEHAVIOR_DELETE = "delete"


def parse_duration(text: str) -> float:
    """A Go duration string (``15s``, ``1m30s``, ``250ms``) in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if text.startswith(u, i)),
                    None)
        if unit is None or not number:
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise ValueError(f"time: missing unit in duration {text!r}")
    return total


class Session:
    def __init__(self, client) -> None:
        self.c = client

    def create(self, entry: dict[str, Any] | None = None,
               w: WriteOptions | None = None) -> tuple[str, WriteMeta]:
        reply, meta = self.c.write("PUT", "/v1/session/create", entry or {}, w)
        return reply["ID"], meta

    def create_no_checks(self, entry: dict[str, Any] | None = None,
                         w: WriteOptions | None = None) -> tuple[str, WriteMeta]:
        body = dict(entry or {})
        body.setdefault("NodeChecks", [])
        body.setdefault("Checks", [])
        return self.create(body, w)

    def destroy(self, session_id: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("PUT", f"/v1/session/destroy/{session_id}", w=w)[1]

    def renew(self, session_id: str, w: WriteOptions | None = None) -> dict | None:
        """The renewed session, or None when it no longer exists."""
        try:
            entries, _ = self.c.write("PUT", f"/v1/session/renew/{session_id}", w=w)
        except APIError as err:
            if err.status == 404:
                return None
            raise
        return entries[0] if entries else None

    def renew_periodic(self, ttl: str, session_id: str, stop: threading.Event,
                       w: WriteOptions | None = None) -> None:
        """Renew every TTL/2 until ``stop`` is set; destroy the session then.

        Returns early if the session is gone; transient errors are retried until
        the TTL would have run out (as Consul's ``RenewPeriodic``).
        """
        period = parse_duration(ttl) / 2
        wait = period
        failing_since: float | None = None
        while not stop.wait(wait):
            try:
                if self.renew(session_id, w) is None:
                    return
                wait, failing_since = period, None
            except ClientError:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > period * 2:
                    return
                wait = 1.0
        try:
            self.destroy(session_id, w)
        except ClientError:
            pass  # best effort on shutdown, as Consul does

    def info(self, session_id: str,
             q: QueryOptions | None = None) -> tuple[dict | None, QueryMeta]:
        entries, meta = self.c.query(f"/v1/session/info/{session_id}", q)
        return (entries[0] if entries else None), meta

    def node(self, node: str, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/session/node/{node}", q)

    def list(self, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query("/v1/session/list", q)
