"""What a token may see of each read result, as Consul's ACL filter decides.

Each function takes the request's :class:`~proconsul.server.acl_enforce.Identity`,
the result and the reply (whose ``ResultsFilteredByACLs`` is set when something
was dropped) and returns the visible part. With ACLs off they return the input.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from proconsul.server.acl_enforce import Identity
from proconsul.structs.prepared_query import REDACTED_TOKEN, PreparedQuery


def nodes(ident: Identity, rows: list, meta: Any) -> list:
    """Catalog nodes: ``node:read``."""
    return ident.keep(rows, lambda n: ident.allowed("node_read", n.Node), meta)


def service_nodes(ident: Identity, rows: list, meta: Any) -> list:
    """Catalog service rows: ``node:read`` on the node and ``service:read`` on the service."""
    return ident.keep(rows, lambda r: ident.allowed("node_read", r.Node)
                      and ident.allowed("service_read", r.ServiceName), meta)


def services(ident: Identity, by_name: dict, meta: Any) -> dict:
    """Service name -> tags: ``service:read``."""
    if not ident.enforcing:
        return by_name
    kept = {name: tags for name, tags in by_name.items() if ident.allowed("service_read", name)}
    if len(kept) != len(by_name):
        ident.mark_filtered(meta)
    return kept


def node_services(ident: Identity, found: Any, meta: Any) -> Any:
    """One node and its services (a map or a list): the node needs ``node:read``,
    each service ``service:read``."""
    if found is None or not ident.enforcing:
        return found
    if not ident.allowed("node_read", found.Node.Node):
        ident.mark_filtered(meta)
        return None
    if isinstance(found.Services, dict):
        kept = services(ident, found.Services, meta)
        return replace(found, Services=kept) if len(kept) != len(found.Services) else found
    visible = ident.keep(found.Services, lambda s: ident.allowed("service_read", s.Service), meta)
    return replace(found, Services=visible) if len(visible) != len(found.Services) else found


def gateway_services(ident: Identity, rows: list | None, meta: Any) -> list | None:
    """A gateway's services: ``service:read`` on each linked service."""
    if not rows:
        return rows
    return ident.keep(rows, lambda g: ident.allowed("service_read", g.Service.Name), meta) or None


def health_checks(ident: Identity, checks: list, meta: Any) -> list:
    """Checks: ``node:read`` on the node, and ``service:read`` for a service's check."""
    return ident.keep(checks, lambda c: ident.allowed("node_read", c.Node) and (
        not c.ServiceName or ident.allowed("service_read", c.ServiceName)), meta)


def check_service_nodes(ident: Identity, rows: list, meta: Any) -> list:
    """Health service rows: ``node:read`` and ``service:read``."""
    return ident.keep(rows, lambda r: ident.allowed("node_read", r.Node.Node)
                      and ident.allowed("service_read", r.Service.Service), meta)


def dir_entries(ident: Identity, entries: list, meta: Any) -> list:
    """KV entries: ``key:read`` on each key."""
    return ident.keep(entries, lambda e: ident.allowed("key_read", e.Key), meta)


def keys(ident: Identity, names: list, meta: Any) -> list:
    """KV key names: ``key:read`` on each."""
    return ident.keep(names, lambda k: ident.allowed("key_read", k), meta)


def sessions(ident: Identity, rows: list, meta: Any) -> list:
    """Sessions: ``session:read`` on the session's node."""
    return ident.keep(rows, lambda s: ident.allowed("session_read", s.Node), meta)


def coordinates(ident: Identity, rows: list, meta: Any) -> list:
    """Node coordinates: ``node:read``."""
    return ident.keep(rows, lambda c: ident.allowed("node_read", c.Node), meta)


def prepared_query_token(ident: Identity, query: PreparedQuery) -> PreparedQuery:
    """A query as the token may see it: its stored ``Token`` shows only to ``acl:write``
    (a management token), others see ``<hidden>`` in its place (or that none is set)."""
    if not query.Token or not ident.enforcing or ident.allowed("acl_write"):
        return query
    return replace(query, Token=REDACTED_TOKEN)


def prepared_queries(ident: Identity, queries: list, meta: Any) -> list:
    """Prepared queries: ``acl:write`` sees them all; others see a named query or template
    with ``query:read`` on its name, its token redacted. Unnamed queries show only to
    ``acl:write``; dropping them does not mark the reply filtered (they are listed by ID
    to nobody else)."""
    if not ident.enforcing or ident.allowed("acl_write"):
        return queries
    visible = []
    for query in queries:
        prefix = query.acl_prefix()
        if prefix is None:
            continue
        if not ident.allowed("query_read", prefix):
            ident.mark_filtered(meta)
            continue
        visible.append(prepared_query_token(ident, query))
    return visible
