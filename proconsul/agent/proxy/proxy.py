"""The asyncio driver of the built-in proxy: watches, plan, listeners.

Configs come from the proxy's registration (a hash-blocking watch of
``/v1/agent/service/:id``) or, in dev mode, from flags once. Each new config
is turned into actions by :func:`plan` and applied to the listeners; the
leaf and roots watches feed :class:`Identity`; every watch runs as a
supervised routine (lib/routine).
"""

from __future__ import annotations

import asyncio
import logging

from proconsul.agent import telemetry
from proconsul.agent.proxy.agent_api import AgentAPI, AgentAPIError, sleep_backoff
from proconsul.agent.proxy.authz import AuthzCache
from proconsul.agent.proxy.config import (
    ProxyConfig,
    ProxyConfigError,
    UpstreamConfig,
    from_agent_service,
)
from proconsul.agent.proxy.identity import Identity
from proconsul.agent.proxy.listeners import PublicListener, UpstreamListener
from proconsul.agent.proxy.plan import (
    Action,
    ChangeService,
    StartPublic,
    StartUpstream,
    StopPublic,
    StopUpstream,
    UpdatePublic,
    UpdateUpstream,
    plan,
)
from proconsul.agent.proxy.tls import Leaf, roots_pems
from proconsul.agent.proxy.upstream import Resolver
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.routine import RoutineManager
from proconsul.structs.errors import ConsulError

log = logging.getLogger("proxy")


