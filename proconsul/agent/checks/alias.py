"""Alias checks (Consul's CheckAlias): mirror the health of another service and/or node."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import msgspec

from proconsul.agent.checks.base import CheckRunner, Sleep
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_PASSING,
    HEALTH_WARNING,
    HealthCheck,
)

log = logging.getLogger(__name__)

RETRY_AFTER = 1.0  # seconds before re-subscribing after the source failed


class AliasSnapshot(msgspec.Struct, frozen=True):
    """What an alias check sees of its target at one moment.

    ``checks``: health checks of the target node (all of them, or only those
    of the target service plus the node's own checks). ``service_exists``:
    whether the aliased service is registered (consulted only when no check
    of that service is in ``checks``).
    """

    checks: Sequence[HealthCheck]
    service_exists: bool = True


class AliasSource(Protocol):
    """Supplies the target's health; implemented by local state and by the catalog client.

    ``watch(node, service_id)`` yields a snapshot at once and then again every
    time the target's checks (or the service's existence) change. ``node`` is
    "" for the local agent. The iterator may raise; the runner reports the
    error as critical and subscribes again after a short pause.
    """

    def watch(self, node: str, service_id: str) -> AsyncIterator[AliasSnapshot]: ...


class AliasRunner(CheckRunner):
    """Status = worst of the target's checks, updated as soon as the source yields."""

    kind = "alias"

    def __init__(self, check_id: str, update: Any, *, source: AliasSource, node: str = "",
                 service_id: str = "", sleep: Sleep | None = None, **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.source = source
        self.node = node
        self.service_id = service_id
        self._sleep: Sleep = sleep or asyncio.sleep

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async for snapshot in self.source.watch(self.node, self.service_id):
                    failures = 0
                    status, output = evaluate_alias(snapshot, node=self.node,
                                                    service_id=self.service_id,
                                                    own_check_id=self.check_id)
                    self._notify(status, output)
                return  # the source ended: nothing more will change
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failures += 1
                log.warning("alias check %r: source failed: %s", self.check_id, err)
                self._notify(HEALTH_CRITICAL,
                             f"Failure checking aliased node or service: {err}")
            await self._sleep(min(RETRY_AFTER * failures, 60.0))


def evaluate_alias(snapshot: AliasSnapshot, *, node: str, service_id: str,
                   own_check_id: str = "") -> tuple[str, str]:
    """Consul's ``processChecks``: (status, output) for the aliased target."""
    health = HEALTH_PASSING
    message = "No checks found."
    service_found = False
    for check in snapshot.checks:
        if own_check_id and check.CheckID == own_check_id and not node:
            continue  # never alias ourselves
        if node and check.Node.lower() != node.lower():
            continue
        service_match = check.ServiceID == service_id
        if check.ServiceID and not service_match:
            continue
        if service_match:
            service_found = True
        if check.Status in (HEALTH_CRITICAL, HEALTH_WARNING):
            health = check.Status
            message = f"Aliased check {_go_quote(check.Name)} failing: {check.Output}"
            if check.Status == HEALTH_CRITICAL:
                break
        elif health == HEALTH_PASSING:
            message = "All checks passing."
    if not service_found and not snapshot.service_exists:
        message = f"Service {service_id} could not be found on node {node}"
        health = HEALTH_CRITICAL
    return health, message


def _go_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
