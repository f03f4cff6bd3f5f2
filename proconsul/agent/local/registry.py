"""Registers services and checks with the agent: runners, persistence, maintenance mode.

API registrations are persisted under ``data_dir/services`` and
``data_dir/checks`` (one JSON file each, written atomically) and restored on
start; config-file registrations are not persisted, as in Consul.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace

from proconsul.agent.checks.alias import AliasSnapshot
from proconsul.agent.checks.base import CheckRunner
from proconsul.agent.checks.definition import (
    CheckDefinition,
    InvalidCheck,
    decode_check_definition,
)
from proconsul.agent.checks.factory import ScriptChecksDisabled, make_runner
from proconsul.agent.checks.ttl import TTLRunner
from proconsul.agent.http.decode import normalize
from proconsul.agent.local.registration import (
    Registration,
    ServiceRegistration,
    check_ids,
    to_registration,
)
from proconsul.agent.local.state import (
    NODE_MAINTENANCE_ID,
    SERVICE_MAINTENANCE_PREFIX,
    LocalState,
)
from proconsul.lib.duration import parse_duration
from proconsul.lib.routine import supervise
from proconsul.structs.catalog import HEALTH_CRITICAL, HealthCheck
from proconsul.structs.errors import BadRequest, NotFound

log = logging.getLogger("agent.local")

DEFAULT_MAINTENANCE_REASON = "Maintenance mode is enabled for this {}, but no reason was " \
                             "provided. This is a default message."


def _fold_check_blocks(tree: dict[str, Any]) -> dict[str, Any]:
    """Config blocks read ``check`` as a list; the body has ``Check`` for one and ``Checks``."""
    tree = dict(tree)
    tree["checks"] = list(tree.pop("check", [])) + list(tree.get("checks", []))
    connect = tree.get("connect")
    if connect and connect.get("sidecar_service") is not None:
        tree["connect"] = {**connect,
                           "sidecar_service": _fold_check_blocks(connect["sidecar_service"])}
    return tree


def service_from_config(tree: dict[str, Any]) -> ServiceRegistration:
    """A config-file service (snake_case) as a registration body."""
    try:
        return msgspec.convert(normalize(_fold_check_blocks(tree),
                                         msgspec.inspect.type_info(ServiceRegistration)),
                               ServiceRegistration)
    except msgspec.ValidationError as err:
        raise BadRequest(f"invalid service definition {tree.get('name', '')!r}: {err}") \
            from None


class LocalRegistry:
    """Adds and removes the agent's services and checks, and runs their checks."""

    def __init__(self, state: LocalState, *, node_name: str, data_dir: str,
                 enable_script_checks: bool, enable_local_script_checks: bool,
                 sidecar_ports: tuple[int, int],
                 remote_alias: Callable[[str, str], AsyncIterator[AliasSnapshot]]) -> None:
        self.state = state
        self.node_name = node_name
        self.data_dir = Path(data_dir) if data_dir else None
        self.enable_script_checks = enable_script_checks
        self.enable_local_script_checks = enable_local_script_checks
        self.sidecar_ports = sidecar_ports
        self.remote_alias = remote_alias
        self.runners: dict[str, CheckRunner] = {}
        self._critical_since: dict[str, asyncio.TimerHandle] = {}

    # ---- services -------------------------------------------------------------------

    async def register_service(self, body: ServiceRegistration, *, token: str = "",
                               replace_existing_checks: bool = False, remote: bool = True,
                               persist: bool = True) -> Registration:
        used = {sid: s.Port for sid, s in self.state.live_services().items()}
        registration = to_registration(body, used, self.sidecar_ports)
        plans = [(registration, "")]
        if registration.sidecar is not None:
            plans.append((registration.sidecar, registration.service.ID))
        prepared = [(reg, parent, self._definitions(reg, remote)) for reg, parent in plans]
        for reg, parent, definitions in prepared:
            service = reg.service
            old_checks = {cid for cid, c in self.state.live_checks().items()
                          if c.ServiceID == service.ID}
            self.state.add_service(service, token, sidecar_of=parent, from_config=not persist)
            for definition in definitions:
                await self._add_check(definition, token, remote, persist=False)
            if replace_existing_checks:
                for cid in old_checks - {d.CheckID for d in definitions}:
                    await self.deregister_check(cid)
        if persist:
            self._persist("services", registration.service.ID,
                          {"Service": msgspec.to_builtins(body), "Token": token})
        return registration

    def _definitions(self, registration: Registration, remote: bool) -> list[CheckDefinition]:
        service = registration.service
        ids = check_ids(service.ID, len(registration.checks))
        definitions = []
        for check_id, raw in zip(ids, registration.checks, strict=True):
            try:
                definition = decode_check_definition(raw)
            except InvalidCheck as err:
                raise BadRequest(str(err)) from None
            definition = replace(
                definition, CheckID=definition.CheckID or check_id, ServiceID=service.ID,
                Name=definition.Name or f"Service '{service.Service}' check")
            self._validate(definition, remote)
            definitions.append(definition)
        return definitions

    def _validate(self, definition: CheckDefinition, remote: bool) -> None:
        try:
            definition.validate()
        except InvalidCheck as err:
            raise BadRequest(f"Invalid check: {err}") from None
        if definition.check_type() in ("script", "docker"):
            allowed = self.enable_script_checks or (
                self.enable_local_script_checks and not remote)
            if not allowed:
                raise BadRequest("Scripts are disabled on this agent; to enable, configure "
                                 "'enable_script_checks' or 'enable_local_script_checks' to "
                                 "true")

    async def deregister_service(self, service_id: str) -> None:
        if self.state.service(service_id) is None:
            raise NotFound(f'Unknown service ID "{service_id}". Ensure that the service ID '
                           "is passed, not the service name.")
        for check_id, check in list(self.state.live_checks().items()):
            if check.ServiceID == service_id:
                await self._stop_runner(check_id)
        for removed in self.state.remove_service(service_id):
            self._unpersist("services", removed)
            for check_id in [c for c in self.runners if c.startswith(f"service:{removed}")]:
                await self._stop_runner(check_id)

    # ---- checks -----------------------------------------------------------------------

    async def register_check(self, raw: dict[str, Any], *, token: str = "",
                             remote: bool = True, persist: bool = True) -> HealthCheck:
        try:
            definition = decode_check_definition(raw)
        except InvalidCheck as err:
            raise BadRequest(str(err)) from None
        if not definition.Name:
            raise BadRequest("Missing check name")
        definition = replace(definition, CheckID=definition.CheckID or definition.Name)
        if definition.ServiceID and self.state.service(definition.ServiceID) is None:
            raise NotFound(f'ServiceID "{definition.ServiceID}" does not exist')
        self._validate(definition, remote)
        return await self._add_check(definition, token, remote, persist)

    async def _add_check(self, definition: CheckDefinition, token: str, remote: bool,
                         persist: bool) -> HealthCheck:
        service = self.state.service(definition.ServiceID) if definition.ServiceID else None
        check = definition.health_check(
            self.node_name, service_name=service.Service if service else "",
            service_tags=list(service.Tags or ()) if service else None)
        await self._stop_runner(check.CheckID)
        self.state.add_check(check, token, from_config=not persist,
                             definition=msgspec.to_builtins(definition))
        try:
            runner = make_runner(definition, self._updater(check.CheckID, definition),
                                 enable_script_checks=True, remote=remote,
                                 alias_source=self)
        except (InvalidCheck, ScriptChecksDisabled) as err:
            self.state.remove_check(check.CheckID)
            raise BadRequest(str(err)) from None
        self.runners[check.CheckID] = runner
        await runner.start()
        if persist:
            self._persist("checks", check.CheckID,
                          {"Check": msgspec.to_builtins(definition), "Token": token})
        return check

    def _updater(self, check_id: str, definition: CheckDefinition) -> Callable[[str, str], None]:
        reap_after = parse_duration(definition.DeregisterCriticalServiceAfter) / 1e9 \
            if definition.DeregisterCriticalServiceAfter else 0.0

        def update(status: str, output: str) -> None:
            self.state.update_check(check_id, status, output)
            if reap_after and definition.ServiceID:
                self._track_critical(check_id, definition.ServiceID, status, reap_after)

        return update

    def _track_critical(self, check_id: str, service_id: str, status: str,
                        after: float) -> None:
        timer = self._critical_since.pop(check_id, None)
        if status != HEALTH_CRITICAL:
            if timer is not None:
                timer.cancel()
            return
        if timer is None:
            timer = asyncio.get_running_loop().call_later(
                after, lambda: asyncio.ensure_future(supervise(
                    f"deregister-critical {check_id}", lambda: self._reap(check_id, service_id),
                    label="deregister-critical")))
        self._critical_since[check_id] = timer

    async def _reap(self, check_id: str, service_id: str) -> None:
        self._critical_since.pop(check_id, None)
        if self.state.service(service_id) is not None:
            log.info("check %s critical for too long: deregistering service %s",
                     check_id, service_id)
            await self.deregister_service(service_id)

    async def deregister_check(self, check_id: str) -> None:
        if self.state.check(check_id) is None:
            raise NotFound(f'Unknown check ID "{check_id}". Ensure that the check ID is '
                           "passed, not the check name.")
        await self._stop_runner(check_id)
        self.state.remove_check(check_id)
        self._unpersist("checks", check_id)

    def ttl_update(self, check_id: str, status: str, output: str) -> None:
        runner = self.runners.get(check_id)
        if self.state.check(check_id) is None or runner is None:
            raise NotFound(f'Unknown check ID "{check_id}". Ensure that the check ID is '
                           "passed, not the check name.")
        if not isinstance(runner, TTLRunner):
            raise BadRequest(f'CheckID "{check_id}" does not have associated TTL')
        runner.update(status, output)

    async def _stop_runner(self, check_id: str) -> None:
        runner = self.runners.pop(check_id, None)
        if runner is not None:
            await runner.stop()
        timer = self._critical_since.pop(check_id, None)
        if timer is not None:
            timer.cancel()

    async def stop(self) -> None:
        for check_id in list(self.runners):
            await self._stop_runner(check_id)

    # ---- maintenance ------------------------------------------------------------------

    def set_node_maintenance(self, enable: bool, reason: str, token: str = "") -> None:
        self._maintenance(NODE_MAINTENANCE_ID, "", "Node Maintenance Mode", "node", enable,
                          reason, token)

    def set_service_maintenance(self, service_id: str, enable: bool, reason: str,
                                token: str = "") -> None:
        if self.state.service(service_id) is None:
            raise NotFound(f'Unknown service ID "{service_id}". Ensure that the service ID '
                           "is passed, not the service name.")
        self._maintenance(SERVICE_MAINTENANCE_PREFIX + service_id, service_id,
                          "Service Maintenance Mode", "service", enable, reason, token)

    def _maintenance(self, check_id: str, service_id: str, name: str, what: str,
                     enable: bool, reason: str, token: str) -> None:
        """Maintenance is a critical check whose Notes carry the reason, as in Consul."""
        if not enable:
            self.state.remove_check(check_id)
            return
        if self.state.check(check_id) is not None:
            return
        service = self.state.service(service_id) if service_id else None
        self.state.add_check(HealthCheck(
            Node=self.node_name, CheckID=check_id, Name=name, Status=HEALTH_CRITICAL,
            Notes=reason or DEFAULT_MAINTENANCE_REASON.format(what),
            ServiceID=service_id, ServiceName=service.Service if service else ""), token)

    # ---- alias source -----------------------------------------------------------------

    async def watch(self, node: str, service_id: str) -> AsyncIterator[AliasSnapshot]:
        """Health of a local service (``node`` empty or ours) as it changes, else remote."""
        if node and node != self.node_name:
            async for snapshot in self.remote_alias(node, service_id):
                yield snapshot
            return
        while True:
            changed = self.state.changed()
            checks = [c for c in self.state.live_checks().values()
                      if not service_id or c.ServiceID in ("", service_id)]
            yield AliasSnapshot(checks=checks,
                                service_exists=not service_id
                                or self.state.service(service_id) is not None)
            await changed.wait()

    # ---- persistence ------------------------------------------------------------------

    def _persist(self, kind: str, key: str, body: dict[str, Any]) -> None:
        if self.data_dir is None:
            return
        folder = self.data_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / hashlib.sha256(key.encode()).hexdigest()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _unpersist(self, kind: str, key: str) -> None:
        if self.data_dir is not None:
            path = self.data_dir / kind / hashlib.sha256(key.encode()).hexdigest()
            path.unlink(missing_ok=True)

    async def restore(self) -> None:
        """Re-register what the API registered before a restart."""
        if self.data_dir is None:
            return
        for kind in ("services", "checks"):
            folder = self.data_dir / kind
            for path in sorted(folder.glob("*")) if folder.is_dir() else []:
                if path.suffix == ".tmp":
                    path.unlink(missing_ok=True)
                    continue
                try:
                    saved = json.loads(path.read_text())
                    if kind == "services":
                        body = msgspec.convert(saved["Service"], ServiceRegistration)
                        await self.register_service(body, token=saved.get("Token", ""))
                    else:
                        await self.register_check(saved["Check"], token=saved.get("Token", ""))
                except (ValueError, KeyError, msgspec.ValidationError, BadRequest,
                        NotFound) as err:
                    log.warning("ignoring persisted %s %s: %s", kind, path.name, err)
