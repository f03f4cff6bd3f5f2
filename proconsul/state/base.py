"""The state store's foundation: tables, the index table, write transactions."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from proconsul.state.read_cache import ReadCache
from proconsul.state.table import Table, UndoLog
from proconsul.state.watch import WatchRegistry
from proconsul.structs.operator import AutopilotConfig
from proconsul.structs.service_kinds import CONNECT_PROXY

# Node and service names are case-insensitive keys, as in Consul (str.lower itself: a
# Python function around it cost a call on every key made).
lower = str.lower


def connect_target(service) -> str | None:
    """The service a Connect-capable instance serves, lower-cased (Consul's connect
    index): a connect-proxy's destination, or a Connect-native service itself."""
    if service.Kind == CONNECT_PROXY:
        return lower(service.Proxy.DestinationServiceName or "") or None
    if service.Connect.Native is True:
        return lower(service.Service)
    return None


def catalog_tables() -> tuple[Table, Table, Table]:
    """Empty nodes, services and checks tables (the local catalog's, or one peer's)."""
    nodes = Table("nodes", lambda n: lower(n.Node), {"id": lambda n: n.ID.lower() or None})
    services = Table(
        "services",
        lambda s: (lower(s.Node), s.Service.ID),
        {
            "name": lambda s: lower(s.Service.Service),
            "node": lambda s: lower(s.Node),
            "kind": lambda s: s.Service.Kind or None,
            "connect": lambda s: connect_target(s.Service),
        },
    )
    checks = Table(
        "checks",
        lambda c: (lower(c.Node), c.CheckID),
        {
            "node": lambda c: lower(c.Node),
            "service": lambda c: (lower(c.Node), c.ServiceID) if c.ServiceID else None,
            "service_name": lambda c: lower(c.ServiceName) if c.ServiceName else None,
            "status": lambda c: c.Status,
        },
    )
    return nodes, services, checks


class WriteTxn:
    """One atomic write at a raft index: an undo log plus what to wake on commit.

    Used as a context manager (see :meth:`StoreBase.write`): leaving it by an
    exception rolls every change back, else the touched topics fire.
    """

    __slots__ = ("index", "undo", "topics", "kv_keys", "kv_trees", "_indexes", "_watches",
                 "_saved")

    def __init__(self, indexes: dict[str, int], index: int, watches: WatchRegistry) -> None:
        self.index = index
        self.undo = UndoLog()
        self.topics: set = set()
        self.kv_keys: list[str] = []
        self.kv_trees: list[str] = []
        self._indexes = indexes
        self._watches = watches
        self._saved: dict[str, int | None] = {}  # index name -> its value before this write

    def __enter__(self) -> WriteTxn:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._watches.fire(self.topics, self.kv_keys, self.kv_trees)
            return
        self.undo.rollback()
        indexes = self._indexes
        for name, old in self._saved.items():
            if old is None:
                indexes.pop(name, None)
            else:
                indexes[name] = old

    def bump(self, *names: str) -> None:
        """Set the raft index of each named table (or sub-index) to this write's index."""
        indexes, index, saved, topics = self._indexes, self.index, self._saved, self.topics
        for name in names:
            old = indexes.get(name)
            if old == index:
                continue
            if name not in saved:
                saved[name] = old
            indexes[name] = index
            topics.add(("index", name))

    def forget(self, name: str) -> None:
        """Drop a sub-index (e.g. a deleted node's own index), as Consul does."""
        old = self._indexes.pop(name, None)
        if old is not None:
            if name not in self._saved:
                self._saved[name] = old
            self.topics.add(("index", name))

    def touch(self, *topics) -> None:
        self.topics.update(topics)


class StoreBase:
    """Holds the tables; every write runs inside :meth:`write` and is all-or-nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.watches = WatchRegistry()
        self.read_cache = ReadCache(self.watches)
        self.indexes: dict[str, int] = {}
        self.nodes, self.services, self.checks = catalog_tables()
        self.kvs = Table("kvs", lambda e: e.Key, {"session": lambda e: e.Session or None},
                         ordered=True)
        self.tombstones = Table("tombstones", lambda t: t.Key, ordered=True)
        self.sessions = Table("sessions", lambda s: s.ID, {"node": lambda s: lower(s.Node)})
        self.session_checks = Table(
            "session_checks",
            lambda link: link,
            {"check": lambda link: (link[0], link[1]), "session": lambda link: link[2]},
        )
        self.coordinates = Table("coordinates", lambda c: (lower(c.Node), c.Segment),
                                 {"node": lambda c: lower(c.Node)})
        self.config_entries = Table("config_entries", lambda e: (e.Kind, e.entry_name()),
                                    {"kind": lambda e: e.Kind})
        # Derived from config entries and services; rebuilt on restore, never snapshotted.
        self.gateway_services = Table("gateway_services", lambda g: g.key(),
                                      {"gateway": lambda g: g.key()[0],
                                       "service": lambda g: g.key()[1]})
        self._tables = [self.nodes, self.services, self.checks, self.kvs, self.tombstones,
                        self.sessions, self.session_checks, self.coordinates,
                        self.config_entries, self.gateway_services]
        self.prepared_queries = Table(
            "prepared_queries", lambda q: q.ID,
            {"name": lambda q: q.Name.lower() or None,
             "template": lambda q: q.Name.lower() if q.Template.Type else None,
             "session": lambda q: q.Session or None})
        self._tables.append(self.prepared_queries)
        self.lock_delays: dict[str, float] = {}
        self.generation = 0
        self.autopilot_config: AutopilotConfig | None = None

    def autopilot_set(self, tx: WriteTxn, config: AutopilotConfig, cas: bool) -> bool:
        """Store the autopilot settings; with ``cas`` only if ModifyIndex still matches."""
        current = self.autopilot_config
        if cas and (current.ModifyIndex if current else 0) != config.ModifyIndex:
            return False
        create = current.CreateIndex if current else tx.index
        old = current
        self.autopilot_config = msgspec.structs.replace(config, CreateIndex=create,
                                                        ModifyIndex=tx.index)
        tx.undo.record(lambda: setattr(self, "autopilot_config", old))
        tx.bump("autopilot-config")
        return True

    def max_index(self, *names: str) -> int:
        indexes = self.indexes
        highest = 0
        for name in names:
            index = indexes.get(name, 0)
            if index > highest:
                highest = index
        return highest

    def write(self, index: int) -> WriteTxn:
        """A write at raft ``index``: ``with store.write(index) as tx``; any exception
        rolls every change back."""
        return WriteTxn(self.indexes, index, self.watches)

    def reset(self) -> None:
        """Empty every table (before a restore) and wake all blocked readers."""
        for table in self._tables:
            table.clear()
        self.indexes.clear()
        self.lock_delays.clear()
        self.autopilot_config = None
        self.generation += 1
        self.watches.fire_all()
