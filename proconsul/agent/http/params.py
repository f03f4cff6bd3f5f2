"""Query-string parsing shared by handlers, and the X-Consul-* response headers."""

from __future__ import annotations

from multidict import MultiMapping

from proconsul.lib import httpserver as web
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.structs.errors import (
    ERR_CONFLICTING_CONSISTENCY,
    BadRequest,
)
from proconsul.structs.query import QueryMeta, QueryOptions

TRUE_WORDS = {"", "1", "t", "T", "TRUE", "true", "True"}
FALSE_WORDS = {"0", "f", "F", "FALSE", "false", "False"}


def flag(query: MultiMapping[str], name: str) -> bool:
    """A boolean parameter: present means true unless it says false (Go's ParseBool)."""
    if name not in query:
        return False
    value = query[name]
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise BadRequest(f"Invalid value for ?{name}: {value!r} is not a boolean")


def uint(query: MultiMapping[str], name: str, message: str) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise BadRequest(message) from None
    if value < 0 or value >= 1 << 64:
        raise BadRequest(message)
    return value


def datacenter(request: web.Request) -> str:
    """The ``?dc`` of a request, else the agent's own (the servers route the RPC)."""
    return request.query.get("dc") or request.app["agent"].config.datacenter


def node_meta(query: MultiMapping[str]) -> dict[str, str] | None:
    """``node-meta=key:value`` filters (repeatable)."""
    pairs = query.getall("node-meta", [])
    if not pairs:
        return None
    meta = {}
    for pair in pairs:
        key, _, value = pair.partition(":")
        meta[key] = value
    return meta


def query_options(request: web.Request, opts: QueryOptions) -> QueryOptions:
    """Fill blocking, consistency, filter and token options from the query string."""
    query = request.query
    opts.MinQueryIndex = uint(query, "index", "Invalid index") or 0
    if "wait" in query:
        try:
            wait = parse_duration(query["wait"])
        except DurationError:
            raise BadRequest("Invalid wait time") from None
        opts.MaxQueryTime = wait  # Go parses "-1s" fine; wait <= 0 means the default
    stale = "stale" in query
    consistent = "consistent" in query
    cached = "cached" in query
    if consistent and (stale or cached):
        raise BadRequest(ERR_CONFLICTING_CONSISTENCY)
    if "max_stale" in query:
        try:
            opts.MaxStaleDuration = parse_duration(query["max_stale"])
        except DurationError:
            raise BadRequest(f"Invalid max_stale value {query['max_stale']!r}") from None
        stale = stale or opts.MaxStaleDuration > 0
    opts.AllowStale = stale
    opts.RequireConsistent = consistent
    opts.UseCache = cached
    opts.Filter = query.get("filter", "")
    opts.Token = token(request)
    return opts


def peer(request: web.Request) -> str:
    """``?peer``: the cluster peer whose imported rows a catalog or health read reads."""
    return request.query.get("peer", "")


def token(request: web.Request) -> str:
    """The ACL token the request acts with (see :func:`token_source`)."""
    return token_source(request)[0]


# where a request's token came from, as the 403 text names it (beyond Consul)
SOURCE_QUERY = "token from the ?token query parameter"
SOURCE_HEADER = "token from the X-Consul-Token header"
SOURCE_BEARER = "token from the Authorization Bearer header"
SOURCE_DEFAULT = "token from the agent's default token (acl.tokens.default)"
SOURCE_ANONYMOUS = "no token in the request and no agent default token"


def token_source(request: web.Request) -> tuple[str, str]:
    """The ACL token and where it came from: ?token, then X-Consul-Token, then
    ``Authorization: Bearer``, then the agent's default token, else anonymous ("")."""
    if request.query_string and "token" in request.query:
        return request.query["token"], SOURCE_QUERY
    headers = request.headers  # names are kept lower-cased: look them up as such
    header = dict.get(headers, "x-consul-token")
    if header is not None:
        return header, SOURCE_HEADER
    scheme, _, value = (dict.get(headers, "authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip(), SOURCE_BEARER
    default = request.app["agent"].tokens.default
    if default:
        return default, SOURCE_DEFAULT
    return "", SOURCE_ANONYMOUS


def set_meta(response: web.StreamResponse, meta: QueryMeta) -> None:
    """X-Consul-Index (never 0), KnownLeader, LastContact, Effective-Consistency."""
    response.headers["X-Consul-Index"] = str(max(meta.Index, 1))
    response.headers["X-Consul-KnownLeader"] = "true" if meta.KnownLeader else "false"
    response.headers["X-Consul-LastContact"] = str(meta.LastContact)
    if meta.ConsistencyLevel:
        response.headers["X-Consul-Effective-Consistency"] = meta.ConsistencyLevel
    if meta.ResultsFilteredByACLs:
        response.headers["X-Consul-Results-Filtered-By-ACLs"] = "true"
