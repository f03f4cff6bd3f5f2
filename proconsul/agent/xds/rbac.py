"""Envoy RBAC rules from intentions (Consul's ``agent/xds/rbac.go``, written anew).

With a default of allow the rules deny what deny intentions name (``action:
DENY``); with a default of deny they allow what allow intentions name
(``ALLOW``, Envoy's default, so only ``policies`` show). Precedence is kept by
excluding, from each intention's principal, the sources of higher-precedence
intentions that decide otherwise. L7 intentions (permissions) become one HTTP
policy per source; at L4 they deny, as only a proxy seeing requests can apply them.
"""

from __future__ import annotations

import re
from typing import Any

from proconsul.server.connect.intentions import all_intentions, match
from proconsul.structs.config_entries import load
from proconsul.structs.intention import MATCH_DESTINATION

WILDCARD = "*"


def intentions_for(entries: list[dict[str, Any]], destination: str) -> list:
    """The intentions whose destination covers ``destination``, highest precedence first."""
    intentions = all_intentions(load(raw) for raw in entries)
    for ixn in intentions:
        ixn.update_precedence()
    [hits] = match(intentions, MATCH_DESTINATION, [("default", destination)])
    return hits


def principal(ixn, trust_domain: str) -> dict[str, Any]:
    """Who the intention's source is: the SPIFFE URI of its certificate, any datacenter."""
    ns = "[^/]+" if ixn.SourceNS == WILDCARD else re.escape(ixn.SourceNS or "default")
    svc = "[^/]+" if ixn.SourceName == WILDCARD else re.escape(ixn.SourceName)
    regex = f"^spiffe://{re.escape(trust_domain)}/ns/{ns}/dc/[^/]+/svc/{svc}$"
    return {"authenticated": {"principal_name": {"safe_regex": {"regex": regex}}}}


def _covers(wide, narrow) -> bool:
    """Whether ``wide``'s source matches every source ``narrow``'s does (and more)."""
    return (wide.SourceNS in (WILDCARD, narrow.SourceNS)
            and wide.SourceName in (WILDCARD, narrow.SourceName)
            and (wide.SourceNS, wide.SourceName) != (narrow.SourceNS, narrow.SourceName))


def _excluding(ixn, who: dict[str, Any], higher: list) -> dict[str, Any]:
    """``who`` minus the sources of higher-precedence intentions it overlaps."""
    overlapped = [p for other, p in higher if _covers(ixn, other)]
    if not overlapped:
        return who
    return {"and_ids": {"ids": [who, *({"not_id": p} for p in overlapped)]}}


def network_rules(intentions: list, trust_domain: str, default_allow: bool) -> dict[str, Any]:
    """The ``rules`` of ``envoy.filters.network.rbac`` for the destination's intentions."""
    wanted = "deny" if default_allow else "allow"
    principals, higher = [], []
    for ixn in intentions:
        who = principal(ixn, trust_domain)
        action = "deny" if ixn.Permissions else ixn.Action
        if action == wanted:
            principals.append(_excluding(ixn, who, higher))
        else:
            higher.append((ixn, who))
    rules: dict[str, Any] = {"action": "DENY"} if default_allow else {}
    if principals:
        rules["policies"] = {"consul-intentions-layer4": {
            "permissions": [{"any": True}], "principals": principals}}
    return rules


def http_rules(intentions: list, trust_domain: str, default_allow: bool) -> dict[str, Any]:
    """The ``rules`` of ``envoy.filters.http.rbac``: L4 intentions plus L7 permissions."""
    wanted = "deny" if default_allow else "allow"
    l4, policies, higher = [], {}, []
    for ixn in intentions:
        who = principal(ixn, trust_domain)
        if ixn.Permissions:
            perms = _permissions(ixn.Permissions, wanted)
            if perms:
                policies[f"consul-intentions-layer7-{len(policies)}"] = {
                    "permissions": perms, "principals": [_excluding(ixn, who, higher)]}
            higher.append((ixn, who))
        elif ixn.Action == wanted:
            l4.append(_excluding(ixn, who, higher))
        else:
            higher.append((ixn, who))
    if l4:
        policies["consul-intentions-layer4"] = {"permissions": [{"any": True}],
                                                "principals": l4}
    rules: dict[str, Any] = {"action": "DENY"} if default_allow else {}
    if policies:
        rules["policies"] = policies
    return rules


def _permissions(perms: list, wanted: str) -> list[dict[str, Any]]:
    """The requests an L7 intention decides ``wanted`` (first matching permission wins)."""
    out, earlier = [], []
    for perm in perms:
        rule = _http_match(perm.HTTP)
        if perm.Action == wanted:
            if earlier:
                rule = {"and_rules": {"rules": [rule, *({"not_rule": e} for e in earlier)]}}
            out.append(rule)
        else:
            earlier.append(rule)
    return out


def _http_match(http) -> dict[str, Any]:
    if not http:
        return {"any": True}
    parts = []
    if http.PathExact:
        parts.append({"url_path": {"path": {"exact": http.PathExact}}})
    elif http.PathPrefix:
        parts.append({"url_path": {"path": {"prefix": http.PathPrefix}}})
    elif http.PathRegex:
        parts.append({"url_path": {"path": {"safe_regex": {"regex": http.PathRegex}}}})
    for header in http.Header or ():
        parts.append({"header": _header(header)})
    if http.Methods:
        parts.append({"or_rules": {"rules": [
            {"header": {"name": ":method", "string_match": {"exact": m}}}
            for m in http.Methods]}})
    if not parts:
        return {"any": True}
    return parts[0] if len(parts) == 1 else {"and_rules": {"rules": parts}}


def _header(h) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.Name}
    ignore = {"ignore_case": True} if h.IgnoreCase else {}
    if h.Present:
        out["present_match"] = True
    elif h.Exact:
        out["string_match"] = {"exact": h.Exact, **ignore}
    elif h.Prefix:
        out["string_match"] = {"prefix": h.Prefix, **ignore}
    elif h.Suffix:
        out["string_match"] = {"suffix": h.Suffix, **ignore}
    elif h.Contains:
        out["string_match"] = {"contains": h.Contains, **ignore}
    elif h.Regex:
        out["string_match"] = {"safe_regex": {"regex": h.Regex}}
    if h.Invert:
        out["invert_match"] = True
    return out
