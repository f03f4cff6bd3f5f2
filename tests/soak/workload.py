"""The soak's mixed workload: KV registers, write-once keys, locks and sessions, catalog.

Worker threads send every request to a random agent (servers and clients
alike) and record what they saw.  An outcome is ``ok`` (2xx, or a 404 read),
``fail`` (never sent, or a 4xx: it did not happen) or ``info`` (a 5xx, a
timeout or a connection lost after sending: it may have happened, now or
later).  Each worker stops after ``ops`` operations or at ``deadline``.

* KV workers: consistent read, write, CAS and delete on a few register keys
  (recorded as :class:`~tests.support.linearizability.Op`; a delete is a write
  of None), and write-once keys for the survival check.
* Lock workers: create a session (lock-delay 1 s), acquire a lock key, confirm
  the hold with consistent reads, release, destroy the session
  (:class:`~tests.soak.checks.Hold`).
* Catalog workers: register a fresh node with a service, and most times
  deregister it (:class:`~tests.soak.checks.CatalogPair`).
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.soak.checks import CatalogPair, Hold
from tests.support.linearizability import Op

ONCE_PREFIX = "soak/once/"
LOCK_DELAY = "1s"


@dataclass
class Reply:
    status: str                 # ok | fail | info
    code: int = 0
    body: bytes = b""

    def json(self):
        return json.loads(self.body)

    @property
    def true(self) -> bool:
        return self.status == "ok" and self.body.strip() == b"true"


def request(address: tuple[str, int], method: str, path: str, body: bytes | None = None,
            timeout: float = 3.0) -> Reply:
    """One HTTP request, its outcome classified as ok, fail or info."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError:
            return Reply("fail")
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            code, data = response.status, response.read()
        except (OSError, http.client.HTTPException):
            return Reply("info")
    finally:
        conn.close()
    if code >= 500:
        return Reply("info", code, data)
    return Reply("ok" if code < 400 or code == 404 else "fail", code, data)


@dataclass
class History:
    """Everything one history's workers recorded."""

    kv: list[Op] = field(default_factory=list)
    once: dict[str, str] = field(default_factory=dict)       # acknowledged write-once keys
    holds: list[Hold] = field(default_factory=list)
    catalog: list[CatalogPair] = field(default_factory=list)
    destroyed: set[str] = field(default_factory=set)          # sessions destroyed (acked)
    counts: Counter = field(default_factory=Counter)          # (op, outcome) -> n


