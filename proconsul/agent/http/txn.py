"""/v1/txn: many KV and catalog operations applied atomically."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.kv import KV_MAX_VALUE_SIZE
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.goquote import go_quote
from proconsul.state.txn import is_read_only
from proconsul.structs.base import UNSET, Record, Uint64
from proconsul.structs.errors import TooLarge
from proconsul.structs.kv import DirEntry
from proconsul.structs.requests import TxnReadRequest
from proconsul.structs.txn import (
    MAX_TXN_OPS,
    TxnCheckOp,
    TxnKVOp,
    TxnNodeOp,
    TxnOp,
    TxnRequest,
    TxnServiceOp,
)

TXN_MAX_REQ_LEN = 512 * 1024


class HTTPKVOp(Record):
    """A KV operation as the HTTP API spells it (``Index`` rather than ``ModifyIndex``)."""

    Verb: str
    Key: str = ""
    Value: bytes | None = None
    Flags: Uint64 = 0
    Index: Uint64 = 0
    Session: str = ""
    Namespace: str = ""
    Partition: str = ""


class HTTPTxnOp(Record):
    """One element of the ``/v1/txn`` body."""

    KV: HTTPKVOp | None = None
    Node: TxnNodeOp | None = None
    Service: TxnServiceOp | None = None
    Check: TxnCheckOp | None = None


def convert_ops(ops: list[HTTPTxnOp]) -> list[TxnOp]:
    if len(ops) > MAX_TXN_OPS:
        raise TooLarge(f"Transaction contains too many operations ({len(ops)} > {MAX_TXN_OPS})")
    converted = []
    for op in ops:
        if op.KV is not None:
            kv = op.KV
            if kv.Value is not None and len(kv.Value) > KV_MAX_VALUE_SIZE:
                raise TooLarge(f"Value for key {go_quote(kv.Key)} is too large "
                               f"({len(kv.Value)} > {KV_MAX_VALUE_SIZE} bytes)")
            entry = DirEntry(Key=kv.Key, Value=kv.Value, Flags=kv.Flags, ModifyIndex=kv.Index,
                             Session=kv.Session or UNSET)
            converted.append(TxnOp(KV=TxnKVOp(Verb=kv.Verb, DirEnt=entry)))
        elif op.Node is not None:
            converted.append(TxnOp(Node=op.Node))
        elif op.Service is not None:
            # Consul's HTTP layer copies a node's and a check's PeerName, never a service's
            service = replace(op.Service, Service=replace(op.Service.Service, PeerName=UNSET))
            converted.append(TxnOp(Service=service))
        elif op.Check is not None:
            converted.append(TxnOp(Check=op.Check))
        # An operation with none of them is skipped, as Consul's HTTP layer does.
    return converted


async def txn(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    body = await request.read()
    if len(body) > TXN_MAX_REQ_LEN:
        raise TooLarge(f"Request body({len(body)} bytes) too large, max size: "
                       f"{TXN_MAX_REQ_LEN} bytes.")
    ops = convert_ops(decode_json(body, list[HTTPTxnOp], "Failed to parse body"))
    dc = datacenter(request)
    if is_read_only(ops):
        req = query_options(request, TxnReadRequest(Datacenter=dc, Ops=ops))
        reply = await agent.rpc("Txn.Read", req)
        status = 409 if reply.Errors else 200
        return json_reply(request, {"Results": reply.Results, "Errors": reply.Errors},
                          status=status, meta=reply)
    reply = await agent.rpc("Txn.Apply", TxnRequest(Ops=ops, Datacenter=dc,
                                                    Token=token(request)))
    status = 409 if reply.Errors else 200
    return json_reply(request, {"Results": reply.Results, "Errors": reply.Errors}, status=status)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/txn", txn)


