"""Which permission each write needs, as Consul's endpoints vet them: catalog
registrations, transactions op by op, config entries by kind.

Every function raises 403 ``Permission denied`` (through
:meth:`Identity.require`) or, for transactions, returns the ops' errors.
"""

from __future__ import annotations

from typing import Any

from proconsul.server.acl_enforce import Identity
from proconsul.structs.catalog import DeregisterRequest, RegisterRequest
from proconsul.structs.errors import Forbidden
from proconsul.structs.kv import KVOp
from proconsul.structs.txn import TxnError, TxnOp, TxnResult


def _stored_service_name(store: Any, node: str, service_id: str) -> str:
    stored = store.services.get((node.lower(), service_id))
    return stored.Service.Service if stored is not None else ""


def _node_changes(store: Any, req: RegisterRequest) -> bool:
    if req.SkipNodeUpdate:
        return False
    node = store.nodes.get(req.Node.lower())
    return node is None or (
        node.Address != req.Address or (req.ID and node.ID.lower() != req.ID.lower())
        or (node.TaggedAddresses or {}) != (req.TaggedAddresses or {})
        or (node.Meta or {}) != (req.NodeMeta or {}))


def vet_register(ident: Identity, store: Any, req: RegisterRequest) -> None:
    """``node:write`` when the node changes or gets node checks; ``service:write`` on
    the service (and on the one it replaces), and on the service of each check."""
    if not ident.enforcing:
        return
    if _node_changes(store, req):
        ident.require("node_write", req.Node)
    if req.Service is not None:
        ident.require("service_write", req.Service.Service)
        replaced = _stored_service_name(store, req.Node, req.Service.ID)
        if replaced and replaced != req.Service.Service:
            ident.require("service_write", replaced)
    for check in req.Checks or ():
        if not check.ServiceID:
            ident.require("node_write", req.Node)
            continue
        if req.Service is not None and check.ServiceID == req.Service.ID:
            name = req.Service.Service
        else:
            name = _stored_service_name(store, req.Node, check.ServiceID)
        if name:
            ident.require("service_write", name)


def vet_deregister(ident: Identity, store: Any, req: DeregisterRequest) -> None:
    """``service:write`` for a service or a service's check, else ``node:write``."""
    if not ident.enforcing:
        return
    if req.ServiceID:
        name = _stored_service_name(store, req.Node, req.ServiceID)
        if name:
            ident.require("service_write", name)
        return
    if req.CheckID:
        check = store.checks.get((req.Node.lower(), req.CheckID))
        if check is not None and check.ServiceName:
            ident.require("service_write", check.ServiceName)
            return
    ident.require("node_write", req.Node)


_KV_READ_CHECKED = {KVOp.CHECK_INDEX, KVOp.CHECK_SESSION}
_KV_FILTERED = {KVOp.GET, KVOp.GET_OR_EMPTY, KVOp.GET_TREE}


def _vet_txn_op(ident: Identity, store: Any, op: TxnOp) -> None:
    kv = op.KV
    if kv:
        key = kv.DirEnt.Key
        if kv.Verb in _KV_FILTERED:
            return
        if kv.Verb in _KV_READ_CHECKED:
            ident.require("key_read", key)
        elif kv.Verb == KVOp.DELETE_TREE:
            ident.require("key_write_prefix", key)
        else:
            ident.require("key_write", key)
        return
    if op.Node:
        if op.Node.Verb != "get":
            ident.require("node_write", op.Node.Node.Node)
        return
    if op.Service:
        if op.Service.Verb != "get":
            ident.require("service_write", op.Service.Service.Service)
        return
    if op.Check and op.Check.Verb != "get":
        check = op.Check.Check
        catalog = store.peer_catalog(check.PeerName) if check.PeerName else store
        name = check.ServiceName or (
            _stored_service_name(catalog, check.Node, check.ServiceID) if check.ServiceID else "")
        if name:
            ident.require("service_write", name)
        else:
            ident.require("node_write", check.Node)


def vet_txn(ident: Identity, store: Any, ops: list[TxnOp]) -> list[TxnError]:
    """One error per operation the token may not perform (the transaction then
    does not run), as Consul's Txn endpoint reports them."""
    if not ident.enforcing:
        return []
    errors = []
    for index, op in enumerate(ops):
        try:
            _vet_txn_op(ident, store, op)
        except Forbidden as err:
            errors.append(TxnError(OpIndex=index, What=err.message))
    return errors


def _result_visible(ident: Identity, result: TxnResult) -> bool:
    if result.KV:
        return ident.allowed("key_read", result.KV.Key)
    if result.Node:
        return ident.allowed("node_read", result.Node.Node)
    if result.Service:
        return ident.allowed("service_read", result.Service.Service)
    if result.Check:
        check = result.Check
        return ident.allowed("node_read", check.Node) and (
            not check.ServiceName or ident.allowed("service_read", check.ServiceName))
    return True


def filter_txn_results(ident: Identity, results: list[TxnResult] | None) -> list[TxnResult] | None:
    """The results the token may read (others are dropped, as Consul does)."""
    if not ident.enforcing or not results:
        return results
    return [r for r in results if _result_visible(ident, r)]


# config entry kind -> (check to write, check to read); None = no check
_SERVICE = ("service_write", "service_read")
_MESH = ("mesh_write", "mesh_read")
_ENTRY_CHECKS: dict[str, tuple[str, str | None]] = {
    "service-defaults": _SERVICE, "service-router": _SERVICE, "service-splitter": _SERVICE,
    "service-resolver": _SERVICE, "ingress-gateway": ("mesh_write", "service_read"),
    "terminating-gateway": ("mesh_write", "service_read"),
    "api-gateway": ("mesh_write", "service_read"),
    "service-intentions": ("intention_write", "intention_read"),
    "proxy-defaults": ("mesh_write", None), "mesh": ("mesh_write", None),
    "http-route": _MESH, "tcp-route": _MESH, "inline-certificate": _MESH,
    "file-system-certificate": _MESH, "exported-services": _MESH, "sameness-group": _MESH,
    "jwt-provider": _MESH, "control-plane-request-limit": ("operator_write", "operator_read"),
}


def _entry_check(kind: str, write: bool) -> str | None:
    checks = _ENTRY_CHECKS.get(kind, ("operator_write", "operator_read"))
    return checks[0] if write else checks[1]


def entry_readable(ident: Identity, kind: str, name: str) -> bool:
    """Whether the token may read config entry ``kind``/``name``."""
    check = _entry_check(kind, write=False)
    if check is None or not ident.enforcing:
        return True
    return ident.allowed(check, *((name,) if check.startswith(("service", "intention")) else ()))


def require_entry(ident: Identity, kind: str, name: str, write: bool) -> None:
    """403 unless the token may write (or read) config entry ``kind``/``name``."""
    check = _entry_check(kind, write)
    if check is not None:
        ident.require(check, name)
