"""Leader election on one KV key, as Consul's ``api.Lock``.

``lock()`` creates a session (renewed in a background thread), acquires the
key and returns an event that is set if the lock is later lost; a monitor
thread watches the key with blocking queries.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from proconsul.api.errors import APIError, ClientError
from proconsul.api.kv import KVPair
from proconsul.api.options import QueryOptions

LOCK_FLAG_VALUE = 0x2DDCCBC058A50C18
DEFAULT_SESSION_NAME = "Consul API Lock"
DEFAULT_SESSION_TTL = "15s"
DEFAULT_WAIT_TIME = 15.0
DEFAULT_RETRY_TIME = 5.0
DEFAULT_MONITOR_RETRY_TIME = 2.0


class LockError(Exception):
    pass


class LockHeld(LockError):
    def __init__(self) -> None:
        super().__init__("Lock already held")


class LockNotHeld(LockError):
    def __init__(self) -> None:
        super().__init__("Lock not held")


class LockInUse(LockError):
    def __init__(self) -> None:
        super().__init__("Lock in use")


class LockConflict(LockError):
    def __init__(self) -> None:
        super().__init__("Existing key does not match lock use")


@dataclass
class LockOptions:
    key: str
    value: bytes = b""
    session: str = ""
    session_name: str = DEFAULT_SESSION_NAME
    session_ttl: str = DEFAULT_SESSION_TTL
    monitor_retries: int = 0
    monitor_retry_time: float = DEFAULT_MONITOR_RETRY_TIME
    lock_wait_time: float = DEFAULT_WAIT_TIME
    lock_try_once: bool = False


def retryable(err: ClientError) -> bool:
    """Errors the monitor rides out: a 500 from the agent (e.g. no leader for a moment)."""
    return isinstance(err, APIError) and err.status == 500


class SessionHolder:
    """A session created for a lock or semaphore, renewed until released."""

    def __init__(self, client, name: str, ttl: str) -> None:
        self.client = client
        self.ttl = ttl
        self.id, _ = client.session().create({"Name": name, "TTL": ttl})
        self.stop = threading.Event()
        self.thread = threading.Thread(target=client.session().renew_periodic,
                                       args=(ttl, self.id, self.stop), daemon=True)
        self.thread.start()

    def release(self) -> None:
        """Stop renewing and destroy the session."""
        self.stop.set()
        self.thread.join()


def wait_remaining(opts_wait: float, try_once: bool, started: float, attempts: int) -> float | None:
    """The wait for the next query; None when a single attempt has used up its time."""
    if not try_once or attempts == 0:
        return opts_wait
    remaining = opts_wait - (time.monotonic() - started)
    return remaining if remaining > 0 else None


class Holder:
    """What Lock and Semaphore share: the session, and a thread that notices a lost hold.

    Subclasses say whether ``session`` still holds, with a blocking read:
    ``_check_hold(session, query) -> (held, meta)``.
    """

    def _held(self) -> threading.Event:
        self.held = True
        lost = threading.Event()
        self._monitor_stop = threading.Event()
        threading.Thread(target=self._monitor, args=(self.session, lost, self._monitor_stop),
                         daemon=True).start()
        return lost

    def _monitor(self, session: str, lost: threading.Event, stop: threading.Event) -> None:
        q = QueryOptions(require_consistent=True)
        retries = self.opts.monitor_retries
        while not stop.is_set():
            try:
                held, meta = self._check_hold(session, q)
            except ClientError as err:
                if retries > 0 and retryable(err):
                    retries -= 1
                    stop.wait(self.opts.monitor_retry_time)
                    continue
                break
            if not held:
                break
            retries = self.opts.monitor_retries
            q.wait_index = meta.next_index(q.wait_index)
        lost.set()

    def _open_session(self) -> None:
        """Use the caller's session, or create one this holder owns (and later destroys)."""
        if self.opts.session:
            self.session = self.opts.session
        else:
            self._owned = SessionHolder(self.client, self.opts.session_name,
                                        self.opts.session_ttl)
            self.session = self._owned.id

    def _drop_session(self) -> None:
        if self._owned is not None:
            self._owned.release()
            self._owned = None


class Lock(Holder):
    def __init__(self, client, opts: LockOptions) -> None:
        self.client = client
        self.opts = opts
        self.kv = client.kv()
        self.held = False
        self.session = ""
        self._owned: SessionHolder | None = None
        self._monitor_stop = threading.Event()

    def lock(self, stop: threading.Event | None = None) -> threading.Event | None:
        """Block until the lock is held; return an event set when it is lost.

        Returns None when ``stop`` is set or a single attempt (``lock_try_once``)
        runs out of time.
        """
        if self.held:
            raise LockHeld()
        stop = stop or threading.Event()
        self._open_session()
        try:
            lost = self._acquire(stop)
        except BaseException:
            self._drop_session()
            raise
        if lost is None:
            self._drop_session()
        return lost

    def _acquire(self, stop: threading.Event) -> threading.Event | None:
        q = QueryOptions(wait_time=self.opts.lock_wait_time)
        started, attempts = time.monotonic(), 0
        while not stop.is_set():
            wait = wait_remaining(self.opts.lock_wait_time, self.opts.lock_try_once, started,
                                  attempts)
            if wait is None:
                return None
            q.wait_time = wait
            attempts += 1
            pair, meta = self.kv.get(self.opts.key, q)
            if pair is not None and pair.flags != LOCK_FLAG_VALUE:
                raise LockConflict()
            if pair is not None and pair.session == self.session:
                return self._held()
            if pair is not None and pair.session:
                q.wait_index = meta.next_index(q.wait_index)
                continue
            candidate = KVPair(self.opts.key, self.opts.value, LOCK_FLAG_VALUE,
                               session=self.session)
            locked, _ = self.kv.acquire(candidate)
            if locked:
                return self._held()
            # Not acquired: held by another session (wait on the key), or a lock-delay.
            q.wait_index = 0
            pair, meta = self.kv.get(self.opts.key, q)
            if pair is not None and pair.session:
                q.wait_index = meta.next_index(0)
            elif stop.wait(DEFAULT_RETRY_TIME):
                return None
        return None

    def _check_hold(self, session: str, q: QueryOptions) -> tuple[bool, Any]:
        pair, meta = self.kv.get(self.opts.key, q)
        return pair is not None and pair.session == session, meta

    def unlock(self) -> None:
        if not self.held:
            raise LockNotHeld()
        self.held = False
        self._monitor_stop.set()
        try:
            self.kv.release(KVPair(self.opts.key, self.opts.value, LOCK_FLAG_VALUE,
                                   session=self.session))
        finally:
            self._drop_session()

    def destroy(self) -> None:
        """Delete the lock key if nobody holds it (``LockInUse`` otherwise)."""
        if self.held:
            raise LockHeld()
        pair, _ = self.kv.get(self.opts.key)
        if pair is None:
            return
        if pair.flags != LOCK_FLAG_VALUE:
            raise LockConflict()
        if pair.session:
            raise LockInUse()
        removed, _ = self.kv.delete_cas(pair)
        if not removed:
            raise LockInUse()
