"""The agent process: its gossip pools, its server (in server mode) and its HTTP API."""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from collections.abc import Awaitable
from typing import Any, BinaryIO

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent import remote_exec, telemetry
from proconsul.agent.acl.resolver import AgentTokenResolver
from proconsul.agent.acl.tokens import TokenStore
from proconsul.agent.cache import Cache
from proconsul.agent.cache.connect_ca import ConnectCALeaf
from proconsul.agent.checks.alias import AliasSnapshot
from proconsul.agent.config import AgentConfig
from proconsul.agent.config.builder import load_config, restart_required
from proconsul.agent.config.validate import ConfigError
from proconsul.agent.config_watch import watch as watch_config
from proconsul.agent.connect.server_cert import ServerCertManager
from proconsul.agent.consensus import DurableRaft, load_node_id
from proconsul.agent.dns.lookup import AgentLookup
from proconsul.agent.dns.resolver import Resolver
from proconsul.agent.dns.server import DNSServer
from proconsul.agent.dns.settings import DNSSettings
from proconsul.agent.gossip import Gossip, member_state
from proconsul.agent.http.server import HttpApi
from proconsul.agent.keyring_ops import pool_keyring
from proconsul.agent.local.registry import LocalRegistry, service_from_config
from proconsul.agent.local.state import LocalState
from proconsul.agent.local.sync import AntiEntropy, NodeInfo
from proconsul.agent.pidfile import remove_pid_file, write_pid_file
from proconsul.agent.proxycfg.manager import Manager as ProxyConfigManager
from proconsul.agent.proxycfg.manager import Registration
from proconsul.agent.proxycfg.sources import Sources
from proconsul.agent.router import Router
from proconsul.agent.rpc_client import RPCClient, ping
from proconsul.agent.telemetry import flush_sinks
from proconsul.agent.tls import (
    ContextSwitch,
    client_context,
    native_tls_context,
    policy,
    server_context,
    server_hostname,
    server_names,
)
from proconsul.agent.user_events import UserEventRecord, UserEvents
from proconsul.agent.wan_federation import WANFederation
from proconsul.agent.watches import Address, Watches
from proconsul.agent.xds.ads import AggregatedDiscoveryService
from proconsul.agent.xds.certificates import GrpcCertificates
from proconsul.agent.xds.server import GrpcServer
from proconsul.fsm.fsm import FSM
from proconsul.gossip.serf import MemberEvent, MemberEventType, SerfEvent, UserEvent
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.routine import RoutineManager
from proconsul.raft.node import RaftNode
from proconsul.rpc.pool import MuxPool
from proconsul.server.acl_enforce import Identity
from proconsul.server.blocking import set_query_times
from proconsul.server.peering.exchange import peerstream_handler
from proconsul.server.rpc_endpoints import ServerPort
from proconsul.server.server import Server, ServerConfig
from proconsul.server.snapshot import call_server
from proconsul.server.wan_probe import run_wan_router
from proconsul.structs.coordinate import Coordinate, CoordinateEntry, CoordinateUpdateRequest
from proconsul.structs.errors import ERR_NO_SERVERS, BadRequest, ConsulError
from proconsul.structs.requests import NodeSpecificRequest
from proconsul.structs.snapshot import SNAPSHOT_RESTORE, SnapshotRequest, SnapshotResponse

log = logging.getLogger("agent")

LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "err": logging.ERROR, "error": logging.ERROR}

COORDINATE_SYNC_INTERVAL = 15.0
RAFT_REMOVE_GRACE_PERIOD = 5.0  # how long a leaving follower waits to be removed from raft


