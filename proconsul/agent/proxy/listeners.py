"""The proxy's listeners: the public mTLS listener in front of the local application
and the plain upstream listeners whose connections go out over mTLS.

Each accepted connection runs as its own task and is logged and counted when it
is accepted, denied or closed. Closing a listener (a rebind) stops new
connections only; :meth:`Listener.abort` also ends the established ones
(shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

from proconsul.agent.proxy.agent_api import AgentAPIError
from proconsul.agent.proxy.authz import AuthzCache
from proconsul.agent.proxy.balancer import Endpoint
from proconsul.agent.proxy.config import PublicListenerConfig, UpstreamConfig
from proconsul.agent.proxy.identity import Identity
from proconsul.agent.proxy.relay import Side, relay
from proconsul.agent.proxy.tls import PeerIdentityError, check_server_identity, peer_identity
from proconsul.agent.proxy.upstream import Resolver
from proconsul.lib.metrics import registry as metrics

log = logging.getLogger("proxy")


class Listener:
    """A bound listening socket and the connections it accepted."""

    direction = ""

    def __init__(self, service: str, bind: tuple[str, int]) -> None:
        self.service = service
        self.bind = bind
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task] = set()
        self.open_connections = 0

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self.bind
        return self._server.sockets[0].getsockname()[:2]

    async def start(self) -> None:
        host, port = self.bind
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Side(self._accept), host or None, port,
                                                reuse_address=True, **self._tls())

    def _tls(self) -> dict:
        return {}

    def _accept(self, side: Side) -> None:
        side.transport.pause_reading()  # nothing is relayed before the other end is chosen
        task = asyncio.ensure_future(self._serve(side))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _serve(self, side: Side) -> None:
        peer = _peer(side.transport)
        started = time.monotonic()
        self._gauge(1)
        try:
            await self.handle(side, peer, started)
        except (OSError, ssl.SSLError) as err:
            log.info("%s connection from %s failed: %s", self.direction, peer, _why(err))
        except asyncio.CancelledError:
            side.abort()
            raise
        finally:
            side.close()
            self._gauge(-1)

    async def handle(self, side: Side, peer: str, started: float) -> None:
        raise NotImplementedError

    def _gauge(self, delta: int) -> None:
        self.open_connections += delta
        metrics.set_gauge(f"consul.proxy.{self.service}.{self.direction}.conns",
                          float(self.open_connections), self._labels())

    def _labels(self) -> dict[str, str]:
        return {}

    def _count(self, what: str, traffic: tuple[int, int] | None = None) -> None:
        labels = self._labels()
        metrics.incr_counter(f"consul.proxy.{self.service}.{self.direction}.{what}", 1.0,
                             labels)
        if traffic is not None:
            metrics.incr_counter(f"consul.proxy.{self.service}.{self.direction}.rx_bytes",
                                 float(traffic[0]), labels)
            metrics.incr_counter(f"consul.proxy.{self.service}.{self.direction}.tx_bytes",
                                 float(traffic[1]), labels)

    async def close(self) -> None:
        """Stop accepting; established connections carry on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def abort(self) -> None:
        """Stop accepting and end every established connection."""
        await self.close()
        tasks = list(self._conns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class PublicListener(Listener):
    """mTLS in, the local application out; each client authorized by intention."""

    direction = "inbound"

    def __init__(self, service: str, config: PublicListenerConfig, identity: Identity,
                 authz: AuthzCache) -> None:
        super().__init__(service, config.bind)
        self.config = config
        self.identity = identity
        self.authz = authz

    def update(self, config: PublicListenerConfig, service: str) -> None:
        self.config, self.service = config, service

    def _tls(self) -> dict:
        """TLS from the first byte. The handshake picks the current contexts (see
        ``_pick``) so a renewed leaf or rotated roots apply to the next connection.
        (Upgrading an accepted plain socket with start_tls stalls under uvloop.)"""
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.verify_mode = ssl.CERT_REQUIRED
        base.minimum_version = ssl.TLSVersion.TLSv1_2
        base.sni_callback = self._pick
        return {"ssl": base, "ssl_handshake_timeout": self.config.handshake_timeout}

    def _pick(self, ssl_object: ssl.SSLObject, server_name: str | None,
              _base: ssl.SSLContext) -> int | None:
        """Called at the ClientHello (with or without SNI): present the current leaf and
        verify the client against the current roots; refuse while there are none."""
        contexts = self.identity.contexts
        if contexts is None:
            self._count("denied")
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        ssl_object.context = contexts.server
        return None

    async def handle(self, side: Side, peer: str, started: float) -> None:
        config = self.config
        try:
            client, uri, serial = peer_identity(side.transport.get_extra_info("ssl_object"))
            allowed, reason = await self.authz.authorize(self.service, uri, serial)
        except PeerIdentityError as err:
            allowed, reason, uri = False, str(err), "?"
        except AgentAPIError as err:
            allowed, reason = False, f"authorization failed: {err}"
        if not allowed:
            log.info("inbound connection from %s (%s) denied: %s", peer, uri, reason)
            self._count("denied")
            return
        target = config.local_service_address
        host, _, port = target.rpartition(":")
        try:
            _, app = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                Side, host.strip("[]"), int(port)), config.local_connect_timeout)
        except (OSError, TimeoutError) as err:
            log.warning("inbound connection from %s (%s): cannot reach local service %s: %s",
                        peer, client.service, target, _why(err))
            self._count("failed")
            return
        log.info("inbound connection from %s (%s) accepted: %s", peer, client.service, reason)
        self._count("accepted")
        traffic = await relay(side, app)
        log.info("inbound connection from %s (%s) closed after %.3fs: %d bytes in, "
                 "%d bytes out", peer, client.service, time.monotonic() - started, *traffic)
        self._count("closed", traffic)


