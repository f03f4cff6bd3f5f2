"""The CA manager: the leader's side of the Connect CA (Consul's CAManager).

On gaining leadership in the primary datacenter it initialises the CA if the
cluster has none (a cluster ID, the configuration, a root and the provider's
key, all committed through raft), then prunes rotated-out roots every
``prune_interval``. It signs leaves for ConnectCA.Sign, intermediates of
secondary datacenters for ConnectCA.SignIntermediate, and applies
ConnectCA.ConfigurationSet, rotating the root with cross-signing when the key
changes.

In a secondary datacenter the leader instead watches the primary's roots (a
blocking ConnectCA.Roots there): it takes the primary's cluster ID, makes its
own key, has the primary sign its intermediate, mirrors the primary's roots
with that intermediate on the active one (:mod:`.ca.secondary`), and asks for a
new intermediate whenever the primary's active root changes or half of the
intermediate's lifetime has passed.

Serial numbers come from the replicated counter, reserved in blocks with one
raft write each: a block belongs to the server that committed it, so no two
servers ever issue the same serial, even across leader changes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.lib.connect_pki import PKIError, load_csr
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.server.connect.ca import (
    ConsulCAProvider,
    CSRLimiter,
    InvalidCSR,
    check_leaf_identity,
    initial_root,
    parse_leaf_csr,
    primary_root_update,
    prune_roots,
    rotate_roots,
    sign_leaf,
)
from proconsul.server.connect.ca.secondary import (
    ERR_NO_PRIMARY_ROOT,
    cluster_id_of,
    intermediate_renewal_reason,
    secondary_active_root,
    secondary_roots,
)
from proconsul.server.replication.replicator import RateLimiter, ReplicationState
from proconsul.state.connect_ca import ROOTS_INDEX
from proconsul.structs.connect import (
    CA_OP_INCREMENT_PROVIDER_SERIAL,
    CA_OP_SET_CONFIG,
    CA_OP_SET_PROVIDER_STATE,
    CA_OP_SET_ROOTS,
    CA_OP_SET_ROOTS_AND_CONFIG,
    CONSUL_CA_PROVIDER,
    CAConfigError,
    CAConfiguration,
    CAConsulProviderState,
    CARequest,
    CASignRequest,
    IndexedCARoots,
    IssuedCert,
    parse_ca_config,
)
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

ERR_CONNECT_NOT_ENABLED = "Connect must be enabled in order to use this endpoint"
ERR_PROVIDER_NIL = "internal error: CA provider is nil"
ERR_STATE_READ_ONLY = ("Provider State is read-only. It must be omitted or identical to the "
                       "current value")
ERR_CAS_LOST = "CA roots or configuration changed during the update; try again"
ERR_NOT_PRIMARY = "not the primary datacenter"
SERIAL_BLOCK = 256
PRUNE_INTERVAL = 3600.0  # Consul checks for prunable roots hourly
WATCH_BACKOFF_MIN = 0.25  # a failed look at the primary's roots is retried after this ...
WATCH_BACKOFF_MAX = 8.0  # ... doubling up to this
WATCH_FAILURES = (ConsulError, RPCError, RPCConnectionError, RPCDialError, RPCTimeout,
                  TimeoutError)

# Consul's server defaults for a new cluster's CA configuration.
DEFAULT_CA_CONFIG = {"LeafCertTTL": "72h", "IntermediateCertTTL": "8760h",
                     "RootCertTTL": "87600h"}


def _configured_cluster_id(ca_config: dict | None) -> str:
    """``ca_config.cluster_id`` if it is a UUID (Consul allows it, meant for tests)."""
    value = (ca_config or {}).get("cluster_id")
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else ""
    except ValueError:
        log.warning("connect: ca_config.cluster_id %r is not a UUID; ignoring it", value)
        return ""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CAManager:
    """The leader's CA: initialisation, leaf signing, configuration changes, pruning."""

    def __init__(self, server: Server, prune_interval: float = PRUNE_INTERVAL) -> None:
        self.server = server
        self.prune_interval = prune_interval
        self.provider: ConsulCAProvider | None = None
        self.limiter = CSRLimiter()
        self._serials: deque[int] = deque()
        self._lock = asyncio.Lock()  # one initialisation or configuration change at a time
        # Secondary: how following the primary's roots goes (shown in federation status).
        self.replication = ReplicationState(
            enabled=self.enabled and not server.is_primary, replication_type="connect-ca-roots",
            source_datacenter=server.config.primary_datacenter)

    @property
    def enabled(self) -> bool:
        return self.server.config.connect_enabled

    @property
    def primary_datacenter(self) -> str:
        return self.server.config.primary_datacenter or self.server.config.datacenter

    def require_enabled(self) -> None:
        if not self.enabled:
            raise ConsulError(ERR_CONNECT_NOT_ENABLED)

    # ---- leader routine -----------------------------------------------------------

    async def run(self) -> None:
        """Initialise the CA, then prune rotated-out roots periodically; in a secondary
        datacenter, follow the primary's roots instead."""
        if not self.server.is_primary:
            await self.follow_primary()
            return
        await self.initialize()
        while True:
            await asyncio.sleep(self.prune_interval)
            await self.prune()

    async def initialize(self) -> None:
        """Make the cluster's CA if it has none; load the provider from the stored state."""
        async with self._lock:
            store = self.server.store
            config = store.ca_config
            if config is None or not config.ClusterID:
                cfg = self.server.config
                config = CAConfiguration(
                    Provider=cfg.ca_provider or CONSUL_CA_PROVIDER,
                    Config={**DEFAULT_CA_CONFIG, **(cfg.ca_config or {})},
                    ClusterID=_configured_cluster_id(cfg.ca_config) or str(uuid.uuid4()))
                self._parse(config)
                await self._apply(CARequest(Op=CA_OP_SET_CONFIG, Config=config))
                config = store.ca_config
            provider = self._provider_for(config)
            active = store.ca_active_root()
            if provider.state.RootCert and active is not None and \
                    active.RootCert.strip() == provider.state.RootCert.strip():
                self._install(provider, config)
                return
            serial = await self._next_serial()
            root, state = initial_root(provider, config.Provider, config.ClusterID, serial,
                                       _now())
            await self._commit_state(provider, state)
            if active is None or active.ID != root.ID:
                index, roots = store.ca_roots_read(None)
                new_roots = rotate_roots(roots, root, _now()) if roots else [root]
                if not await self._apply(CARequest(Op=CA_OP_SET_ROOTS, Index=index,
                                                   Roots=new_roots)):
                    raise ConsulError(ERR_CAS_LOST)
                log.info("connect: initialized primary datacenter CA with provider %s",
                         config.Provider)
            self._install(provider, config)

    async def follow_primary(self) -> None:
        """Secondary leader: a blocking watch on the primary's roots, bringing ours up to
        date on every answer (a timed-out wait re-checks the intermediate's age).
        Failures (primary unreachable, not initialised yet) back off and retry; looks
        are rate limited as the replicators' rounds are."""
        limiter = RateLimiter(self.server.config.replication_rate,
                              self.server.config.replication_burst)
        state = self.replication
        index, failures, state.running = 0, 0, True
        try:
            while True:
                await limiter.wait()
                try:
                    roots = await self.server.rpc("ConnectCA.Roots", DCSpecificRequest(
                        Datacenter=self.primary_datacenter, MinQueryIndex=index))
                    await self.secondary_update(roots)
                except WATCH_FAILURES as err:
                    failures += 1
                    state.last_error, state.last_error_message = time.time(), str(err)
                    log.error("connect: CA root replication failed, will retry: %s", err)
                    await asyncio.sleep(min(WATCH_BACKOFF_MAX,
                                            WATCH_BACKOFF_MIN * 2 ** (failures - 1)))
                    continue
                failures = 0
                index = roots.Index if roots.Index >= index else 0
                state.replicated_index, state.last_success = index, time.time()
                state.rounds += 1
        finally:
            state.running = False

    async def secondary_update(self, primary: IndexedCARoots) -> None:
        """Take the primary's roots: set our cluster ID to the primary's, get a new
        intermediate signed if ours is missing, for another root or half used, and
        store the mirrored roots (and config) in one raft write."""
        active = next((r for r in primary.Roots or ()
                       if r.Active and primary.ActiveRootID == r.ID), None)
        if not primary.TrustDomain or active is None:
            raise ConsulError(ERR_NO_PRIMARY_ROOT)
        async with self._lock:
            store = self.server.store
            config = store.ca_config
            cluster_id = cluster_id_of(primary)
            new_config = None
            if config is None or config.ClusterID != cluster_id:
                cfg = self.server.config
                new_config = replace(config or CAConfiguration(
                    Provider=cfg.ca_provider or CONSUL_CA_PROVIDER,
                    Config={**DEFAULT_CA_CONFIG, **(cfg.ca_config or {})}), ClusterID=cluster_id)
            provider = self._provider_for(new_config or config)
            reason = intermediate_renewal_reason(provider.state, active, _now())
            if reason:
                log.info("connect: requesting a new intermediate from the primary "
                         "datacenter: %s", reason)
                csr, provider.state = provider.generate_intermediate_csr()
                signed = await self.server.rpc("ConnectCA.SignIntermediate", CASignRequest(
                    Datacenter=self.primary_datacenter, CSR=csr,
                    Token=self.server.config.acl_replication_token))
                await self._commit_state(provider,
                                         provider.set_intermediate(signed, active.RootCert))
                log.info("connect: received new intermediate certificate from primary "
                         "datacenter")
            our_active = secondary_active_root(active, provider.state.IntermediateCert)
            index, stored = store.ca_roots_read(None)
            roots = secondary_roots(stored, primary.Roots or [], our_active, _now())
            if new_config is not None:
                done = await self._apply(CARequest(
                    Op=CA_OP_SET_ROOTS_AND_CONFIG, Index=index, Config=new_config,
                    Roots=roots if roots is not None else stored))
            elif roots is not None:
                done = await self._apply(CARequest(Op=CA_OP_SET_ROOTS, Index=index,
                                                   Roots=roots))
            else:
                done = True
            if not done:
                raise ConsulError(ERR_CAS_LOST)
            if roots is not None:
                log.info("connect: updated root certificates from primary datacenter")
            self._install(provider, store.ca_config)

    async def prune(self) -> None:
        """Drop roots rotated out more than two leaf lifetimes ago."""
        store = self.server.store
        if store.ca_config is None:
            return
        leaf_ttl = self._parse(store.ca_config).leaf_cert_ttl
        index, roots = store.ca_roots_read(None)
        kept = prune_roots(roots, _now(), leaf_ttl)
        if kept is None:
            return
        for root in roots:
            if root not in kept:
                log.info("connect: pruning old unused root CA: id=%s", root.ID)
        await self._apply(CARequest(Op=CA_OP_SET_ROOTS, Index=index, Roots=kept))

    # ---- endpoints ----------------------------------------------------------------

    async def sign(self, req: CASignRequest) -> IssuedCert:
        """A leaf for the CSR; the CSR's key stays with whoever made it."""
        self.require_enabled()
        csr, identity = parse_leaf_csr(req.CSR)
        store = self.server.store
        config = store.ca_config
        active = store.ca_active_root()
        if config is None or active is None:
            raise ConsulError(ERR_PROVIDER_NIL)
        provider = self.provider
        if provider is None or provider.state.RootCert.strip() != active.RootCert.strip():
            provider = self._load_provider(config, active.RootCert)
        if not provider.is_primary and (active.IntermediateCerts or [""])[-1].strip() != \
                provider.active_leaf_signing_cert().strip():
            raise ConsulError(ERR_PROVIDER_NIL)  # our intermediate is being replaced
        identity = check_leaf_identity(identity, cluster_id=config.ClusterID,
                                       datacenter=self.server.config.datacenter)
        async with self.limiter.slot():
            serial = await self._next_serial()
            return sign_leaf(provider, csr, identity, active, serial=serial, now=_now(),
                             index=store.max_index(ROOTS_INDEX))

    async def sign_intermediate(self, req: CASignRequest) -> str:
        """Primary only: an intermediate (PEM) for a secondary datacenter's CSR, signed
        with the active root's key."""
        self.require_enabled()
        if not self.server.is_primary:
            raise ConsulError(ERR_NOT_PRIMARY)
        try:
            csr = load_csr(req.CSR)
        except PKIError as exc:
            raise InvalidCSR(str(exc)) from None
        store = self.server.store
        config, active = store.ca_config, store.ca_active_root()
        if config is None or active is None:
            raise ConsulError(ERR_PROVIDER_NIL)
        provider = self.provider
        if provider is None or provider.state.RootCert.strip() != active.RootCert.strip():
            provider = self._load_provider(config, active.RootCert)
        return provider.sign_intermediate(csr, await self._next_serial(), _now())

    def configuration(self) -> CAConfiguration:
        self.require_enabled()
        config = self.server.store.ca_config
        if config is None:
            raise ConsulError(ERR_PROVIDER_NIL)
        return config.public()

    async def set_configuration(self, req: CARequest) -> None:
        """Apply a new CA configuration; a new key or key type rotates the root."""
        self.require_enabled()
        if req.Config is None:
            raise BadRequest("Must provide a CA configuration")
        if req.Config.Provider != CONSUL_CA_PROVIDER:
            raise BadRequest(f"unknown CA provider {req.Config.Provider!r}")
        async with self._lock:
            store = self.server.store
            current = store.ca_config
            if current is None or self.provider is None:
                raise ConsulError(ERR_PROVIDER_NIL)
            if req.Config.State and req.Config.State != (current.State or {}):
                raise BadRequest(ERR_STATE_READ_ONLY)
            new_config = replace(req.Config, ClusterID=current.ClusterID,
                                 ModifyIndex=current.ModifyIndex, CreateIndex=0)
            new_provider = self._provider_for(new_config)
            index, roots = store.ca_roots_read(None)
            update = primary_root_update(
                old_provider=self.provider, roots=roots, new_provider=new_provider,
                provider_name=new_config.Provider, cluster_id=current.ClusterID,
                force_without_cross_signing=new_config.ForceWithoutCrossSigning,
                serials=await self._reserve(2), now=_now())
            await self._commit_state(new_provider, update.provider_state)
            if update.roots is None:
                await self._apply(CARequest(Op=CA_OP_SET_CONFIG, Config=new_config))
            else:
                if not await self._apply(CARequest(Op=CA_OP_SET_ROOTS_AND_CONFIG, Index=index,
                                                   Roots=update.roots, Config=new_config)):
                    raise ConsulError(ERR_CAS_LOST)
                log.info("connect: CA rotated to a new root: id=%s", update.active_root.ID)
            self._install(new_provider, store.ca_config)

    # ---- internals ----------------------------------------------------------------

    def _parse(self, config: CAConfiguration):
        try:
            return parse_ca_config(config.Config)
        except CAConfigError as exc:
            raise BadRequest(str(exc)) from None

    def _provider_for(self, config: CAConfiguration) -> ConsulCAProvider:
        parsed = self._parse(config)
        provider = ConsulCAProvider(parsed, config.ClusterID or "",
                                    is_primary=self.server.is_primary)
        stored = self.server.store.ca_provider_state(provider.id)
        if stored is not None:
            provider.state = stored
        return provider

    def _load_provider(self, config: CAConfiguration, root_pem: str) -> ConsulCAProvider:
        """The provider from the replicated state, for a leader whose routine has not
        initialised it yet (a new leader signs at once, as the old one did)."""
        provider = self._provider_for(config)
        if provider.state.RootCert.strip() != root_pem.strip():
            raise ConsulError(ERR_PROVIDER_NIL)
        self._install(provider, config)
        return provider

    def _install(self, provider: ConsulCAProvider, config: CAConfiguration | None) -> None:
        self.provider = provider
        if config is not None:
            parsed = self._parse(config)
            self.limiter.configure(parsed.csr_max_per_second, parsed.csr_max_concurrent)

    async def _commit_state(self, provider: ConsulCAProvider,
                            state: CAConsulProviderState) -> None:
        stored = self.server.store.ca_provider_state(state.ID)
        if stored is None or (stored.PrivateKey, stored.RootCert, stored.IntermediateCert) != (
                state.PrivateKey, state.RootCert, state.IntermediateCert):
            await self._apply(CARequest(Op=CA_OP_SET_PROVIDER_STATE, ProviderState=state))
        provider.state = self.server.store.ca_provider_state(state.ID) or state

    async def _next_serial(self) -> int:
        if not self._serials:
            first = await self._apply(CARequest(Op=CA_OP_INCREMENT_PROVIDER_SERIAL,
                                                SerialCount=SERIAL_BLOCK))
            self._serials.extend(range(first, first + SERIAL_BLOCK))
        return self._serials.popleft()

    async def _reserve(self, count: int) -> Iterator[int]:
        return iter([await self._next_serial() for _ in range(count)])

    async def _apply(self, request: CARequest):
        request.Datacenter = self.server.config.datacenter
        return await self.server.raft_apply(MessageType.CONNECT_CA, request)
