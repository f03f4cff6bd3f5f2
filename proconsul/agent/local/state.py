"""Local state: what this agent says runs on its node, and what still needs syncing."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from msgspec.structs import replace

from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_MAINT,
    HEALTH_PASSING,
    HEALTH_WARNING,
    HealthCheck,
    NodeService,
)

NODE_MAINTENANCE_ID = "_node_maintenance"
SERVICE_MAINTENANCE_PREFIX = "_service_maintenance:"


@dataclass(kw_only=True)
class Versioned:
    """Sync bookkeeping: ``version`` moves on every change, ``synced`` is the last
    version the catalog is known to hold, so a change made while a sync RPC is
    under way is never taken as synced."""

    version: int = 0
    synced: int = -1
    failed: int = -1  # the last version whose sync failed (logged once)

    @property
    def in_sync(self) -> bool:
        return self.synced == self.version

    def changed(self) -> None:
        self.version += 1

    def mark_synced(self, version: int) -> None:
        """The catalog now holds ``version`` (the one read when the RPC was built)."""
        self.synced = version

    def mark_in_sync(self, in_sync: bool) -> None:
        """Set from a comparison with the catalog made just now."""
        self.synced = self.version if in_sync else -1


@dataclass
class LocalService(Versioned):
    """A service registered with this agent."""

    service: NodeService
    token: str = ""
    deleted: bool = False
    sidecar_of: str = ""  # parent service ID, tracked here rather than in service meta
    from_config: bool = False


@dataclass
class LocalCheck(Versioned):
    """A check registered with this agent; output-only changes may wait before syncing."""

    check: HealthCheck
    token: str = ""
    deleted: bool = False
    deferred: asyncio.TimerHandle | None = None
    from_config: bool = False
    definition: dict = field(default_factory=dict)


def content_hash(obj: msgspec.Struct) -> str:
    """A short stable hash of a struct's JSON, for hash-based blocking."""
    return hashlib.sha256(msgspec.json.encode(obj)).hexdigest()[:16]


class LocalState:
    """Services and checks by ID, with change notification for blocking readers and sync.

    Every mutation marks the entry out of sync and calls ``on_change`` so
    anti-entropy pushes it to the catalog; readers waiting on
    :meth:`changed` wake.
    """

    def __init__(self, node_name: str, check_update_interval: float = 300.0) -> None:
        self.node_name = node_name
        self.check_update_interval = check_update_interval
        self.services: dict[str, LocalService] = {}
        self.checks: dict[str, LocalCheck] = {}
        self.node_in_sync = False
        self.on_change: Callable[[], None] = lambda: None
        self._changed = asyncio.Event()

    # ---- change notification ------------------------------------------------------

    def changed(self) -> asyncio.Event:
        """An event set at the next change (a fresh one after each change)."""
        return self._changed

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        self.on_change()

    def all_in_sync(self) -> bool:
        """Whether the catalog holds every local change made so far."""
        return self.node_in_sync and all(s.in_sync for s in self.services.values()) and \
            all(c.in_sync for c in self.checks.values())

    # ---- services -----------------------------------------------------------------

    def add_service(self, service: NodeService, token: str = "", sidecar_of: str = "",
                    from_config: bool = False) -> None:
        self.services[service.ID] = LocalService(service, token, sidecar_of=sidecar_of,
                                                 from_config=from_config)
        self._notify()

    def remove_service(self, service_id: str) -> list[str]:
        """Mark a service and its checks deleted (and its sidecar); returns removed IDs."""
        local = self.services.get(service_id)
        if local is None or local.deleted:
            return []
        removed = [service_id]
        local.deleted = True
        local.changed()
        for check_id, check in list(self.checks.items()):
            if check.check.ServiceID == service_id and not check.deleted:
                self._delete_check(check_id)
        for other_id, other in list(self.services.items()):
            if other.sidecar_of == service_id and not other.deleted:
                removed += self.remove_service(other_id)
        self._notify()
        return removed

    def live_services(self) -> dict[str, NodeService]:
        return {sid: s.service for sid, s in self.services.items() if not s.deleted}

    def service(self, service_id: str) -> NodeService | None:
        local = self.services.get(service_id)
        return None if local is None or local.deleted else local.service

    # ---- checks -------------------------------------------------------------------

    def add_check(self, check: HealthCheck, token: str = "", from_config: bool = False,
                  definition: dict | None = None) -> None:
        old = self.checks.get(check.CheckID)
        if old is not None and old.deferred is not None:
            old.deferred.cancel()
        if check.ServiceID:
            service = self.service(check.ServiceID)
            if service is not None:
                check = replace(check, ServiceName=service.Service,
                                ServiceTags=list(service.Tags or ()))
        self.checks[check.CheckID] = LocalCheck(replace(check, Node=self.node_name), token,
                                                from_config=from_config,
                                                definition=definition or {})
        self._notify()

    def remove_check(self, check_id: str) -> bool:
        local = self.checks.get(check_id)
        if local is None or local.deleted:
            return False
        self._delete_check(check_id)
        self._notify()
        return True

    def _delete_check(self, check_id: str) -> None:
        local = self.checks[check_id]
        if local.deferred is not None:
            local.deferred.cancel()
            local.deferred = None
        local.deleted = True
        local.changed()

    def live_checks(self) -> dict[str, HealthCheck]:
        return {cid: c.check for cid, c in self.checks.items() if not c.deleted}

    def check(self, check_id: str) -> HealthCheck | None:
        local = self.checks.get(check_id)
        return None if local is None or local.deleted else local.check

    def update_check(self, check_id: str, status: str, output: str) -> bool:
        """Record a check result; status changes sync now, output-only ones are deferred."""
        local = self.checks.get(check_id)
        if local is None or local.deleted:
            return False
        old = local.check
        if old.Status == status and old.Output == output:
            return True
        local.check = replace(old, Status=status, Output=output)
        if old.Status != status or self.check_update_interval <= 0:
            if local.deferred is not None:
                local.deferred.cancel()
                local.deferred = None
            local.changed()
            self._notify()
        elif local.deferred is not None:  # the timer already set will send this output
            self._changed_readers_only()
        elif local.in_sync:
            loop = asyncio.get_running_loop()
            local.deferred = loop.call_later(self.check_update_interval,
                                             self._deferred_sync, check_id)
            self._changed_readers_only()
        else:  # a sync is due anyway (perhaps under way with the old output): send this one
            local.changed()
            self._notify()
        return True

    def _deferred_sync(self, check_id: str) -> None:
        local = self.checks.get(check_id)
        if local is not None:
            local.deferred = None
            local.changed()
            self._notify()

    def _changed_readers_only(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def aggregated_status(self, service_id: str) -> str:
        """The api package's ``AggregatedStatus`` of a service's and the node's checks:
        maintenance first (a maintenance check, whatever its status), then the worst."""
        checks = [c for c in self.live_checks().values() if c.ServiceID in ("", service_id)]
        if any(c.CheckID == NODE_MAINTENANCE_ID or c.CheckID.startswith(SERVICE_MAINTENANCE_PREFIX)
               for c in checks):
            return HEALTH_MAINT
        statuses = {c.Status for c in checks}
        for status in (HEALTH_CRITICAL, HEALTH_WARNING):
            if status in statuses:
                return status
        return HEALTH_PASSING