class Agent:
    """One Proconsul agent: gossip, ``/v1``, DNS, and where its RPCs go.

    A server agent runs a :class:`Server` (answering on the server port too);
    a client agent has none and sends its RPCs to the servers its router
    learns from LAN gossip.
    """

    def __init__(self, config: AgentConfig) -> None:
        if config.data_dir and not config.dev:
            config.node_id = load_node_id(config)
        self.config = config.finish()
        self.started_at = time.time()
        self.raft: DurableRaft | None = None
        # RPC over TLS (tls.internal_rpc): outgoing with verify_outgoing; a server with a
        # certificate also accepts it, and with verify_incoming accepts nothing else.
        rpc_tls = config.rpc_tls
        self._rpc_server_name = server_hostname(config.datacenter, config.domain)
        self.pool = MuxPool(source_host=config.source_host,
                            tls=client_context(rpc_tls) if rpc_tls.verify_outgoing else None,
                            server_name=self._rpc_server_name)
        self._https_switch: ContextSwitch | None = None
        self.server: Server | None = None
        self.server_port: ServerPort | None = None
        self.wanfed: WANFederation | None = None
        self.router: Router | None = None
        self.client: RPCClient | None = None
        self.routines = RoutineManager()  # the agent's long-lived tasks, supervised
        self.gossip = Gossip(config, self._on_gossip_event, self.routines)
        if config.server:
            self.server = Server(ServerConfig(
                datacenter=config.datacenter, node_name=config.node_name,
                node_id=config.node_id, advertise_addr=config.advertise_addr,
                server_port=config.server_port, serf_lan_port=config.serf_lan_port,
                grpc_tls_port=config.grpc_tls_port, peering_enabled=config.peering_enabled,
                coordinate_update_period=0.1 if config.dev else 5.0,
                rpc_hold_timeout=config.rpc_hold_timeout, autopilot=config.autopilot,
                config_entries=config.config_entries,
                connect_enabled=config.connect_enabled, ca_provider=config.ca_provider,
                ca_config=config.ca_config, primary_datacenter=config.primary_datacenter,
                data_dir="" if config.dev else config.data_dir,
                acl_enabled=config.acl.enabled, acl_default_policy=config.acl.default_policy,
                acl_initial_management=config.acl.tokens.initial_management,
                acl_enable_key_list_policy=config.acl.enable_key_list_policy,
                acl_replication_token=config.acl.tokens.replication,
                acl_token_replication=config.acl.enable_token_replication),
                None if config.dev else self._durable_raft, pool=self.pool)
            self.server.lan_members = self.gossip.lan_member_states
            self.server.wan_coordinates = self._wan_coordinates
            self.server.wan_members = self.gossip.wan_member_states
            self.server.fire_user_event = self.gossip.lan.driver.user_event
            self.server.keyring = pool_keyring(self.gossip, config.datacenter)
            self.server_port = ServerPort(
                self.server, self.raft.transport.serve_stream if self.raft else None,
                tls=server_context(rpc_tls, "RPC") if rpc_tls.cert_file else None,
                verify_incoming=rpc_tls.verify_incoming, alpn_tls=native_tls_context(rpc_tls),
                server_names=server_names(config.datacenter, config.domain, config.node_name))
            if config.wanfed.enabled:
                self.wanfed = WANFederation(config, self.server)
                if self.gossip.wan is not None:
                    wan = self.gossip.wan
                    wan.driver.transport = self.wanfed.wan_transport(wan.driver.transport,
                                                                     wan.serf)
        else:
            self.router = Router(config.datacenter, functools.partial(ping, self.pool))
            self.client = RPCClient(self.router, self.pool)
        self.tokens = TokenStore(config.acl.tokens, "" if config.dev else config.data_dir,
                                 persist=config.acl.enable_token_persistence)
        self.acl = AgentTokenResolver(
            config.acl, config.node_name, self.tokens, self.rpc,
            local=self.server.acl.resolve if self.server is not None else None,
            datacenter=config.primary_datacenter or config.datacenter)
        self.user_events = UserEvents(config.node_name, self._local_services)
        self.local = LocalState(config.node_name, config.check_update_interval)
        self.registry = LocalRegistry(
            self.local, node_name=config.node_name,
            data_dir="" if config.dev else config.data_dir,
            enable_script_checks=config.enable_script_checks,
            enable_local_script_checks=config.enable_local_script_checks,
            sidecar_ports=(config.sidecar_min_port, config.sidecar_max_port),
            remote_alias=self._remote_alias)
        meta = {"consul-network-segment": "", **config.node_meta,
                "consul-version": CONSUL_COMPAT_VERSION}
        self.anti_entropy = AntiEntropy(
            self.local, NodeInfo(config.node_id, config.node_name, config.advertise_addr,
                                 config.datacenter, meta),
            self.rpc, cluster_size=lambda: len(self.gossip.lan.members()),
            agent_token=lambda: self.tokens.agent, default_token=lambda: self.tokens.default)
        self.cache = Cache(self.rpc)
        self.connect_leaf = ConnectCALeaf()  # leaves cached here share one roots watch
        self.shutdown_requested = asyncio.Event()
        self.http: HttpApi | None = None
        self._left = False
        self._config_services: dict[str, dict] = {}
        self._config_checks: dict[str, dict] = {}
        dns = DNSSettings.from_config(self.config)
        self.dns_resolver = Resolver(dns, AgentLookup(self, dns.allow_stale, dns.max_stale_ms),
                                     config.node_name)
        self.dns: DNSServer | None = None
        self.watches = Watches(self._watch_address)
        self.proxycfg = ProxyConfigManager(
            Sources(self.cache, self.connect_leaf, config.datacenter),
            self._proxy_registration,
            config.datacenter, config.advertise_addr,
            default_allow=not (config.acl.enabled and config.acl.default_policy == "deny"),
            domain=config.domain)
        self.xds = AggregatedDiscoveryService(
            self.proxycfg, self._authorize_proxy if config.acl.enabled else None)
        self.grpc: GrpcServer | None = None
        self.grpc_certificates: GrpcCertificates | None = None
        self.server_cert: ServerCertManager | None = None  # a server's peering leaf

    def _durable_raft(self, fsm: FSM) -> RaftNode:
        self.raft = DurableRaft(self.config, fsm, self.pool.tls, self._rpc_server_name)
        return self.raft.node

    async def start(self) -> None:
        for warning in self.config.warnings:
            log.warning("%s", warning)
        set_query_times(self.config.default_query_time, self.config.max_query_time)
        self.watches.check(self.config.tree.get("watches") or [])
        try:
            await self.gossip.start()
        except OSError as err:
            raise ConsulError(f"cannot start gossip on {self.config.bind_addr}: "
                              f"{err.strerror}") from None
        if self.server_port is not None:
            try:
                await self.server_port.start(self.config.bind_addr, self.config.server_port)
            except OSError as err:
                await self.gossip.stop()
                raise ConsulError(f"cannot listen for RPC on {self.config.bind_addr}:"
                                  f"{self.config.server_port}: {err.strerror}") from None
        if self.raft is not None:
            await self.raft.start()
            self.raft.members_changed(self.gossip.lan.members())
        if self.server is not None:
            self.server.start()
            self.server.wan_changed()
            self.routines.start("wan-router", functools.partial(
                run_wan_router, self.server.wan_router, self.pool))
        if self.wanfed is not None:
            self.wanfed.start(self.routines,
                              self.server_port.mux if self.server_port is not None else None,
                              self.gossip.wan.driver if self.gossip.wan is not None else None)
        if self.router is not None:
            self.router.update(self.gossip.lan.members())
            router = self.router
            self.routines.start("router-rebalance",
                                lambda: router.run(lambda: len(self.gossip.lan.members())))
        # ports.http = -1 disables the HTTP API; ports.https > 0 adds an HTTPS listener.
        if self.config.http_port >= 0 or self.config.https_port > 0:
            await self._start_http()
        await self._load_registrations()
        self.routines.start("coordinate-sync", self._sync_coordinates)
        self._start_metrics_flush()
        self.routines.start("anti-entropy", self.anti_entropy.run)
        if self.config.dns_port > 0:
            dns = DNSServer(self.dns_resolver, self.config.dns_addr, self.config.dns_port)
            try:
                await dns.start()
            except OSError as err:
                if self.http is not None:
                    await self.http.stop()
                raise ConsulError(f"cannot listen for DNS on {self.config.dns_addr}:"
                                  f"{self.config.dns_port}: {err.strerror or err}") from None
            self.dns = dns
            log.info("DNS server listening on %s:%d (udp and tcp)", self.config.dns_addr,
                     self.config.dns_port)
        if self.config.grpc_port > 0 or self.config.grpc_tls_port > 0:
            await self._start_grpc()
        self.watches.update(self.config.tree.get("watches") or [])
        if self.config.auto_reload_config:
            self.routines.start("config-watch",
                                lambda: watch_config(self._watched_files, self._auto_reload))
        if self.config.pid_file:
            write_pid_file(self.config.pid_file)

    async def _start_http(self) -> None:
        config = self.config
        http = HttpApi(self)
        listeners = []
        if config.http_port >= 0:
            listeners += [("http", host, config.http_port, None)
                          for host in config.http_addr.split()]
        if config.https_port > 0:
            try:
                self._https_switch = ContextSwitch(
                    server_context(config.https_tls, "HTTPS", ["http/1.1"]))
            except ConsulError:
                await self.gossip.stop()
                raise
            listeners += [("https", host, config.https_port, self._https_switch.listening)
                          for host in config.https_addr.split()]
        unix_sockets = config.tree.get("unix_sockets", {})
        for scheme, host, port, context in listeners:
            where = host if host.startswith("unix://") else f"{scheme}://{host}:{port}"
            try:
                await http.start(host, port, context, config.https_handshake_timeout,
                                 unix_sockets)
            except (OSError, ConsulError) as err:
                await http.stop()
                await self.gossip.stop()
                if isinstance(err, ConsulError):
                    raise
                raise ConsulError(f"cannot listen on {where}: {err.strerror or err}") from None
            log.info("HTTP API listening on %s", where)
        self.http = http

    async def _start_grpc(self) -> None:
        """The external gRPC listeners (xDS for Envoy), plain and TLS."""
        config = self.config
        grpc = GrpcServer(self.xds)
        if self.server is not None:
            grpc.add_handler(peerstream_handler(self.server))
        try:
            if config.grpc_port > 0:
                for host in config.grpc_addr.split():
                    grpc.listen(host, config.grpc_port)
            if config.grpc_tls_port > 0:
                self.grpc_certificates = GrpcCertificates(config.grpc_tls, config.node_name)
                for host in config.grpc_tls_addr.split():
                    grpc.listen(host, config.grpc_tls_port, self.grpc_certificates)
            await grpc.start()
        except ConsulError:
            await grpc.stop()
            if self.dns is not None:
                await self.dns.stop()
            if self.http is not None:
                await self.http.stop()
            await self.gossip.stop()
            raise
        self.grpc = grpc
        self.routines.start("grpc-server", grpc.run)
        if self.grpc_certificates is not None and self.server is not None \
                and config.connect_enabled:
            self.server_cert = ServerCertManager(self.rpc, config.datacenter,
                                                 self.grpc_certificates.set_peering,
                                                 self.server.server_management_token)
            self.routines.start("server-certificate", self.server_cert.run)
        self.routines.start("proxycfg-local", self._watch_local_proxies)

    def _proxy_registration(self, proxy_id: str) -> Registration | None:
        local = self.local.services.get(proxy_id)
        if local is None or local.deleted:
            return None
        return Registration(local.service, local.token or self.tokens.default)

    async def _watch_local_proxies(self) -> None:
        """Tell proxycfg whenever the local services (or checks) change."""
        while True:
            await self.local.changed().wait()
            self.proxycfg.local_changed()

    async def _authorize_proxy(self, token: str, service: str) -> None:
        """An xDS stream's token needs ``service:write`` on the proxy's service."""
        Identity.of(await self.acl.resolve(token), token).require("service_write", service)

    async def leave(self) -> None:
        """Leave gracefully (``/v1/agent/leave``, or on terminate); once.

        A server first stops taking new RPCs (callers get a retryable error
        and go elsewhere), so nothing new is proposed while it leaves the Raft
        configuration (a leader removes itself; a follower is removed by the
        leader once gossip shows it left); then it leaves gossip and drains for
        ``leave_drain_time``, as Consul's dwell: RPCs under way are answered, new
        ones refused retryably.
        """
        if self._left:
            return
        self._left = True
        if self.server is None or self.server_port is None:
            await self.gossip.leave()
            return
        log.info("leaving: refusing new RPCs")
        self.server_port.start_draining()
        was_leader = await self.server.leave_raft()
        await self.gossip.leave()
        log.info("leaving: left gossip, draining RPC traffic for %.1fs",
                 self.config.leave_drain_time)
        waits = [self.server_port.dwell(self.config.leave_drain_time)]
        if not was_leader:
            waits.append(self.server.wait_removed(RAFT_REMOVE_GRACE_PERIOD))
        removed = all((await asyncio.gather(*waits))[1:])
        log.info("leaving: done%s", "" if removed else
                 " (still in the raft configuration after the grace period)")

    def _start_metrics_flush(self) -> None:
        """With a statsd or DogStatsD sink, flush it every 100 ms (once started, for good)."""
        if metrics.sinks and not self.routines.is_running("metrics-flush"):
            self.routines.start("metrics-flush", lambda: flush_sinks(metrics))

    def _watch_address(self) -> Address | None:
        """The agent's first HTTP (else HTTPS) listener, as the watches reach it."""
        config = self.config
        for scheme, hosts, port in (("http", config.http_addr, config.http_port),
                                    ("https", config.https_addr, config.https_port)):
            if port <= 0 or not hosts.split():
                continue
            host = hosts.split()[0]
            if host.startswith("unix://"):
                return Address("unix", host[len("unix://"):])
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
            return Address(scheme, host, port)
        return None

    async def stop(self) -> None:
        self.watches.stop_all()
        if self.grpc is not None:
            await self.grpc.stop()
        await self.routines.stop_all()
        await self.proxycfg.stop()
        await self.registry.stop()
        if self.dns is not None:
            await self.dns.stop()
        await self.cache.stop()
        await self.connect_leaf.stop()
        if self.http is not None:
            await self.http.stop()
        await self.gossip.stop()
        if self.server_port is not None:
            await self.server_port.close()
        if self.server is not None:
            await self.server.stop()
        if self.raft is not None:
            await self.raft.stop()
        if self.wanfed is not None:
            await self.wanfed.close()
        await self.pool.close()
        if self.config.pid_file:
            remove_pid_file(self.config.pid_file)

    def routine_statuses(self) -> dict[str, dict]:
        """Every supervised routine of the agent and its server, by name (``/v1/agent/self``;
        an object, as Consul's Go client decodes every top-level key into a map)."""
        statuses = self.routines.statuses()
        if self.server is not None:
            statuses += self.server.routines.statuses()
        return {status.name: status.to_json() for status in statuses}

    def inject_routine_failure(self, name: str) -> bool:
        """Test hook: fail the named routine's current run (agent's or server's)."""
        return self.routines.inject_failure(name) or (
            self.server is not None and self.server.routines.inject_failure(name))

    def catalog_version(self, allow_stale: bool, max_stale_ms: int) -> tuple[int, int] | None:
        """A value that changes whenever a catalog read could answer differently.

        None when a read would not be answered from this agent's own state: it
        is a client, or not the leader and stale reads are off, or too stale.
        """
        if self.server is None:
            return None
        consensus = self.server.consensus
        if not consensus.is_leader() and not (
                allow_stale and consensus.last_contact() * 1000 <= max_stale_ms):
            return None
        store = self.server.store
        return store.generation, store.max_index("nodes", "services", "checks")

    def rpc(self, method: str, request: Any) -> Awaitable[Any]:
        """Call a server endpoint: this agent's own server, or one its router picks.

        Hands back the callee's awaitable (no coroutine of its own on the hot path)."""
        if self.server is not None:
            return self.server.rpc(method, request)
        assert self.client is not None
        return self.client.call(method, request)

    async def snapshot(self, request: SnapshotRequest, upload: BinaryIO | None
                       ) -> tuple[SnapshotResponse, BinaryIO | None]:
        """Save (the archive comes back in a temporary file) or restore (``upload``) a
        snapshot: on this agent's server, or over the snapshot stream to one."""
        if self.server is not None:
            if request.Op == SNAPSHOT_RESTORE:
                assert upload is not None
                return await self.server.snapshots.restore(request, upload), None
            return await self.server.snapshots.save(request)
        assert self.router is not None
        address = self.router.find()
        if address is None:
            raise ConsulError(ERR_NO_SERVERS)
        spool_dir = None if self.config.dev else self.config.data_dir or None
        return await call_server(self.pool, address, request, upload,
                                 lambda: tempfile.TemporaryFile(dir=spool_dir))

    async def _load_registrations(self) -> None:
        """Services and checks from config files, then those persisted from the API."""
        await self._apply_config_registrations(self.config.services, self.config.checks)
        await self.registry.restore()

    async def _apply_config_registrations(self, services: list[dict], checks: list[dict]
                                          ) -> None:
        """Make the config-defined services and checks match the given definitions.

        Unchanged definitions are left alone (no catalog churn on reload); removed ones
        are deregistered; new or changed ones are (re)registered.
        """
        wanted_services = {tree.get("id") or tree.get("name", ""): tree for tree in services}
        wanted_checks = {tree.get("id") or tree.get("check_id") or tree.get("name", ""): tree
                         for tree in checks}
        for sid in set(self._config_services) - set(wanted_services):
            if self.local.service(sid) is not None:
                await self.registry.deregister_service(sid)
        for cid in set(self._config_checks) - set(wanted_checks):
            if self.local.check(cid) is not None:
                await self.registry.deregister_check(cid)
        for sid, tree in wanted_services.items():
            if self._config_services.get(sid) != tree:
                body = service_from_config(tree)
                try:
                    await self.registry.register_service(
                        body, token=body.Token or self.tokens.get("config_file_service_registration"),
                        remote=False, persist=False, replace_existing_checks=True)
                except BadRequest as err:  # Consul names the service definition at fault
                    problem = err.message.removeprefix("Validation failed: ")
                    raise ConsulError(f'service "{tree.get("name", sid)}": {problem}') from None
        for cid, tree in wanted_checks.items():
            if self._config_checks.get(cid) != tree:
                await self.registry.register_check(tree, remote=False, persist=False)
        self._config_services, self._config_checks = wanted_services, wanted_checks

    async def reload(self) -> list[str]:
        """Re-read the config sources; apply services, checks, log level, TLS files, watches
        and telemetry.

        Returns the changed top-level keys that only a restart applies (they are
        logged too); a config error leaves everything as it was, and is logged
        (whether SIGHUP or ``PUT /v1/agent/reload`` asked) before it is raised.
        """
        try:
            return await self._reload()
        except ConfigError as err:
            log.error("Reload config failed: %s", "; ".join(err.problems))
            raise
        except ConsulError as err:
            log.error("Reload config failed: %s", err)
            raise

    def _reload_acl(self, new: AgentConfig) -> list[str]:
        """Apply the agent's ACL tokens, TTLs and down policy; name what needs a restart."""
        old = self.config.acl
        restart = [f"acl.{key}" for key in ("enabled", "default_policy")
                   if getattr(old, key) != getattr(new.acl, key)]
        for key in ("down_policy", "token_ttl", "policy_ttl", "role_ttl", "tokens"):
            setattr(old, key, getattr(new.acl, key))
        self.tokens.reload(new.acl.tokens)
        return restart

    async def _reload(self) -> list[str]:
        cfg = self.config
        new = load_config(cfg.config_paths, cfg.inline_hcl, cfg.flag_tree, dev=cfg.dev,
                          fmt=cfg.config_format)
        for warning in new.warnings:
            log.warning("%s", warning)
        level = LOG_LEVELS.get(new.log_level.lower())
        if level is None:
            raise ConfigError([f"Invalid log level: {new.log_level}"])
        watches = new.tree.get("watches") or []
        self.watches.check(watches)
        telemetry.configure(metrics, new.tree)
        self._start_metrics_flush()
        restart = restart_required(cfg.tree, new.tree) + self._reload_tls(new)
        await self._apply_config_registrations(new.services, new.checks)
        self.watches.update(watches)
        if self.http is not None:
            self.http.app["log_monitor"].set_base_level(level)
        else:
            logging.getLogger().setLevel(level)
        cfg.services, cfg.checks, cfg.log_level = new.services, new.checks, new.log_level
        cfg.http_max_conns_per_client = new.http_max_conns_per_client
        restart += self._reload_acl(new)
        if self.http is not None:
            self.http.conn_limit.limit = new.http_max_conns_per_client
        if restart:
            log.warning("reloaded; these changed settings need a restart: %s",
                        ", ".join(restart))
        else:
            log.info("reloaded configuration")
        return restart

    def _watched_files(self) -> list[str]:
        """auto_reload_config: the config sources, and the TLS files reload re-reads."""
        cfg = self.config
        tls = [getattr(settings, key) for settings in (cfg.https_tls, cfg.rpc_tls)
               for key in ("ca_file", "ca_path", "cert_file", "key_file")]
        return [*cfg.config_paths, *sorted({path for path in tls if path})]

    async def _auto_reload(self) -> None:
        log.info("config files changed: reloading")
        try:
            await self.reload()
        except (ConfigError, ConsulError) as err:
            log.error("auto-reload failed: %s", err)

    def _reload_tls(self, new: AgentConfig) -> list[str]:
        """Re-read the certificate, key and CA files (Consul's reload does): new
        connections use them, open ones keep theirs. A change of policy (verification,
        versions, suites, TLS on or off) needs a restart: then nothing changes and
        ``["tls"]`` is returned. ConsulError, with nothing changed, if a file is bad."""
        cfg = self.config
        if policy(new.https_tls) != policy(cfg.https_tls) or \
                policy(new.rpc_tls) != policy(cfg.rpc_tls):
            return ["tls"]
        https = rpc_in = rpc_out = native = None
        if self._https_switch is not None:
            https = server_context(new.https_tls, "HTTPS", ["http/1.1"])
        mux = self.server_port.mux if self.server_port is not None else None
        if mux is not None and mux.tls is not None:
            rpc_in = server_context(new.rpc_tls, "RPC")
            native = native_tls_context(new.rpc_tls)
        if self.pool.tls is not None:
            rpc_out = client_context(new.rpc_tls)
        if https is not None:
            self._https_switch.current = https
        if rpc_in is not None:
            mux.tls, mux.alpn_tls = rpc_in, native or rpc_in
        if rpc_out is not None:
            self.pool.tls = rpc_out
            if self.raft is not None:
                self.raft.transport.tls = rpc_out
        cfg.https_tls, cfg.rpc_tls = new.https_tls, new.rpc_tls
        return []

    async def _remote_alias(self, node: str, service_id: str):
        """Alias-check source for another node: blocking reads of its checks."""
        index = 0
        while True:
            reply = await self.rpc("Health.NodeChecks", NodeSpecificRequest(
                Datacenter=self.config.datacenter, Node=node, MinQueryIndex=index,
                MaxQueryTime=300_000_000_000, AllowStale=True))
            if reply.Index != index:
                checks = [c for c in reply.HealthChecks
                          if not service_id or c.ServiceID in ("", service_id)]
                exists = not service_id or any(c.ServiceID == service_id for c in checks) or \
                    await self._remote_service_exists(node, service_id)
                yield AliasSnapshot(checks=checks, service_exists=exists)
            index = reply.Index

    async def _remote_service_exists(self, node: str, service_id: str) -> bool:
        reply = await self.rpc("Catalog.NodeServices", NodeSpecificRequest(
            Datacenter=self.config.datacenter, Node=node, AllowStale=True))
        return reply.NodeServices is not None and service_id in reply.NodeServices.Services

    # ---- gossip events --------------------------------------------------------

    def _on_gossip_event(self, pool: str, event: SerfEvent) -> None:
        if isinstance(event, MemberEvent):
            for member in event.members:
                log.info("serf %s: EventMember%s: %s %s", pool, event.type.name.title(),
                         member.name, member.addr)
        if pool == "lan" and isinstance(event, MemberEvent):
            if self.raft is not None:
                self.raft.members_changed(self.gossip.lan.members())
            if self.router is not None:
                self.router.update(self.gossip.lan.members())
            if event.type == MemberEventType.JOIN and any(
                    m.tags.get("role") == "consul" for m in event.members):
                self.anti_entropy.trigger_full_sync()  # a server is up: sync now (Consul too)
                self.gossip.flood_wan()
            if self.server is not None:
                self.server.autopilot.notify()
                reaped = event.type == MemberEventType.REAP
                for member in event.members:
                    self.server.reconciler.notify(member_state(member, reaped))
        elif pool == "wan" and isinstance(event, MemberEvent) and self.server is not None:
            self.server.wan_changed()
        elif pool == "lan" and isinstance(event, UserEvent):
            record = self.user_events.received(event)
            if record is not None and record.Name == remote_exec.EVENT_NAME:
                self._remote_exec(record)

    def _remote_exec(self, record: UserEventRecord) -> None:
        """Run a ``consul exec`` job unless ``disable_remote_exec`` (true by default)."""
        if self.config.tree.get("disable_remote_exec", True):
            log.info("ignoring remote exec event (%s), disabled.", record.ID)
            return
        try:
            prefix, session = remote_exec.parse_event(record.Payload)
        except remote_exec.RemoteExecError as err:
            log.error("%s", err)
            return
        job = remote_exec.RemoteExecJob(prefix, session, self.config.node_name,
                                        self.config.datacenter, self.rpc,
                                        lambda: self.tokens.agent)
        self.routines.start(f"remote-exec-{record.ID}", job.run)

    def _local_services(self):
        return list(self.local.live_services().values())

    def _wan_coordinates(self) -> list[tuple[str, CoordinateEntry]]:
        wan = self.gossip.wan
        if wan is None:
            return []
        entries = []
        for member in wan.members():
            name, _, dc = member.name.rpartition(".")
            coord = wan.serf.coordinate_cache.get(member.name)
            if member.name == wan.serf.name and wan.serf.coordinates is not None:
                coord = wan.serf.coordinates.coordinate
            if coord is not None and name:
                entries.append((dc, CoordinateEntry(Node=member.name, Coord=_coordinate(coord))))
        return entries

    def lan_coordinate(self) -> Coordinate | None:
        """This node's network coordinate in the LAN pool (None with coordinates off)."""
        coordinates = self.gossip.lan.serf.coordinates
        return None if coordinates is None else _coordinate(coordinates.coordinate)

    async def _sync_coordinates(self) -> None:
        """Send this node's LAN coordinate to the servers now and then (first at once)."""
        while (coord := self.lan_coordinate()) is not None:
            try:
                await self.rpc("Coordinate.Update", CoordinateUpdateRequest(
                    Node=self.config.node_name, Datacenter=self.config.datacenter,
                    Coord=coord, Token=self.tokens.agent))
            except ConsulError as err:
                log.warning("coordinate update failed: %s", err)
            await asyncio.sleep(COORDINATE_SYNC_INTERVAL)


def _coordinate(coord) -> Coordinate:
    return Coordinate(Vec=list(coord.vec), Error=coord.error, Adjustment=coord.adjustment,
                      Height=coord.height)