class Proxy:
    """One built-in proxy instance: its listeners and the watches that drive them."""

    def __init__(self, api: AgentAPI, proxy_id: str = "",
                 static: ProxyConfig | None = None) -> None:
        if not proxy_id and static is None:
            raise ValueError("a proxy needs a proxy ID or a static config")
        self.api = api
        self.proxy_id = proxy_id
        self.static = static
        self.identity = Identity()
        self.authz = AuthzCache(api.authorize)
        self.config: ProxyConfig | None = None
        self.public: PublicListener | None = None
        self.upstreams: dict[tuple[str, int], UpstreamListener] = {}
        self.routines = RoutineManager()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close every listener and connection."""
        self.routines.start("proxy-roots", self._watch_roots)
        if self.static is not None:
            await self.apply(self.static)
        else:
            self.routines.start("proxy-config", self._watch_config)
        try:
            await stop.wait()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        await self.routines.stop_all()
        listeners = [*self.upstreams.values(), *([self.public] if self.public else [])]
        await asyncio.gather(*(listener.abort() for listener in listeners))
        self.upstreams.clear()
        self.public = None

    async def _watch_config(self) -> None:
        last_hash, failures = "", 0
        while True:
            try:
                body, digest = await self.api.service(self.proxy_id, last_hash)
            except AgentAPIError as err:
                failures += 1
                log.error("reading proxy registration %s failed: %s", self.proxy_id, err)
                await sleep_backoff(failures)
                continue
            failures = 0
            if digest and digest == last_hash:
                continue
            last_hash = digest
            try:
                config = from_agent_service(body)
            except ProxyConfigError as err:
                log.error("proxy registration %s unusable, keeping the running config: %s",
                          self.proxy_id, err)
                continue
            await self.apply(config)

    async def _watch_roots(self) -> None:
        index, failures = 0, 0
        while True:
            try:
                body, returned = await self.api.roots(index)
            except AgentAPIError as err:
                failures += 1
                log.error("reading CA roots failed: %s", err)
                await sleep_backoff(failures)
                continue
            failures = 0
            index = 0 if returned < index else max(returned, 1)
            self.identity.set_roots(roots_pems(body), body.get("TrustDomain", ""))

    async def _watch_leaf(self, service: str) -> None:
        index, failures = 0, 0
        while True:
            try:
                body, returned = await self.api.leaf(service, index)
            except AgentAPIError as err:
                failures += 1
                log.error("reading the leaf certificate of %s failed: %s", service, err)
                await sleep_backoff(failures)
                continue
            failures = 0
            index = 0 if returned < index else max(returned, 1)
            self.identity.set_leaf(Leaf.from_agent(body))

    async def apply(self, config: ProxyConfig) -> None:
        """Move the running listeners to ``config``."""
        actions = plan(self.config, config)
        if self.config is None or self.config.telemetry != config.telemetry:
            await self._telemetry(config.telemetry)
        self.config = config
        for action in actions:
            await self._do(action, config.service)

    async def _do(self, action: Action, service: str) -> None:
        match action:
            case ChangeService(service=name):
                await self.routines.stop("proxy-leaf")
                self.routines.start("proxy-leaf", lambda: self._watch_leaf(name))
                for listener in [self.public, *self.upstreams.values()]:
                    if listener is not None:
                        listener.service = name
            case StopPublic():
                if self.public is not None:
                    log.info("public listener on %s:%d closing", *self.public.bind)
                    await self.public.close()
                    self.public = None
            case StartPublic(config=cfg):
                listener = PublicListener(service, cfg, self.identity, self.authz)
                if await _bind(listener, f"public listener for local service {cfg.local_service_address}"):
                    self.public = listener
            case UpdatePublic(config=cfg):
                if self.public is not None:
                    self.public.update(cfg, service)
                    log.info("public listener on %s:%d now forwards to %s", *cfg.bind,
                             cfg.local_service_address)
            case StopUpstream(bind=bind):
                await self._stop_upstream(bind)
            case StartUpstream(config=cfg):
                await self._start_upstream(service, cfg)
            case UpdateUpstream(config=cfg):
                await self._update_upstream(cfg)

    async def _telemetry(self, settings: dict) -> None:
        """Send the proxy's metrics where ``Proxy.Config.telemetry`` says (statsd, ...)."""
        try:
            telemetry.configure(metrics, {"telemetry": settings})
        except ConsulError as err:
            log.error("proxy telemetry config unusable: %s", err)
            return
        await self.routines.stop("proxy-telemetry")
        if metrics.sinks:
            self.routines.start("proxy-telemetry", lambda: telemetry.flush_sinks(metrics))

    async def _start_upstream(self, service: str, cfg: UpstreamConfig) -> None:
        resolver = Resolver(self.api, cfg)
        listener = UpstreamListener(service, cfg, self.identity, resolver)
        if await _bind(listener, f"upstream {cfg.destination_type} {cfg.destination_name}"
                       + (f" in {cfg.datacenter}" if cfg.datacenter else "")):
            self.upstreams[cfg.bind] = listener
            self.routines.start(f"proxy-upstream-{cfg.bind[0]}:{cfg.bind[1]}", resolver.watch)

    async def _update_upstream(self, cfg: UpstreamConfig) -> None:
        """Same port, new destination or settings: the listener stays bound, new
        connections use the new resolver, established ones are untouched."""
        listener = self.upstreams.get(cfg.bind)
        if listener is None:
            return
        name = f"proxy-upstream-{cfg.bind[0]}:{cfg.bind[1]}"
        await self.routines.stop(name)
        listener.config, listener.resolver = cfg, Resolver(self.api, cfg)
        self.routines.start(name, listener.resolver.watch)
        log.info("upstream listener on %s:%d now serves %s", *cfg.bind, cfg)

    async def _stop_upstream(self, bind: tuple[str, int]) -> None:
        listener = self.upstreams.pop(bind, None)
        await self.routines.stop(f"proxy-upstream-{bind[0]}:{bind[1]}")
        if listener is not None:
            log.info("upstream listener on %s:%d closing", *bind)
            await listener.close()


async def _bind(listener: PublicListener | UpstreamListener, what: str) -> bool:
    try:
        await listener.start()
    except OSError as err:
        log.error("%s cannot listen on %s:%d: %s", what, *listener.bind,
                  err.strerror or err)
        return False
    log.info("%s listening on %s:%d", what, *listener.address)
    return True
