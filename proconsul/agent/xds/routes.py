"""Envoy routes from a compiled discovery chain: routers, splitters, resolvers."""

from __future__ import annotations

from typing import Any

from proconsul.lib.duration import parse_duration
from proconsul.structs.discovery_chain import (
    NODE_RESOLVER,
    NODE_ROUTER,
    NODE_SPLITTER,
    CompiledDiscoveryChain,
)


def seconds(value: Any) -> str:
    """A proto-JSON Duration from a Go duration string or nanoseconds."""
    ns = parse_duration(value) if isinstance(value, str) else int(value)
    return f"{ns / 1e9:.9f}".rstrip("0").rstrip(".") + "s"


def target_cluster(chain: CompiledDiscoveryChain, target_id: str) -> str:
    return chain.Targets[target_id].SNI  # type: ignore[index]


def route_config(name: str, chain: CompiledDiscoveryChain) -> dict[str, Any]:
    """The ``RouteConfiguration`` of an HTTP-like upstream, named by its upstream ID."""
    return {"name": name, "virtual_hosts": [
        {"name": name, "domains": ["*"], "routes": chain_routes(chain)}]}


def chain_routes(chain: CompiledDiscoveryChain) -> list[dict[str, Any]]:
    nodes = chain.Nodes or {}
    start = nodes[chain.StartNode]  # type: ignore[index]
    if start.Type != NODE_ROUTER:
        return [{"match": {"prefix": "/"}, "route": _action(chain, chain.StartNode)}]
    routes = []
    for route in start.Routes or ():
        definition = route.Definition
        action = _action(chain, route.NextNode)
        dest = definition.Destination if definition else None
        if dest:
            _destination(action, dest)
        http = definition.Match.HTTP if definition and definition.Match else None
        routes.append({"match": _match(http), "route": action})
    return routes


def _action(chain: CompiledDiscoveryChain, node_key: Any) -> dict[str, Any]:
    node = (chain.Nodes or {})[node_key]
    if node.Type == NODE_SPLITTER:
        clusters = [{"name": _resolver_cluster(chain, split.NextNode),
                     "weight": int(round((split.Weight or 0) * 100))}
                    for split in node.Splits or () if split.Weight]
        return {"weighted_clusters": {"clusters": clusters}}
    assert node.Type == NODE_RESOLVER
    action: dict[str, Any] = {"cluster": _resolver_cluster(chain, node_key)}
    if node.Resolver and node.Resolver.RequestTimeout:
        action["timeout"] = seconds(node.Resolver.RequestTimeout)
    return action


def _resolver_cluster(chain: CompiledDiscoveryChain, node_key: Any) -> str:
    node = (chain.Nodes or {})[node_key]
    if node.Type == NODE_SPLITTER:  # a splitter reached through a splitter: first leg
        return _resolver_cluster(chain, node.Splits[0].NextNode)  # type: ignore[index]
    return target_cluster(chain, node.Resolver.Target)  # type: ignore[union-attr]


def _destination(action: dict[str, Any], dest) -> None:
    if dest.PrefixRewrite:
        action["prefix_rewrite"] = dest.PrefixRewrite
    if dest.RequestTimeout:
        action["timeout"] = seconds(dest.RequestTimeout)
    if dest.IdleTimeout:
        action["idle_timeout"] = seconds(dest.IdleTimeout)
    retry_on = list(dest.RetryOn or ())
    if dest.RetryOnConnectFailure:
        retry_on.append("connect-failure")
    if dest.RetryOnStatusCodes:
        retry_on.append("retriable-status-codes")
    if retry_on or dest.NumRetries:
        policy: dict[str, Any] = {"retry_on": ",".join(retry_on) or "connect-failure"}
        if dest.NumRetries:
            policy["num_retries"] = int(dest.NumRetries)
        if dest.RetryOnStatusCodes:
            policy["retriable_status_codes"] = [int(c) for c in dest.RetryOnStatusCodes]
        action["retry_policy"] = policy


def _match(http) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/"}
    if not http:
        return match
    if http.PathExact:
        match = {"path": http.PathExact}
    elif http.PathPrefix:
        match = {"prefix": http.PathPrefix}
    elif http.PathRegex:
        match = {"safe_regex": {"regex": http.PathRegex}}
    if http.CaseInsensitive:
        match["case_sensitive"] = False
    headers = [_header(h) for h in http.Header or ()]
    if http.Methods:
        headers.append({"name": ":method", "string_match": {
            "safe_regex": {"regex": "|".join(http.Methods)}}})
    if headers:
        match["headers"] = headers
    params = []
    for q in http.QueryParam or ():
        param: dict[str, Any] = {"name": q.Name}
        if q.Present:
            param["present_match"] = True
        elif q.Exact:
            param["string_match"] = {"exact": q.Exact}
        elif q.Regex:
            param["string_match"] = {"safe_regex": {"regex": q.Regex}}
        params.append(param)
    if params:
        match["query_parameters"] = params
    return match


def _header(h) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.Name}
    if h.Present:
        out["present_match"] = True
    elif h.Exact:
        out["string_match"] = {"exact": h.Exact}
    elif h.Prefix:
        out["string_match"] = {"prefix": h.Prefix}
    elif h.Suffix:
        out["string_match"] = {"suffix": h.Suffix}
    elif h.Regex:
        out["string_match"] = {"safe_regex": {"regex": h.Regex}}
    if h.Invert:
        out["invert_match"] = True
    return out