class Workload:
    """Worker threads for history ``name`` against ``addresses`` until ``deadline``."""

    def __init__(self, name: str, addresses: list[tuple[str, int]], deadline: float, *,
                 keys: int = 4, locks: int = 2, kv_workers: int = 4, lock_workers: int = 3,
                 catalog_workers: int = 1, ops: int = 2000, timeout: float = 3.0,
                 hold_seconds: tuple[float, float] = (0.2, 1.5),
                 seed: int = 0) -> None:
        self.name, self.addresses, self.deadline = name, addresses, deadline
        self.keys = [f"soak/{name}/r{i}" for i in range(keys)]
        self.locks = [f"soak/{name}/lock{i}" for i in range(locks)]
        self.ops, self.timeout, self.hold_seconds = ops, timeout, hold_seconds
        self.history = History()
        self._mutex = threading.Lock()
        self._processes = kv_workers
        self._next_process = kv_workers
        targets = ([self._kv_worker] * kv_workers + [self._lock_worker] * lock_workers
                   + [self._catalog_worker] * catalog_workers)
        self._threads = [threading.Thread(target=t, args=(n, random.Random(f"{seed}-{n}")),
                                          daemon=True) for n, t in enumerate(targets)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> History:
        for thread in self._threads:
            thread.join()
        return self.history

    # ---- plumbing ---------------------------------------------------------------

    def _running(self, count: int) -> bool:
        return count < self.ops and time.monotonic() < self.deadline

    def _call(self, rng: random.Random, what: str, method: str, path: str,
              body: bytes | None = None) -> Reply:
        reply = request(rng.choice(self.addresses), method, path, body, self.timeout)
        with self._mutex:
            self.history.counts[what, reply.status] += 1
        if reply.status != "ok":
            time.sleep(0.05)  # no hot loop while there is no leader
        return reply

    def _fresh_process(self) -> int:
        with self._mutex:
            self._next_process += 1
            return self._next_process

    def _record(self, op: Op) -> None:
        with self._mutex:
            self.history.kv.append(op)

    # ---- KV -----------------------------------------------------------------------

    def _kv_worker(self, n: int, rng: random.Random) -> None:
        process, count = n, 0
        while self._running(count):
            count += 1
            key = rng.choice(self.keys)
            value = f"{self.name}-p{n}-{count}"
            kind = rng.choices(["read", "write", "cas", "delete", "once"], [4, 3, 3, 1, 2])[0]
            if kind == "once":
                self._once(rng, f"{ONCE_PREFIX}{value}", value)
                continue
            if kind == "read":
                status = self._read(rng, process, key)[0]
            elif kind == "cas":
                status = self._cas(rng, process, key, value)
            else:
                status = self._write(rng, process, key, None if kind == "delete" else value)
            if status == "info":  # its op may still take effect: continue as a new process
                process = self._fresh_process()

    def _read(self, rng, process: int, key: str) -> tuple[str, str | None, int]:
        """Record a consistent read; return (outcome, value, ModifyIndex or 0 if absent)."""
        start = time.monotonic()
        reply = self._call(rng, "kv-read", "GET", f"/v1/kv/{quote(key)}?consistent")
        value, index = None, 0
        if reply.status == "ok" and reply.code == 200:
            entry = reply.json()[0]
            value = base64.b64decode(entry["Value"] or b"").decode()
            index = entry["ModifyIndex"]
        ok = reply.status == "ok"
        self._record(Op(process, "read", key, value, start, time.monotonic() if ok else None,
                        "ok" if ok else "info"))
        return reply.status, value, index

    def _write(self, rng, process: int, key: str, value: str | None) -> str:
        start = time.monotonic()
        if value is None:
            reply = self._call(rng, "kv-delete", "DELETE", f"/v1/kv/{quote(key)}")
        else:
            reply = self._call(rng, "kv-write", "PUT", f"/v1/kv/{quote(key)}", value.encode())
        status = "info" if reply.status == "ok" and not reply.true else reply.status
        self._record(Op(process, "write", key, value, start,
                        None if status == "info" else time.monotonic(), status))
        return status

    def _cas(self, rng, process: int, key: str, value: str) -> str:
        status, expected, index = self._read(rng, process, key)
        if status != "ok":
            return status
        start = time.monotonic()
        reply = self._call(rng, "kv-cas", "PUT", f"/v1/kv/{quote(key)}?cas={index}",
                           value.encode())
        status = reply.status
        self._record(Op(process, "cas", key, (expected, value), start,
                        None if status == "info" else time.monotonic(), status,
                        reply.true if status == "ok" else None))
        return status

    def _once(self, rng, key: str, value: str) -> None:
        reply = self._call(rng, "kv-once", "PUT", f"/v1/kv/{quote(key)}", value.encode())
        if reply.true:
            with self._mutex:
                self.history.once[key] = value

    # ---- sessions and locks ---------------------------------------------------------

    def _lock_worker(self, n: int, rng: random.Random) -> None:
        count = 0
        while self._running(count):
            count += 1
            reply = self._call(rng, "session-create", "PUT", "/v1/session/create",
                               json.dumps({"Name": f"soak-{n}", "LockDelay": LOCK_DELAY,
                                           "Behavior": "release"}).encode())
            if reply.status != "ok" or reply.code != 200:
                continue
            session = reply.json()["ID"]
            lock = rng.choice(self.locks)
            acquire = self._call(rng, "lock-acquire", "PUT",
                                 f"/v1/kv/{quote(lock)}?acquire={session}", f"w{n}".encode())
            if acquire.true:
                hold = Hold(lock, session, time.monotonic())
                with self._mutex:
                    self.history.holds.append(hold)
                self._hold(rng, hold, time.monotonic() + rng.uniform(*self.hold_seconds))
                if not hold.lost:
                    self._call(rng, "lock-release", "PUT",
                               f"/v1/kv/{quote(lock)}?release={session}", b"")
            destroy = self._call(rng, "session-destroy", "PUT",
                                 f"/v1/session/destroy/{session}")
            if destroy.true:
                with self._mutex:
                    self.history.destroyed.add(session)
            elif not acquire.true:
                time.sleep(0.05)

    def _hold(self, rng, hold: Hold, until: float) -> None:
        """Confirm the hold with consistent reads until ``until`` or until it is lost."""
        while time.monotonic() < until:
            start = time.monotonic()
            reply = self._call(rng, "lock-confirm", "GET", f"/v1/kv/{quote(hold.lock)}?consistent")
            if reply.status == "ok":
                entry = reply.json()[0] if reply.code == 200 else {}
                if not hold.confirm(start, entry.get("Session", ""), entry.get("LockIndex", 0)):
                    return
            time.sleep(rng.uniform(0.05, 0.2))

    # ---- catalog ----------------------------------------------------------------------

    def _catalog_worker(self, n: int, rng: random.Random) -> None:
        count = 0
        while self._running(count):
            count += 1
            node = f"soak-{self.name}-n{n}-{count}"
            body = {"Node": node, "Address": "192.0.2.1",
                    "Service": {"Service": "soak", "ID": f"soak-{count}", "Port": 8000 + n}}
            reply = self._call(rng, "catalog-register", "PUT", "/v1/catalog/register",
                               json.dumps(body).encode())
            pair = CatalogPair(node, "info" if reply.status == "ok" and not reply.true
                               else reply.status)
            with self._mutex:
                self.history.catalog.append(pair)
            if rng.random() < 0.6:
                reply = self._call(rng, "catalog-deregister", "PUT", "/v1/catalog/deregister",
                                   json.dumps({"Node": node}).encode())
                pair.deregister = ("info" if reply.status == "ok" and not reply.true
                                   else reply.status)
