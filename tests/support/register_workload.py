"""Consul KV keys as registers: concurrent clients recording a checkable history.

Each worker thread loops over random operations on a few keys:

* read:  ``GET /v1/kv/<k>?consistent`` (404 reads as None);
* write: ``PUT /v1/kv/<k>`` with a value no one else writes;
* cas:   a consistent read, recorded as such, then
  ``PUT /v1/kv/<k>?cas=<ModifyIndex>``.  With unique values, "ModifyIndex is
  still m" is the same as "the value is still the one read", so the pair is
  recorded as a value CAS.

Outcomes: 200 is ``ok`` (a CAS answering ``false`` is ``fail``); a failure to
connect, or a 4xx, is ``fail`` (nothing was applied); a 5xx, a timeout or a
lost connection after sending is ``info``.  After any error the worker moves
to the next agent, and after an ``info`` it continues as a new process (its
old op may still be in flight).
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from tests.support.linearizability import Op


class _NotSent(Exception):
    """The request never left: it cannot have taken effect."""


@dataclass
class _Reply:
    status: int
    body: bytes


def _request(address: tuple[str, int], method: str, path: str, body: bytes | None,
             timeout: float) -> _Reply:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            raise _NotSent from exc
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return _Reply(response.status, response.read())
    finally:
        conn.close()


class RegisterWorkload:
    """``workers`` threads issuing ``ops`` operations each (or until ``stop``)."""

    def __init__(self, addresses: list[tuple[str, int]], keys: list[str], *,
                 workers: int = 4, ops: int = 50, timeout: float = 2.0, seed: int = 0):
        self.addresses, self.keys, self.workers = addresses, keys, workers
        self.ops, self.timeout = ops, timeout
        self.history: list[Op] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._worker, args=(n, seed), daemon=True)
                         for n in range(workers)]

    def run(self) -> list[Op]:
        self.start()
        return self.join()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> list[Op]:
        self._stop.set()
        return self.join()

    def join(self) -> list[Op]:
        for thread in self._threads:
            thread.join()
        return self.history

    def _worker(self, n: int, seed: int) -> None:
        rng = random.Random(seed * 1000 + n)
        process, agent = n, n % len(self.addresses)
        for count in range(self.ops):
            if self._stop.is_set():
                return
            key = rng.choice(self.keys)
            kind = rng.choice(["read", "write", "cas"])
            value = f"p{n}-{count}"
            address = self.addresses[agent]
            if kind == "read":
                status = self._read(process, address, key)[0]
            elif kind == "write":
                status = self._write(process, address, key, value)
            else:
                status = self._cas(process, address, key, value)
            if status != "ok":
                agent = (agent + 1) % len(self.addresses)
            if status == "info":
                process += self.workers

    def _record(self, op: Op) -> str:
        with self._lock:
            self.history.append(op)
        return op.status

    def _call(self, address, method: str, path: str, body: bytes | None = None):
        """(status, reply or None), classifying errors as ``fail`` or ``info``."""
        try:
            reply = _request(address, method, path, body, self.timeout)
        except _NotSent:
            return "fail", None
        except (OSError, http.client.HTTPException):
            return "info", None
        if reply.status >= 500:
            return "info", reply
        return ("ok" if reply.status < 400 or reply.status == 404 else "fail"), reply

    def _read(self, process: int, address, key: str) -> tuple[str, str | None, int]:
        """Record a consistent read; return (status, value, ModifyIndex)."""
        start = time.monotonic()
        status, reply = self._call(address, "GET", f"/v1/kv/{quote(key)}?consistent")
        value, index = None, 0
        if status == "ok" and reply.status == 200:
            entry = json.loads(reply.body)[0]
            value = base64.b64decode(entry["Value"] or b"").decode()
            index = entry["ModifyIndex"]
        self._record(Op(process, "read", key, value, start,
                        time.monotonic() if status == "ok" else None,
                        "ok" if status == "ok" else "info"))
        return status, value, index

    def _write(self, process: int, address, key: str, value: str) -> str:
        start = time.monotonic()
        status, reply = self._call(address, "PUT", f"/v1/kv/{quote(key)}", value.encode())
        if status == "ok" and reply.body.strip() != b"true":
            status = "info"
        return self._record(Op(process, "write", key, value, start, _end(status), status))

    def _cas(self, process: int, address, key: str, value: str) -> str:
        status, expected, index = self._read(process, address, key)
        if status != "ok":
            return status
        start = time.monotonic()
        status, reply = self._call(address, "PUT", f"/v1/kv/{quote(key)}?cas={index}",
                                   value.encode())
        if status == "ok" and reply.body.strip() != b"true":
            status = "fail"
        return self._record(Op(process, "cas", key, (expected, value), start, _end(status),
                               status, True if status == "ok" else None))


def _end(status: str) -> float | None:
    return None if status == "info" else time.monotonic()
