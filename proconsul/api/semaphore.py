"""Up to N holders on a KV prefix, as Consul's ``api.Semaphore``.

Each contender writes ``<prefix>/<session>`` (acquired by its session); the
``<prefix>/.lock`` key holds ``{"Limit": N, "Holders": {session: true}}`` and
is updated with check-and-set. Holders whose contender key is gone are pruned.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from proconsul.api.kv import KVPair
from proconsul.api.lock import (
    DEFAULT_MONITOR_RETRY_TIME,
    Holder,
    LockError,
    SessionHolder,
    wait_remaining,
)
from proconsul.api.options import QueryOptions

SEMAPHORE_FLAG_VALUE = 0xE0F69A2BAA414DE0
DEFAULT_SESSION_NAME = "Consul API Semaphore"
DEFAULT_SESSION_TTL = "15s"
DEFAULT_WAIT_TIME = 15.0
LOCK_KEY = ".lock"


class SemaphoreError(LockError):
    pass


@dataclass
class SemaphoreOptions:
    prefix: str
    limit: int
    value: bytes = b""
    session: str = ""
    session_name: str = DEFAULT_SESSION_NAME
    session_ttl: str = DEFAULT_SESSION_TTL
    monitor_retries: int = 0
    monitor_retry_time: float = DEFAULT_MONITOR_RETRY_TIME
    semaphore_wait_time: float = DEFAULT_WAIT_TIME
    semaphore_try_once: bool = False


def join(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}" if prefix else name


class Semaphore(Holder):
    def __init__(self, client, opts: SemaphoreOptions) -> None:
        if opts.limit <= 0:
            raise ValueError("semaphore limit must be positive")
        self.client = client
        self.opts = opts
        self.kv = client.kv()
        self.lock_key = join(opts.prefix, LOCK_KEY)
        self.held = False
        self.session = ""
        self._owned: SessionHolder | None = None
        self._monitor_stop = threading.Event()

    def _flagged(self, pair: KVPair | None) -> KVPair | None:
        if pair is not None and pair.flags != SEMAPHORE_FLAG_VALUE:
            raise SemaphoreError("Existing key does not match semaphore use")
        return pair

    def _state(self, pairs: list[KVPair]) -> tuple[dict, int]:
        """The decoded lock entry, pruned of dead holders, and its ModifyIndex."""
        lock_pair = self._flagged(next((p for p in pairs if p.key == self.lock_key), None))
        if lock_pair is None:
            state, index = {"Limit": self.opts.limit, "Holders": {}}, 0
        else:
            try:
                state, index = json.loads(lock_pair.value), lock_pair.modify_index
            except ValueError:
                raise SemaphoreError("Failed to decode semaphore lock") from None
        alive = {p.key[len(self.opts.prefix.rstrip("/")) + 1:]: p.session for p in pairs}
        state["Holders"] = {h: True for h in state.get("Holders") or {} if alive.get(h) == h}
        return state, index

    def _write(self, state: dict, index: int) -> bool:
        pair = KVPair(self.lock_key, json.dumps(state, separators=(",", ":")).encode(),
                      SEMAPHORE_FLAG_VALUE, modify_index=index)
        return self.kv.cas(pair)[0]

    def acquire(self, stop: threading.Event | None = None) -> threading.Event | None:
        """Block until a slot is held; return an event set if it is lost (None if stopped)."""
        if self.held:
            raise SemaphoreError("Semaphore already held")
        stop = stop or threading.Event()
        self._open_session()
        try:
            contender = KVPair(join(self.opts.prefix, self.session), self.opts.value,
                               SEMAPHORE_FLAG_VALUE, session=self.session)
            if not self.kv.acquire(contender)[0]:
                raise SemaphoreError("failed to make contender entry")
            lost = self._wait_for_slot(stop)
        except BaseException:
            self._drop_session()
            raise
        if lost is None:
            self._cleanup_contender()
        return lost

    def _wait_for_slot(self, stop: threading.Event) -> threading.Event | None:
        q = QueryOptions(wait_time=self.opts.semaphore_wait_time)
        started, attempts = time.monotonic(), 0
        while not stop.is_set():
            wait = wait_remaining(self.opts.semaphore_wait_time, self.opts.semaphore_try_once,
                                  started, attempts)
            if wait is None:
                return None
            q.wait_time = wait
            attempts += 1
            pairs, meta = self.kv.list(self.opts.prefix, q)
            state, index = self._state(pairs)
            if state["Limit"] != self.opts.limit:
                raise SemaphoreError(f"semaphore limit conflict (lock: {state['Limit']}, "
                                     f"local: {self.opts.limit})")
            if len(state["Holders"]) >= state["Limit"]:
                q.wait_index = meta.next_index(q.wait_index)
                continue
            state["Holders"][self.session] = True
            if self._write(state, index):
                return self._held()
        return None

    def _check_hold(self, session: str, q: QueryOptions) -> tuple[bool, Any]:
        pairs, meta = self.kv.list(self.opts.prefix, q)
        try:
            state, _ = self._state(pairs)
        except SemaphoreError:
            return False, meta
        return session in state["Holders"], meta

    def release(self) -> None:
        if not self.held:
            raise SemaphoreError("Semaphore not held")
        self.held = False
        self._monitor_stop.set()
        try:
            while True:
                pair = self._flagged(self.kv.get(self.lock_key)[0])
                if pair is None:
                    break
                state = json.loads(pair.value)
                if self.session not in (state.get("Holders") or {}):
                    break
                del state["Holders"][self.session]
                if self._write(state, pair.modify_index):
                    break
        finally:
            self._cleanup_contender()

    def _cleanup_contender(self) -> None:
        try:
            self.kv.delete(join(self.opts.prefix, self.session))
        finally:
            self._drop_session()

    def destroy(self) -> None:
        """Delete the semaphore's lock key if no live holder remains."""
        if self.held:
            raise SemaphoreError("Semaphore already held")
        pairs, _ = self.kv.list(self.opts.prefix)
        lock_pair = self._flagged(next((p for p in pairs if p.key == self.lock_key), None))
        if lock_pair is None:
            return
        state, _ = self._state(pairs)
        if state["Holders"]:
            raise SemaphoreError("Semaphore in use")
        if not self.kv.delete_cas(lock_pair)[0]:
            raise SemaphoreError("Semaphore in use")
