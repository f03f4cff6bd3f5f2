"""The ADS gRPC service: one stream per Envoy, state of the world or delta.

The first request names the proxy (``node.id`` = its service ID on this
agent); the stream then watches the proxy's :class:`ProxyState` and sends
what changed, through the protocol core of its flavour (delta.py, sotw.py).
An unregistered proxy's stream waits, as in Consul. With ACLs on, the
``x-consul-token`` metadata needs ``service:write`` on the proxy's destination,
checked before the first send and again before a send five minutes later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc

from proconsul.agent.proxycfg.manager import Manager, ProxyState, Watcher
from proconsul.agent.xds import ingress, mesh_gateway, sidecar, terminating, versions
from proconsul.agent.xds.delta import DeltaSession
from proconsul.agent.xds.session import StreamError
from proconsul.agent.xds.sotw import SotwSession
from proconsul.lib.metrics import registry as metrics
from proconsul.structs.errors import ConsulError, Forbidden
from proconsul.structs.service_kinds import INGRESS_GATEWAY, MESH_GATEWAY, TERMINATING_GATEWAY

log = logging.getLogger("agent.xds")

# token, service name -> raises Forbidden (denied) or ConsulError; None when ACLs are off
Authorize = Callable[[str, str], Awaitable[None]]
NACK_METRIC = "consul.xds.server.nack"  # beyond Consul: rejected configs, by type
STREAMS_METRIC = "consul.xds.server.streams"
AUTH_RECHECK = 300.0  # seconds: the token is checked again before sending after this long
BUILDERS = {INGRESS_GATEWAY: ingress.build, TERMINATING_GATEWAY: terminating.build,
            MESH_GATEWAY: mesh_gateway.build}


class AggregatedDiscoveryService(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """Serves both ADS flavours from the proxycfg manager."""

    def __init__(self, manager: Manager, authorize: Authorize | None) -> None:
        self.manager = manager
        self.authorize = authorize
        self.streams = 0  # open ADS streams (gauge consul.xds.server.streams, as Consul's)

    async def StreamAggregatedResources(self, request_iterator, context):
        await self._serve(request_iterator, context, SotwSession())

    async def DeltaAggregatedResources(self, request_iterator, context):
        await self._serve(request_iterator, context, DeltaSession())

    async def _serve(self, requests: AsyncIterator[Any], context, session) -> None:
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            return
        proxy_id = first.node.id
        build = first.node.user_agent_build_version.version
        if first.node.user_agent_name == "envoy" and build.major_number:
            version = (build.major_number, build.minor_number, build.patch)
            if versions.too_old(version):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"Envoy {'.'.join(map(str, version))} is too old and is "
                                    f"not supported by Proconsul")
        if not proxy_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node.id is required")
        token = dict(context.invocation_metadata() or ()).get("x-consul-token", "")
        state, watcher = self.manager.watch(proxy_id)
        self.streams += 1
        metrics.set_gauge(STREAMS_METRIC, self.streams)
        reader = None
        try:
            self._take(session, first, proxy_id)
            reader = asyncio.create_task(self._read(requests, session, proxy_id, watcher))
            await self._send_loop(context, session, state, watcher, token, reader)
        except StreamError as err:
            await context.abort(getattr(grpc.StatusCode, err.code), str(err))
        finally:
            self.streams -= 1
            metrics.set_gauge(STREAMS_METRIC, self.streams)
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            self.manager.release(state, watcher)

    async def _send_loop(self, context, session, state: ProxyState, watcher: Watcher,
                         token: str, reader: asyncio.Task) -> None:
        authorized_at: float | None = None
        while True:
            await watcher.event.wait()
            if reader.done():
                reader.result()  # raises the reader's StreamError
                return
            if not state.ready:
                watcher.event.clear()
                continue
            snap = state.snapshot
            now = time.monotonic()
            if authorized_at is None or now - authorized_at > AUTH_RECHECK:
                await self._authorize(context, token, snap.destination)
                authorized_at = now
            try:
                build = BUILDERS.get(snap.service.Kind, sidecar.build)
                resources = build(snap, watcher.take())
            except (ValueError, KeyError, AttributeError, TypeError) as err:
                log.error("failed to generate resources for proxy %s: %s",
                          state.proxy_id, err)
                continue
            for type_url, by_name in resources.items():
                session.set_resources(type_url, by_name)
            for response in session.responses():
                await context.write(response)

    async def _read(self, requests: AsyncIterator[Any], session, proxy_id: str,
                    watcher: Watcher) -> None:
        try:
            async for req in requests:
                self._take(session, req, proxy_id)
                watcher.event.set()
        finally:
            watcher.event.set()

    def _take(self, session, req, proxy_id: str) -> None:
        nack = session.on_request(req)
        if nack is not None:
            log.error("got error response from envoy proxy %s for %s (nonce %s): %s",
                      proxy_id, nack.type_url, nack.nonce, nack.message)
            metrics.incr_counter(NACK_METRIC, 1.0, {"type": nack.type_url.rsplit(".", 1)[-1]})

    async def _authorize(self, context, token: str, service: str) -> None:
        if self.authorize is None:
            return
        try:
            await self.authorize(token, service)
        except Forbidden as err:
            code = grpc.StatusCode.UNAUTHENTICATED if "not found" in str(err).lower() \
                else grpc.StatusCode.PERMISSION_DENIED
            await context.abort(code, str(err))
        except ConsulError as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