class UpstreamListener(Listener):
    """Plain TCP in, mTLS out to a passing instance of the destination."""

    direction = "upstream"

    def __init__(self, service: str, config: UpstreamConfig, identity: Identity,
                 resolver: Resolver) -> None:
        super().__init__(service, config.bind)
        self.config = config
        self.identity = identity
        self.resolver = resolver

    def _labels(self) -> dict[str, str]:
        return {"dst": self.config.destination_name,
                "dst_type": self.config.destination_type}

    async def handle(self, side: Side, peer: str, started: float) -> None:
        config, resolver = self.config, self.resolver
        deadline = started + config.connect_timeout
        contexts = await self.identity.ready(config.connect_timeout)
        remote = None
        if contexts is not None:
            remote = await self._dial(contexts.client, resolver, deadline)
        if remote is None:
            log.warning("upstream connection from %s to %s failed: no instance reachable",
                        peer, config.destination_name)
            self._count("failed")
            return
        other, endpoint = remote
        log.info("upstream connection from %s to %s at %s established", peer,
                 config.destination_name, endpoint)
        self._count("accepted")
        traffic = await relay(side, other)
        log.info("upstream connection from %s to %s at %s closed after %.3fs: %d bytes out, "
                 "%d bytes in", peer, config.destination_name, endpoint,
                 time.monotonic() - started, *traffic)
        self._count("closed", traffic)

    async def _dial(self, context: ssl.SSLContext, resolver: Resolver,
                    deadline: float) -> tuple[Side, Endpoint] | None:
        order = await resolver.order(max(deadline - time.monotonic(), 0))
        loop = asyncio.get_running_loop()
        for endpoint in order:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                transport, other = await asyncio.wait_for(loop.create_connection(
                    Side, endpoint.address, endpoint.port, ssl=context,
                    server_hostname=self._sni(endpoint.datacenter),
                    ssl_handshake_timeout=remaining), remaining)
            except (OSError, ssl.SSLError, TimeoutError) as err:
                log.warning("upstream %s: dialing %s failed: %s", self.config, endpoint,
                            _why(err))
                continue
            try:
                got, _, _ = peer_identity(transport.get_extra_info("ssl_object"))
                check_server_identity(got, endpoint.service, endpoint.datacenter,
                                      self.config.destination_namespace)
            except PeerIdentityError as err:
                log.warning("upstream %s: %s refused: %s", self.config, endpoint, err)
                transport.abort()
                continue
            return other, endpoint
        if order:
            resolver.all_failed()
        return None

    def _sni(self, datacenter: str) -> str | None:
        """Consul's service SNI, ``<svc>.<ns>.<dc>.internal.<trust domain>``."""
        td = self.identity.trust_domain
        if not td or not datacenter or self.config.destination_type != "service":
            return None
        return (f"{self.config.destination_name}.{self.config.destination_namespace}."
                f"{datacenter}.internal.{td}")


def _peer(transport: asyncio.BaseTransport) -> str:
    name = transport.get_extra_info("peername")
    return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)


def _why(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    return getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err) or \
        type(err).__name__
