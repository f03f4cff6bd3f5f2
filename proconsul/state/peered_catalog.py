"""The imported catalog: nodes, services and checks a cluster peer exported to us.

Consul keeps imported rows in the catalog tables with the peering's local name
(``PeerName``) in every key, and per-peer index entries (``peer.<name>:nodes`` ...),
so local reads never see them and their ``X-Consul-Index`` never moves on a peer's
writes. Here each peer has a :class:`PeerCatalog` of its own: the same tables, writes
and reads as the local catalog, its own index entries, and watch topics tagged with
the peer (fired in the store's one registry, so blocking queries wake as usual).
The local catalog, and so its hot paths, is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn, catalog_tables
from proconsul.state.catalog import CatalogMixin, StoredService
from proconsul.state.mesh_catalog import MeshCatalogMixin
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.state.watch import WatchRegistry, WatchSet
from proconsul.structs.catalog import HealthCheck, Node, NodeService

PEER_TOPIC = "peer"
PEER_CATALOGS_TOPIC = ("peer-catalogs",)  # fired when a peer's catalog is made


def peer_topic(peer: str, topic: Hashable) -> tuple:
    """A catalog watch topic of ``peer``'s imported rows."""
    return (PEER_TOPIC, peer, topic)


class PeerTopics:
    """What a peer catalog's writes fire: their topics, tagged, in the store's registry."""

    __slots__ = ("registry", "peer")

    def __init__(self, registry: WatchRegistry, peer: str) -> None:
        self.registry = registry
        self.peer = peer

    def fire(self, topics: Iterable[Hashable], _kv_keys: Iterable[str] = (),
             _kv_trees: Iterable[str] = ()) -> None:
        self.registry.fire([peer_topic(self.peer, t) for t in topics])


class PeerWatchSet(WatchSet):
    """Records a peer catalog read's topics, tagged, into the caller's watch set."""

    __slots__ = ("_peer",)

    def __init__(self, outer: WatchSet, peer: str) -> None:
        self.topics = outer.topics
        self._peer = peer

    def add(self, topic: Hashable) -> None:
        self.topics.add(peer_topic(self._peer, topic))


class PeerCatalog(CatalogMixin, MeshCatalogMixin):
    """One peer's imported nodes, services and checks (every row's PeerName is ``peer``).

    Writes are the local catalog's (``ensure_registration``, ``delete_node``,
    ``delete_service``, ``delete_check`` inside ``with catalog.write(index) as tx``)
    without what imported rows do not have: sessions, coordinates, virtual IPs and
    gateway bookkeeping. Its Connect reads find the imported sidecar proxies (and
    Connect-native instances) of a service; no gateway fronts an imported service.
    """

    def __init__(self, peer: str, registry: WatchRegistry) -> None:  # no StoreBase tables
        self.peer = peer
        self.indexes: dict[str, int] = {}
        self.watches = PeerTopics(registry, peer)
        self.nodes, self.services, self.checks = catalog_tables()
        self.sessions = Table("sessions", lambda s: s.ID, {"node": lambda s: s.Node})
        self.session_checks = Table("session_checks", lambda link: link,
                                    {"check": lambda link: link[:2]})

    def rebind(self, registry: WatchRegistry) -> None:
        """Fire into ``registry`` from now on (a restored catalog joining the live store)."""
        self.watches = PeerTopics(registry, self.peer)

    def ensure_node(self, tx: WriteTxn, node: Node) -> None:
        super().ensure_node(tx, replace(node, PeerName=self.peer))

    def ensure_service(self, tx: WriteTxn, node_name: str, service: NodeService) -> None:
        super().ensure_service(tx, node_name, replace(service, PeerName=self.peer))

    def ensure_check(self, tx: WriteTxn, check: HealthCheck) -> None:
        super().ensure_check(tx, replace(check, PeerName=self.peer))

    # What the local catalog's writes reach beyond its tables; imported rows have none.
    def delete_node_coordinates(self, tx: WriteTxn, node: str) -> None:
        pass

    def with_virtual_ips(self, tx: WriteTxn, service: NodeService) -> NodeService:
        return service

    def free_virtual_ip(self, tx: WriteTxn, name: str) -> None:
        pass

    def gateways_in_use(self) -> bool:
        return False

    def service_gateway_nodes(self, ws: WatchSet | None, service: str, kind: str
                              ) -> tuple[int, list[tuple[str, NodeService]]]:
        return 0, []


