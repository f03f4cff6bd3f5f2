"""Per-request options and reply metadata: Consul's QueryOptions, WriteOptions, QueryMeta."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def go_duration(seconds: float) -> str:
    """A wait time as Consul's client sends it: whole milliseconds (``15000ms``)."""
    return f"{round(seconds * 1000)}ms"


@dataclass
class QueryOptions:
    datacenter: str = ""
    allow_stale: bool = False
    require_consistent: bool = False
    use_cache: bool = False
    wait_index: int = 0
    wait_hash: str = ""
    wait_time: float | None = None  # seconds
    token: str = ""
    near: str = ""
    node_meta: dict[str, str] = field(default_factory=dict)
    filter: str = ""
    namespace: str = ""
    partition: str = ""
    peer: str = ""  # catalog and health reads: the cluster peer's imported rows
    relay_factor: int = 0  # keyring: how many nodes relay each answer
    local_only: bool = False  # keyring list: this datacenter's LAN pool only

    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.datacenter:
            out.append(("dc", self.datacenter))
        if self.relay_factor:
            out.append(("relay-factor", str(self.relay_factor)))
        if self.local_only:
            out.append(("local-only", "true"))
        if self.allow_stale:
            out.append(("stale", ""))
        if self.require_consistent:
            out.append(("consistent", ""))
        if self.use_cache:
            out.append(("cached", ""))
        if self.wait_index:
            out.append(("index", str(self.wait_index)))
        if self.wait_hash:
            out.append(("hash", self.wait_hash))
        if self.wait_time is not None:
            out.append(("wait", go_duration(self.wait_time)))
        if self.near:
            out.append(("near", self.near))
        out.extend(("node-meta", f"{k}:{v}") for k, v in self.node_meta.items())
        if self.filter:
            out.append(("filter", self.filter))
        if self.namespace:
            out.append(("ns", self.namespace))
        if self.partition:
            out.append(("partition", self.partition))
        if self.peer:
            out.append(("peer", self.peer))
        return out


@dataclass
class WriteOptions:
    datacenter: str = ""
    token: str = ""
    namespace: str = ""
    partition: str = ""
    relay_factor: int = 0  # keyring: how many nodes relay each answer

    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.datacenter:
            out.append(("dc", self.datacenter))
        if self.relay_factor:
            out.append(("relay-factor", str(self.relay_factor)))
        if self.namespace:
            out.append(("ns", self.namespace))
        if self.partition:
            out.append(("partition", self.partition))
        return out


def next_wait_index(sent: int, returned: int) -> int:
    """The index for the next blocking query (Consul's client rules).

    An index that went backwards (e.g. after a snapshot restore) resets to 0;
    an index of 0 is treated as 1 so the next query still blocks.
    """
    if returned < sent:
        return 0
    return max(returned, 1)


@dataclass
class QueryMeta:
    last_index: int = 0
    last_content_hash: str = ""
    last_contact: float = 0.0  # seconds
    known_leader: bool = False
    request_time: float = 0.0
    address_translation_enabled: bool = False
    cache_hit: bool = False
    cache_age: float = 0.0
    default_acl_policy: str = ""
    results_filtered_by_acls: bool = False

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], request_time: float) -> QueryMeta:
        def number(name: str) -> int:
            try:
                return int(headers.get(name, "0"))
            except ValueError:
                return 0
        return cls(
            last_index=number("X-Consul-Index"),
            last_content_hash=headers.get("X-Consul-ContentHash", ""),
            last_contact=number("X-Consul-LastContact") / 1000,
            known_leader=headers.get("X-Consul-KnownLeader") == "true",
            request_time=request_time,
            address_translation_enabled=headers.get("X-Consul-Translate-Addresses") == "true",
            cache_hit=headers.get("X-Cache") == "HIT",
            cache_age=number("Age"),
            default_acl_policy=headers.get("X-Consul-Default-ACL-Policy", ""),
            results_filtered_by_acls=headers.get("X-Consul-Results-Filtered-By-ACLs") == "true",
        )

    def next_index(self, sent: int) -> int:
        return next_wait_index(sent, self.last_index)


@dataclass
class WriteMeta:
    request_time: float = 0.0
