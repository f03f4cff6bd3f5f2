"""``proconsul snapshot decode FILE``: every record of a snapshot as a JSON line.

As Consul's command: a ``SnapshotHeader`` line carrying the raft metadata, then
one ``{"Data": ..., "Type": ...}`` line per record, ``Type`` being the name of
Consul's message type for it. ``Data`` takes the shape Consul gives that type:
catalog rows become a ``Register`` request (node, service or check, the node's
fields repeated), KV entries, sessions, prepared queries, config entries,
federation states and the autopilot configuration are wrapped in their request
shape, the index table is one ``Index`` line per key, ACL and CA objects are
printed as they are. Unlike Consul (whose decoder zeroes the wrapped records it
cannot match) the wrapped rows carry their real contents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import msgspec

from proconsul.cli.command import Command, Context
from proconsul.cli.snapshot_commands import read_snapshot
from proconsul.fsm.fsm import read_header
from proconsul.state.snapshot import RecordKind, decode_record, read_frames

_to_builtins = msgspec.to_builtins


def _register(node: dict[str, Any], service: Any = None, check: Any = None) -> dict[str, Any]:
    """Consul's RegisterRequest for one catalog row of ``node``."""
    return {"Datacenter": node.get("Datacenter", ""), "ID": node.get("ID", ""),
            "Node": node.get("Node", ""), "Address": node.get("Address", ""),
            "TaggedAddresses": node.get("TaggedAddresses"), "NodeMeta": node.get("Meta"),
            "Service": service, "Check": check, "Checks": None,
            "Locality": node.get("Locality"), "SkipNodeUpdate": False,
            "PeerName": node.get("PeerName", ""), "Token": "",
            "CreateIndex": node.get("CreateIndex", 0), "ModifyIndex": node.get("ModifyIndex", 0)}


def _wrapped(field: str, **extra: Any) -> Callable[[Any], dict[str, Any]]:
    """Consul's request shape around a row: ``{"Datacenter", "Op", <field>, "Token"}``."""
    def wrap(row: Any) -> dict[str, Any]:
        return {"Datacenter": "", "Op": extra.get("Op", ""), field: row, "Token": "",
                **{k: v for k, v in extra.items() if k != "Op"}}
    return wrap


def _with_offset_ip(row: dict[str, Any]) -> dict[str, Any]:
    """A virtual IP row with its offset as Consul's net.IP shows it ("0.0.0.1")."""
    ip = row["IP"]
    return {**row, "IP": f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}"}


# kind -> (Consul's message type name, row as plain data -> Consul's Data shape)
_SHAPES: dict[RecordKind, tuple[str, Callable[[Any], Any]]] = {
    RecordKind.KV: ("KVS", _wrapped("DirEnt")),
    RecordKind.TOMBSTONE: ("Tombstone", lambda row: row),
    RecordKind.SESSION: ("Session", _wrapped("Session")),
    RecordKind.COORDINATE: ("CoordinateBatchUpdate", lambda row: [row]),
    RecordKind.AUTOPILOT: ("Autopilot", lambda row: {"Datacenter": "", "Config": row,
                                                     "CAS": False, "Token": ""}),
    RecordKind.CA_ROOT: ("ConnectCA", lambda row: row),
    RecordKind.CA_CONFIG: ("ConnectCAConfig", lambda row: row),
    RecordKind.CA_PROVIDER_STATE: ("ConnectCAProviderState", lambda row: row),
    RecordKind.CONFIG_ENTRY: ("ConfigEntry", _wrapped("Entry")),
    RecordKind.PREPARED_QUERY: ("PreparedQuery", _wrapped("Query")),
    RecordKind.ACL_TOKEN: ("ACLToken", lambda row: row),
    RecordKind.ACL_POLICY: ("ACLPolicy", lambda row: row),
    RecordKind.ACL_ROLE: ("ACLRole", lambda row: row),
    RecordKind.ACL_AUTH_METHOD: ("ACLAuthMethod", lambda row: row),
    RecordKind.ACL_BINDING_RULE: ("ACLBindingRule", lambda row: row),
    RecordKind.SYSTEM_METADATA: ("SystemMetadata", lambda row: row),
    RecordKind.FEDERATION_STATE: ("FederationState", _wrapped("State", Op="upsert")),
    RecordKind.SERVICE_VIRTUAL_IP: ("ServiceVirtualIP", _with_offset_ip),
    RecordKind.FREE_VIRTUAL_IP: ("FreeVirtualIP", _with_offset_ip),
    RecordKind.PEERING: ("Peering", lambda row: row),
    RecordKind.PEERING_TRUST_BUNDLE: ("PeeringTrustBundle", lambda row: row),
    RecordKind.PEERING_SECRETS: ("PeeringSecret", lambda row: row),
}


def decoded(state: BinaryIO) -> Iterator[tuple[str, Any]]:
    """``(type name, data)`` for each record of an FSM snapshot stream, in stream order.
    Nodes precede their services and checks in the stream; their fields are kept by name
    to fill each ``Register``."""
    read_header(state)
    nodes: dict[str, dict[str, Any]] = {}
    for kind, payload in read_frames(state):
        row = _to_builtins(decode_record(kind, payload))
        if kind is RecordKind.INDEXES:
            for key in sorted(row):
                yield "Index", {"Key": key, "Value": row[key]}
        elif kind is RecordKind.PEER_INDEXES:  # Consul's peer.<peer>:<entry> index names
            for peer in sorted(row):
                for key in sorted(row[peer]):
                    yield "Index", {"Key": f"peer.{peer}:{key}", "Value": row[peer][key]}
        elif kind is RecordKind.NODE:
            nodes[row.get("PeerName", ""), row["Node"]] = row
            yield "Register", _register(row)
        elif kind is RecordKind.SERVICE:
            peer = row["Service"].get("PeerName", "")
            yield "Register", _register(nodes.get((peer, row["Node"]), {"Node": row["Node"]}),
                                        service=row["Service"])
        elif kind is RecordKind.CHECK:
            yield "Register", _register(
                nodes.get((row.get("PeerName", ""), row["Node"]), {"Node": row["Node"]}),
                check=row)
        else:
            name, shape = _SHAPES[kind]
            yield name, shape(row)


def _line(type_name: str, data: Any) -> str:
    return json.dumps({"Data": data, "Type": type_name}, separators=(",", ":"),
                      ensure_ascii=False)


def decode(ctx: Context) -> int:
    def write(meta: dict[str, Any], state: BinaryIO) -> int:
        ctx.out.write(_line("SnapshotHeader", meta) + "\n")
        for type_name, data in decoded(state):
            ctx.out.write(_line(type_name, data) + "\n")
        ctx.out.flush()
        return 0

    return read_snapshot(ctx, write)


DECODE = Command("""
Usage: proconsul snapshot decode [options] FILE

  Decodes snapshot data and outputs a stream of line delimited JSON objects of the form:

  {"Type": "SnapshotHeader", "Data": {"<json encoded snapshot header>"}}
  {"Type": "<type name>","Data": {<json encoded data>}}
  {"Type": "<type name>","Data": {<json encoded data>}}
  ...
""", "Decodes the binary", decode, http=False)