class PeerReader:
    """A peer catalog's reads with the local catalog's signatures: ``ws`` is the
    caller's watch set, into which the peer's tagged topics go."""

    READS = frozenset({"node", "list_nodes", "list_services", "service_nodes",
                       "node_services", "node_service_list", "node_checks", "service_checks",
                       "checks_in_state", "check_service_nodes", "connect_service_nodes",
                       "check_connect_service_nodes"})

    def __init__(self, catalog: PeerCatalog) -> None:
        self._catalog = catalog

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self.READS:
            raise AttributeError(name)
        read, peer = getattr(self._catalog, name), self._catalog.peer

        def peered(ws: WatchSet | None, *args: Any, **kw: Any) -> Any:
            return read(PeerWatchSet(ws, peer) if ws is not None else None, *args, **kw)

        return peered


class PeeredCatalogMixin(StoreBase):
    """The store's peer catalogs, by peer name."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.peer_catalogs: dict[str, PeerCatalog] = {}

    def imported(self, peer: str) -> PeerCatalog:
        """``peer``'s catalog, for a write (made on the first)."""
        catalog = self.peer_catalogs.get(peer)
        if catalog is None:
            catalog = self.peer_catalogs[peer] = PeerCatalog(peer, self.watches)
            self.watches.fire([PEER_CATALOGS_TOPIC])
        return catalog

    def peer_catalog(self, peer: str) -> PeerCatalog:
        """``peer``'s catalog as it stands, to look at (none yet: an empty one, not
        kept, whose topics the peer's first write fires)."""
        return self.peer_catalogs.get(peer) or PeerCatalog(peer, self.watches)

    def catalog_reader(self, peer: str) -> Any:
        """Where a catalog or health read with ``?peer`` reads: the store itself for
        "" (local), else the peer's rows."""
        return PeerReader(self.peer_catalog(peer)) if peer else self

    def imported_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        """Every peer's index entries (one record), nodes, services and checks: imported
        rows are snapshotted as the local ones are, their PeerName kept."""
        catalogs = self.peer_catalogs.values()
        if not catalogs:
            return []
        return [
            (RecordKind.PEER_INDEXES, [{c.peer: dict(c.indexes) for c in catalogs}]),
            (RecordKind.NODE, [row for c in catalogs for row in c.nodes.rows()]),
            (RecordKind.SERVICE, [row for c in catalogs for row in c.services.rows()]),
            (RecordKind.CHECK, [row for c in catalogs for row in c.checks.rows()]),
        ]

    def restore_imported(self, indexes: dict[str, dict[str, int]], nodes: list[Node],
                         services: list[StoredService], checks: list[HealthCheck]) -> None:
        """Fill the peer catalogs of an empty store from snapshot rows, by their PeerName."""
        for peer, entries in indexes.items():
            self.imported(peer).indexes.update(entries)
        grouped: dict[str, tuple[list, list, list]] = {}
        for at, rows in enumerate((nodes, services, checks)):
            for row in rows:
                peer = row.Service.PeerName if at == 1 else row.PeerName
                grouped.setdefault(peer, ([], [], []))[at].append(row)
        for peer, (node_rows, service_rows, check_rows) in grouped.items():
            catalog = self.imported(peer)
            catalog.nodes.load(node_rows)
            catalog.services.load(service_rows)
            catalog.checks.load(check_rows)

    def adopt_peer_catalogs(self, staged: PeeredCatalogMixin) -> None:
        """Take a restored store's peer catalogs (after :meth:`reset`)."""
        self.peer_catalogs = staged.peer_catalogs
        for catalog in self.peer_catalogs.values():
            catalog.rebind(self.watches)

    def reset(self) -> None:
        self.peer_catalogs.clear()
        super().reset()
