"""Intentions as pure functions over service-intentions entries.

- :func:`all_intentions` — the legacy view of every entry, in precedence order
- :func:`match` — ``/v1/connect/intentions/match?by=source|destination&name=``
- :func:`decide` / :func:`authorize` — may a source service reach a destination
  (the check endpoint and ``/v1/agent/connect/authorize``), with Consul's reasons
- :func:`evaluate_request` — the L7 verdict of an intention's Permissions for
  one HTTP request (what the proxies enforce)
- legacy-ID and exact edits of entries, for the legacy API's writes

Consul CE has one namespace and one partition, both ``default``; they still
appear in the types so the shapes are Consul's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from msgspec import UNSET, structs

from proconsul.structs.config_entries.base import WILDCARD, ConfigEntryError
from proconsul.structs.config_entries.intentions import (
    ACTION_ALLOW,
    DEFAULT_NAMESPACE,
    IntentionPermission,
    ServiceIntentionsConfigEntry,
    SourceIntention,
)
from proconsul.structs.intention import (
    MATCH_DESTINATION,
    MATCH_SOURCE,
    Intention,
    IntentionDecisionSummary,
    IntentionQueryExact,
    from_source,
    sort_key,
)

__all__ = [
    "DEFAULT_POLICY_REASON",
    "DEFAULT_REASON",
    "Request",
    "all_intentions",
    "authorize",
    "decide",
    "delete_by_id",
    "delete_exact",
    "evaluate_request",
    "find_by_id",
    "find_exact",
    "match",
    "target_matches",
    "upsert_exact",
]

DEFAULT_REASON = "Default behavior configured by ACLs"
DEFAULT_POLICY_REASON = "Default intention policy"
DEFAULT_PARTITION = "default"


def all_intentions(entries: Iterable[ServiceIntentionsConfigEntry]) -> list[Intention]:
    """Every source of every entry as an Intention, highest precedence first."""
    out = [from_source(entry, src) for entry in entries for src in entry.Sources or ()]
    out.sort(key=sort_key)
    return out


def target_matches(ixn: Intention, by: str, name: str, namespace: str = DEFAULT_NAMESPACE,
                   partition: str = DEFAULT_PARTITION, peer: str = "") -> bool:
    """Whether ``ixn``'s source (by="source") or destination covers the named service.

    Partitions and peers must be equal; namespace and name match exactly or by ``*``."""
    if by == MATCH_DESTINATION:
        ns, svc, ap = ixn.DestinationNS, ixn.DestinationName, ixn.DestinationPartition
    elif by == MATCH_SOURCE:
        if (ixn.SourcePeer or "") != peer:
            return False
        ns, svc, ap = ixn.SourceNS, ixn.SourceName, ixn.SourcePartition
    else:
        raise ConfigEntryError(f"Unknown match type: {by}")
    if (ap or DEFAULT_PARTITION) != (partition or DEFAULT_PARTITION):
        return False
    if ns != WILDCARD and ns != (namespace or DEFAULT_NAMESPACE):
        return False
    return svc in (WILDCARD, name)


def match(intentions: Iterable[Intention], by: str,
          names: Iterable[tuple[str, str]]) -> list[list[Intention]]:
    """One list per (namespace, name), each in precedence order (Consul's IntentionMatch)."""
    if by not in (MATCH_SOURCE, MATCH_DESTINATION):
        raise ConfigEntryError(f"Unknown match type: {by}")
    pool = sorted(intentions, key=sort_key)
    out = []
    for namespace, name in names:
        hits = [i for i in pool if _covers(i, by, namespace or DEFAULT_NAMESPACE, name)]
        out.append(hits)
    return out


def _covers(ixn: Intention, by: str, namespace: str, name: str) -> bool:
    # Matching by source looks at local sources only; by destination, at every source.
    if by == MATCH_DESTINATION:
        ns, svc = ixn.DestinationNS, ixn.DestinationName
    else:
        if ixn.SourcePeer or ixn.SourceSamenessGroup:
            return False
        ns, svc = ixn.SourceNS, ixn.SourceName
    return (ns in (WILDCARD, namespace)) and (svc in (WILDCARD, name))


def decide(intentions: Iterable[Intention], source: str, destination: str,
           default_allow: bool, source_ns: str = DEFAULT_NAMESPACE,
           source_partition: str = DEFAULT_PARTITION, source_peer: str = "",
           destination_ns: str = DEFAULT_NAMESPACE) -> tuple[Intention | None,
                                                              IntentionDecisionSummary]:
    """The intention that decides ``source → destination`` and Consul's summary of it.

    L7 intentions (with Permissions) deny at L4: only a proxy that sees the
    request can apply them."""
    [candidates] = match(intentions, MATCH_DESTINATION, [(destination_ns, destination)])
    chosen = next((i for i in candidates
                   if target_matches(i, MATCH_SOURCE, source, source_ns, source_partition,
                                     source_peer)), None)
    summary = IntentionDecisionSummary()
    if chosen is None:
        summary.DefaultAllow = default_allow
        summary.Allowed = default_allow
        return None, summary
    summary.Allowed = chosen.Action == ACTION_ALLOW
    if chosen.Permissions:
        summary.HasPermissions = True
        summary.Allowed = False
    summary.ExternalSource = (chosen.Meta or {}).get("external-source", "")
    summary.HasExact = chosen.SourceName != WILDCARD and chosen.DestinationName != WILDCARD
    return chosen, summary


def authorize(intentions: Iterable[Intention], source: str, destination: str,
              default_allow: bool, source_ns: str = DEFAULT_NAMESPACE,
              source_partition: str = DEFAULT_PARTITION,
              default_intention_policy: str = "") -> tuple[bool, str]:
    """``/v1/agent/connect/authorize``'s verdict and reason for a client of ``source``.

    With no matching intention the agent's ``default_intention_policy`` decides
    when set, otherwise the ACL default (``default_allow``)."""
    chosen, summary = decide(intentions, source, destination, default_allow,
                             source_ns=source_ns, source_partition=source_partition)
    if chosen is None:
        if default_intention_policy:
            return default_intention_policy == ACTION_ALLOW, DEFAULT_POLICY_REASON
        return default_allow, DEFAULT_REASON
    if chosen.Permissions:
        return False, f"Matched L7 intention: {chosen.describe()}"
    return summary.Allowed, f"Matched L4 intention: {chosen.describe()}"


# ---- L7 --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of an HTTP request that L7 permissions look at."""

    method: str
    path: str
    headers: Mapping[str, str]


def evaluate_request(permissions: Iterable[IntentionPermission], request: Request,
                     default_allow: bool) -> bool:
    """The first permission matching the request decides; none matching → the default."""
    for perm in permissions:
        if _permission_matches(perm, request):
            return perm.Action == ACTION_ALLOW
    return default_allow


def _permission_matches(perm: IntentionPermission, request: Request) -> bool:
    http = perm.HTTP or None
    if http is None:
        return False
    path = request.path.split("?", 1)[0]
    if http.PathExact and path != http.PathExact:
        return False
    if http.PathPrefix and not path.startswith(http.PathPrefix):
        return False
    if http.PathRegex and not _fullmatch(http.PathRegex, path):
        return False
    if http.Methods and request.method.upper() not in http.Methods:
        return False
    headers = {k.lower(): v for k, v in request.headers.items()}
    for hdr in http.Header or ():
        value = headers.get(hdr.Name.lower())
        if _header_matches(hdr, value) == bool(hdr.Invert):
            return False
    return True


def _header_matches(hdr, value: str | None) -> bool:
    if hdr.Present:
        return value is not None
    if value is None:
        return False
    if hdr.Regex:
        return _fullmatch(hdr.Regex, value)
    fold = (lambda s: s.lower()) if hdr.IgnoreCase else (lambda s: s)
    got = fold(value)
    if hdr.Exact:
        return got == fold(hdr.Exact)
    if hdr.Prefix:
        return got.startswith(fold(hdr.Prefix))
    if hdr.Suffix:
        return got.endswith(fold(hdr.Suffix))
    if hdr.Contains:
        return fold(hdr.Contains) in got
    return False


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False


# ---- edits for the legacy and exact APIs ---------------------------------------------


def find_by_id(entries: Iterable[ServiceIntentionsConfigEntry],
               legacy_id: str) -> tuple[ServiceIntentionsConfigEntry, SourceIntention] | None:
    """The entry and source that carry ``legacy_id``, if any."""
    for entry in entries:
        for src in entry.Sources or ():
            if src.LegacyID == legacy_id:
                return entry, src
    return None


def find_exact(entries: Iterable[ServiceIntentionsConfigEntry],
               query: IntentionQueryExact) -> Intention | None:
    """The intention for exactly this source and destination, if any."""
    for entry in entries:
        if entry.Name != query.DestinationName:
            continue
        for src in entry.Sources or ():
            if src.Name == query.SourceName and (src.Peer or "") == (query.SourcePeer or ""):
                return from_source(entry, src)
    return None


def upsert_exact(entry: ServiceIntentionsConfigEntry | None,
                 ixn: Intention) -> ServiceIntentionsConfigEntry:
    """A copy of ``entry`` (or a new one) with ``ixn``'s source put in place or appended.

    Writes through the exact API are config-entry writes: no legacy fields."""
    src = ixn.to_source(legacy=False)
    src = structs.replace(src, LegacyID=UNSET, LegacyMeta=UNSET, LegacyCreateTime=UNSET,
                          LegacyUpdateTime=UNSET)
    if entry is None:
        return ServiceIntentionsConfigEntry(Kind=ServiceIntentionsConfigEntry.KIND,
                                            Name=ixn.DestinationName, Sources=[src],
                                            Meta=ixn.Meta)
    sources = list(entry.Sources or ())
    for i, old in enumerate(sources):
        if old.Name == src.Name and (old.Peer or "") == (src.Peer or ""):
            sources[i] = src
            break
    else:
        sources.append(src)
    return structs.replace(entry, Sources=sources)


def delete_exact(entry: ServiceIntentionsConfigEntry, source: str,
                 peer: str = "") -> ServiceIntentionsConfigEntry | None:
    """``entry`` without the source; None when nothing is left (delete the entry)."""
    sources = [s for s in entry.Sources or () if (s.Name, s.Peer or "") != (source, peer)]
    return structs.replace(entry, Sources=sources) if sources else None


def delete_by_id(entry: ServiceIntentionsConfigEntry,
                 legacy_id: str) -> ServiceIntentionsConfigEntry | None:
    """``entry`` without the source carrying ``legacy_id``; None when nothing is left."""
    sources = [s for s in entry.Sources or () if s.LegacyID != legacy_id]
    return structs.replace(entry, Sources=sources) if sources else None
