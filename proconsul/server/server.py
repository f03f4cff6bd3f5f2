"""Server mode: the state store, FSM and consensus, the endpoints, leader routines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.fsm.fsm import FSM, CommandError
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.routine import RoutineManager
from proconsul.raft.inmem import InmemConsensus
from proconsul.raft.interface import Consensus, ConsensusError, NoLeaderError, NotLeaderError
from proconsul.rpc.pool import ConnPool
from proconsul.server.acl.leader import ACLLeader
from proconsul.server.acl.resolver import TokenResolver
from proconsul.server.acl_enforce import Enforcer
from proconsul.server.autopilot import Autopilot
from proconsul.server.blocking import run_blocking
from proconsul.server.connect.ca_manager import CAManager
from proconsul.server.connect.discovery_chain import validate_proposed
from proconsul.server.endpoints import register_all
from proconsul.server.endpoints.prepared_query import FailoverRoute
from proconsul.server.federation.anti_entropy import FederationStateAntiEntropy
from proconsul.server.federation.locator import GatewayLocator
from proconsul.server.federation.pruning import FederationStatePruner
from proconsul.server.forward import (
    RPC_HOLD_TIMEOUT,
    Forwarder,
    LeaderUnavailable,
    global_write,
)
from proconsul.server.peering.deletion import PeeringDeleter
from proconsul.server.peering.materials import GRPC_TLS_PORT_META
from proconsul.server.peering.stream.manager import PeeringStreams
from proconsul.server.query_failover import WANFailoverRoute
from proconsul.server.reconcile import MemberReconciler, MemberState
from proconsul.server.replication.acl import ACLPolicies, ACLRoles, ACLTokens
from proconsul.server.replication.config_entries import ConfigEntries
from proconsul.server.replication.federation_states import FederationStates
from proconsul.server.replication.progress import RaftProgress
from proconsul.server.replication.replicator import ReplicatedType, Replicator
from proconsul.server.session_timers import SessionTimers
from proconsul.server.snapshot import Snapshots
from proconsul.server.tombstone_gc import TombstoneGC
from proconsul.server.wan_router import WANRouter
from proconsul.state.store import Store
from proconsul.structs.catalog import (
    HEALTH_PASSING,
    SERF_CHECK_ALIVE_OUTPUT,
    SERF_CHECK_ID,
    SERF_CHECK_NAME,
    HealthCheck,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.config_entry_rpc import OP_UPSERT_CAS, ConfigEntryRequest
from proconsul.structs.coordinate import Coordinate, CoordinateEntry
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.keyring import KeyringResponse
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.operator import AutopilotConfig, AutopilotSetConfigRequest
from proconsul.structs.query import QueryMeta, QueryOptions
from proconsul.structs.session import SESSION_TTL_MIN_NS
from proconsul.structs.snapshot import SnapshotRequest
from proconsul.structs.system_metadata import SERVER_MANAGEMENT_TOKEN

log = logging.getLogger(__name__)

RAFT_APPLY_TIMEOUT = 30.0


class ServerConfig(msgspec.Struct):
    """What a server needs to know about itself."""

    datacenter: str = "dc1"
    replication_rate: float = 1.0  # rounds a second per replicated type (Consul's default)
    replication_burst: int = 5
    node_name: str = "proconsul"
    node_id: str = ""
    advertise_addr: str = "127.0.0.1"
    server_port: int = 8300
    serf_lan_port: int = 8301
    grpc_tls_port: int = -1  # ports.grpc_tls: peering tokens give <address>:<this>
    peering_enabled: bool = True  # peering.enabled
    tombstone_ttl: float = 15 * 60.0
    tombstone_granularity: float = 30.0
    session_ttl_min_ns: int = SESSION_TTL_MIN_NS
    coordinate_update_period: float = 5.0
    rpc_hold_timeout: float = RPC_HOLD_TIMEOUT
    autopilot: AutopilotConfig = msgspec.field(default_factory=AutopilotConfig)
    config_entries: list[dict[str, Any]] = []  # config_entries.bootstrap, already validated
    connect_enabled: bool = False
    ca_provider: str = "consul"
    ca_config: dict[str, Any] = msgspec.field(default_factory=dict)  # CamelCase keys
    primary_datacenter: str = ""  # empty: this datacenter
    data_dir: str = ""  # acl-bootstrap-reset and snapshot temp files; empty in -dev
    acl_enabled: bool = False
    acl_default_policy: str = "allow"
    acl_initial_management: str = ""
    acl_enable_key_list_policy: bool = False
    acl_replication_token: str = ""
    acl_token_replication: bool = False  # acl.enable_token_replication


Endpoint = Callable[[Any], Awaitable[Any]]


class Server:
    """A Consul server: answers endpoint calls (``Catalog.Register``, ``KVS.Get`` ...).

    Endpoints are reached by name through :meth:`rpc`, in process for the
    local agent and over the RPC port for others; ``pool`` carries requests
    this server forwards to the leader.
    """

    def __init__(self, config: ServerConfig,
                 make_consensus: Callable[[FSM], Consensus] | None = None,
                 pool: ConnPool | None = None) -> None:
        self.config = config
        if not config.node_id:
            config.node_id = str(uuid.uuid4())
        self.store = Store()
        self.store.chain_validator = validate_proposed
        self.fsm = FSM(self.store)
        self.consensus: Consensus = (
            make_consensus(self.fsm) if make_consensus is not None
            else InmemConsensus(self.fsm, f"{config.advertise_addr}:{config.server_port}",
                                config.node_id))
        self.forwarder = Forwarder(self.consensus, pool, datacenter=config.datacenter,
                                   hold_timeout=config.rpc_hold_timeout,
                                   primary_datacenter=config.primary_datacenter)
        self.routines = RoutineManager()
        self.blocking_queries = 0
        self.session_timers = SessionTimers(self)
        self.tombstone_gc = TombstoneGC(self, config.tombstone_ttl, config.tombstone_granularity)
        self.store.on_tombstone = self.tombstone_gc.hint
        self.reconciler = MemberReconciler(self)
        self.autopilot = Autopilot(self)
        self.ca = CAManager(self)
        self.acl = TokenResolver(self.store, config.datacenter, config.acl_default_policy,
                                 enabled=config.acl_enabled, primary=self.is_primary)
        self.acl_leader = ACLLeader(self)
        self.snapshots = Snapshots(self, config.data_dir or None)
        self.lan_members: Callable[[], list[MemberState]] = list
        self.wan_coordinates: Callable[[], list[tuple[str, CoordinateEntry]]] = list
        # How PreparedQuery.Execute fails over to other datacenters.
        self.query_failover: FailoverRoute = WANFailoverRoute(self)
        self.wan_members: Callable[[], list[MemberState]] = list
        self.fire_user_event: Callable[[str, bytes], None] | None = None
        # Runs a keyring operation (Consul's name, base64 key) on the WAN (True) or LAN pool.
        self.keyring: Callable[[bool, str, str], Awaitable[KeyringResponse]] | None = None
        self.wan_router = WANRouter(config.datacenter)
        self.forwarder.wan = self.wan_router
        self.authz = Enforcer(self.acl)
        self.snapshots.authorize = self._snapshot_allowed
        self.replicators: list[Replicator] = []
        primary = config.primary_datacenter or config.datacenter
        if primary != config.datacenter:
            kinds: list[ReplicatedType] = [ConfigEntries(self), FederationStates(self)]
            if config.acl_enabled:
                kinds += [ACLPolicies(self), ACLRoles(self)]
                if config.acl_token_replication:
                    kinds.append(ACLTokens(self))
            progress = RaftProgress(self)
            self.replicators = [Replicator(kind, primary, config.replication_rate,
                                           config.replication_burst, progress)
                                for kind in kinds]
            self.forwarder.global_write = self._global_write
        self.federation_anti_entropy = FederationStateAntiEntropy(self)
        self.peering_streams = PeeringStreams(self)
        self.peering_deleter = PeeringDeleter(self)
        self.peering_deleter.cleanups.append(self.peering_streams.cleanup)
        self.federation_pruner = FederationStatePruner(self)
        # With WAN federation through mesh gateways: which gateway reaches which DC.
        self.gateway_locator: GatewayLocator | None = None
        self.endpoints: dict[str, Endpoint] = {}
        register_all(self)
        self._revoking: asyncio.Task | None = None
        self.consensus.on_leadership_change(self._leadership_changed)

    def _global_write(self, method: str, request: Any) -> bool:
        """:func:`global_write`, and deletes of tokens this datacenter does not hold as
        local (Consul sends those to the primary)."""
        if method == "ACL.TokenDelete":
            token = self.store.acl_token_get(None, request.TokenID)[1]
            return token is None or not token.Local
        return global_write(method, request)

    def server_management_token(self) -> str:
        """The servers' internal management secret (empty before a leader with ACLs on
        wrote one): what a server presents when it calls its own cluster's RPCs."""
        entry = self.store.system_metadata_get(SERVER_MANAGEMENT_TOKEN)
        return entry.Value if entry is not None else ""

    @property
    def is_primary(self) -> bool:
        """Whether this is the primary datacenter (where ACLs are bootstrapped)."""
        primary = self.config.primary_datacenter
        return not primary or primary == self.config.datacenter

    def start(self) -> None:
        if isinstance(self.consensus, InmemConsensus):
            self.consensus.start()

    async def stop(self) -> None:
        await self.routines.stop_all()
        self.session_timers.clear()
        self.tombstone_gc.disable()

    # ---- the WAN -------------------------------------------------------------

    def wan_changed(self) -> None:
        """WAN membership changed: route by the new member list."""
        self.wan_router.update(self.wan_members())
        self.federation_pruner.wan_changed(self.wan_router.datacenters())

    @property
    def wan_name(self) -> str:
        return f"{self.config.node_name}.{self.config.datacenter}"

    def wan_coordinate_map(self) -> tuple[Coordinate | None, dict[str, Coordinate]]:
        """This server's WAN coordinate and every known server's, by WAN member name."""
        coordinates = {entry.Node: entry.Coord for _, entry in self.wan_coordinates()}
        return coordinates.get(self.wan_name), coordinates

    def datacenters_by_distance(self) -> list[str]:
        """Known datacenters, nearest first by WAN coordinates (Consul's ListDatacenters)."""
        return self.wan_router.datacenters_by_distance(*self.wan_coordinate_map())

    # ---- calls --------------------------------------------------------------

    def rpc(self, method: str, request: Any) -> Awaitable[Any]:
        """Call endpoint ``method`` (e.g. ``"KVS.Apply"``) with its request struct,
        on this server or the leader (see :mod:`proconsul.server.forward`).

        Hands back the forwarder's coroutine (no coroutine of its own on the hot path)."""
        endpoint = self.endpoints.get(method)
        if endpoint is None:
            return self._unknown_method(method)
        return self.forwarder.run(method, request, endpoint)

    async def _unknown_method(self, method: str) -> Any:
        service = method.partition(".")[0]
        if not any(name.startswith(service + ".") for name in self.endpoints):
            raise ConsulError(f"rpc: can't find service {service}")
        raise ConsulError(f"rpc: can't find method {method}")

    async def raft_apply(self, message_type: MessageType, request: msgspec.Struct) -> Any:
        """Commit one command; the single place a write's error comes from.

        Consensus failures (logged here, once) and the FSM's own refusal both
        surface as a :class:`ConsulError` the caller can show as is.  Refused
        before proposing because this server does not lead, the command raises
        :class:`LeaderUnavailable`, which the forwarder retries on the leader.
        """
        future = self.raft_submit(message_type, request)
        with contextlib.suppress(Exception):  # raft_outcome says what went wrong
            await future
        return self.raft_outcome(message_type, future)

    def raft_submit(self, message_type: MessageType, request: msgspec.Struct
                    ) -> asyncio.Future[Any]:
        """:meth:`raft_apply` in two halves, for callers that go on in a callback: propose
        now (:class:`LeaderUnavailable` or the consensus error at once), then
        :meth:`raft_outcome` reads the future when it is done."""
        data = encode_command(message_type, request)
        metrics.incr_counter("consul.raft.apply")
        try:
            return self.consensus.submit(data, timeout=RAFT_APPLY_TIMEOUT)
        except (NoLeaderError, NotLeaderError):
            raise LeaderUnavailable() from None
        except ConsensusError as err:
            raise self._apply_failed(message_type, err) from None

    def raft_outcome(self, message_type: MessageType, future: asyncio.Future[Any]) -> Any:
        """The FSM's response to a command :meth:`raft_submit` proposed, or the error."""
        try:
            response = future.result()
        except (NoLeaderError, NotLeaderError):
            raise LeaderUnavailable() from None
        except (ConsensusError, TimeoutError) as err:
            raise self._apply_failed(message_type, err) from None
        if isinstance(response, CommandError):
            raise BadRequest(str(response))
        return response

    @staticmethod
    def _apply_failed(message_type: MessageType, err: Exception) -> ConsulError:
        why = str(err) or f"timed out after {RAFT_APPLY_TIMEOUT:.0f}s"
        log.error("raft apply of %s failed: %s", message_type.name, why)
        return ConsulError(f"raft apply failed: {why}")

    async def blocking_query(self, opts: QueryOptions, meta: QueryMeta,
                             query: Callable[[Any], int]) -> None:
        """Serve a read with Consul's blocking and consistency semantics."""
        metrics.incr_counter("consul.rpc.query")
        if opts.RequireConsistent:
            try:
                await self.consensus.verify_leader()
            except ConsensusError:
                raise LeaderUnavailable() from None
        if opts.MinQueryIndex == 0:  # a plain read: skip the blocking machinery
            meta.Index = max(query(None), 1)
        else:
            self.blocking_queries += 1
            metrics.set_gauge("consul.rpc.queries_blocking", self.blocking_queries)
            try:
                meta.Index = await run_blocking(self.store.watches,
                                                lambda: self.store.generation, opts, query)
            finally:
                self.blocking_queries -= 1
                metrics.set_gauge("consul.rpc.queries_blocking", self.blocking_queries)
        self.set_query_meta(meta, opts)

    async def read_into(self, opts: QueryOptions, reply: QueryMeta, field: str,
                        read: Callable[[Any], tuple[int, Any]],
                        shape: Callable[[Any], Any] | None = None,
                        acl: Callable[[Any, Any], Any] | None = None) -> Any:
        """Blocking read whose result (passed through ``shape``, then through the ACL
        filter ``acl(result, reply)``) lands in ``reply.<field>``."""

        def query(ws) -> int:
            index, result = read(ws)
            if shape is not None:
                result = shape(result)
            if acl is not None:
                reply.ResultsFilteredByACLs = False
                result = acl(result, reply)
            setattr(reply, field, result)
            return index

        await self.blocking_query(opts, reply, query)
        return reply

    async def _snapshot_allowed(self, request: SnapshotRequest) -> None:
        """Consul lets a snapshot be saved or restored by a management token only."""
        self.authz.resolve(request.Token).require("snapshot")

    def set_query_meta(self, meta: QueryMeta, opts: QueryOptions) -> None:
        if self.consensus.is_leader():
            meta.LastContact = 0
            meta.KnownLeader = True
        else:
            meta.LastContact = int(self.consensus.last_contact() * 1000)
            meta.KnownLeader = self.consensus.leader_address() is not None
        if opts.RequireConsistent:
            meta.ConsistencyLevel = "consistent"
        elif opts.AllowStale:
            meta.ConsistencyLevel = "stale"
        else:
            meta.ConsistencyLevel = "leader"

    # ---- leaving --------------------------------------------------------------

    async def leave_raft(self) -> bool:
        """First step of a graceful leave; returns whether this server was the leader.

        A leader with other voters removes itself from the configuration (and so
        steps down).  A follower is removed by the leader once gossip shows it
        left (see :class:`MemberReconciler`); :meth:`wait_removed` waits for that.
        """
        # Nothing more of this datacenter's gateways goes to the primary: once the
        # primary prunes a departed datacenter, a leaving leader must not write it back.
        await self.routines.stop("federation-state-anti-entropy")
        if not self.consensus.is_leader():
            return False
        if len(self.consensus.peers()) > 1:
            log.info("leaving: removing this server from the raft configuration")
            try:
                await self.consensus.remove_server(self.config.node_id,
                                                   timeout=RAFT_APPLY_TIMEOUT)
            except (ConsensusError, TimeoutError) as err:
                log.error("leaving: failed to remove this server from raft: %s", err or
                          "timed out")
        return True

    async def wait_removed(self, timeout: float) -> bool:
        """Wait (bounded) until this server is no longer a voter; False if it still is."""
        address = f"{self.config.advertise_addr}:{self.config.server_port}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Raft reports no configuration changes: look, as Consul does, every 50 ms.
        while address in self.consensus.peers() and len(self.consensus.peers()) > 1:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # ---- leadership ---------------------------------------------------------

    def _leadership_changed(self, is_leader: bool) -> None:
        log.info("cluster leadership %s", "acquired" if is_leader else "lost")
        if is_leader:
            self.routines.start("establish-leadership", self._establish_leadership)
        else:
            self.session_timers.clear()
            self.tombstone_gc.disable()
            self._revoking = asyncio.get_running_loop().create_task(self.routines.stop_all())

    async def _establish_leadership(self) -> None:
        start = metrics.timer()
        await self.consensus.barrier()
        metrics.measure_since("consul.leader.barrier", start)
        self.tombstone_gc.enable()
        self.session_timers.initialize()
        await self.register_self()
        if self.store.autopilot_config is None:
            # A new cluster starts from this server's autopilot {} settings, as Consul's does.
            await self.raft_apply(MessageType.AUTOPILOT,
                                  AutopilotSetConfigRequest(Config=self.config.autopilot))
        await self.bootstrap_config_entries()
        if self.config.acl_enabled:
            await self.acl_leader.initialize()
            self.routines.start("acl-token-reaping", self.acl_leader.reap_expired)
        self.routines.start("reconcile", self.reconciler.run)
        self.routines.start("autopilot", self.autopilot.run)
        if self.config.connect_enabled:
            self.routines.start("connect-ca", self.ca.run)
        for replicator in self.replicators:
            self.routines.start(f"replication-{replicator.kind.name}", replicator.run)
        self.routines.start("federation-state-anti-entropy", self.federation_anti_entropy.run)
        if self.is_primary:
            self.routines.start("federation-state-pruning", self.federation_pruner.run)
        if self.config.peering_enabled:
            self.routines.start("peering-deletion", self.peering_deleter.run)
            self.routines.start("peering-streams", self.peering_streams.run)

    async def reassert_leadership(self) -> None:
        """Run the leader's routines again from the start on replaced state (after a
        snapshot restore), as Consul's reassertLeaderCh: timers, GC, CA, autopilot."""
        self.session_timers.clear()
        self.tombstone_gc.disable()
        await self.routines.stop_all()
        if self.consensus.is_leader():
            self.routines.start("establish-leadership", self._establish_leadership)

    async def bootstrap_config_entries(self) -> None:
        """Write the configured bootstrap entries that the cluster does not have yet
        (a CAS on "absent", as Consul's leader does; existing entries are left alone)."""
        for raw in self.config.config_entries:
            kind, name = raw.get("Kind", ""), raw.get("Name", "")
            if self.store.config_entry_get(None, kind, name)[1] is not None:
                continue
            request = ConfigEntryRequest(Op=OP_UPSERT_CAS, Datacenter=self.config.datacenter,
                                         Entry={**raw, "ModifyIndex": 0})
            try:
                await self.raft_apply(MessageType.CONFIG_ENTRY, request)
            except ConsulError as err:
                log.error('failed to apply configuration entry "%s" / "%s": %s', kind, name,
                          err.message)

    async def register_self(self) -> None:
        """Put this server in the catalog with its serfHealth check and the consul service."""
        cfg = self.config
        await self.raft_apply(MessageType.REGISTER, RegisterRequest(
            Datacenter=cfg.datacenter, ID=cfg.node_id, Node=cfg.node_name,
            Address=cfg.advertise_addr,
            TaggedAddresses={"lan": cfg.advertise_addr, "lan_ipv4": cfg.advertise_addr,
                             "wan": cfg.advertise_addr, "wan_ipv4": cfg.advertise_addr},
            NodeMeta={"consul-network-segment": "", "consul-version": CONSUL_COMPAT_VERSION},
            Service=NodeService(ID="consul", Service="consul", Port=cfg.server_port,
                                Meta={"raft_version": "3", "serf_protocol_current": "2",
                                      "serf_protocol_max": "5", "serf_protocol_min": "1",
                                      "version": CONSUL_COMPAT_VERSION,
                                      **({GRPC_TLS_PORT_META: str(cfg.grpc_tls_port)}
                                         if cfg.grpc_tls_port > 0 else {})}),
            Check=HealthCheck(Node=cfg.node_name, CheckID=SERF_CHECK_ID, Name=SERF_CHECK_NAME,
                              Status=HEALTH_PASSING, Output=SERF_CHECK_ALIVE_OUTPUT),
        ))
