"""Watch plans, shared by ``proconsul watch`` and the agent's ``watches``.

A plan is a blocking query in a loop that calls a handler when the view it
watches changes, with Consul's rules: the first result always fires (except
a missing key, which fires once it exists), later results fire only when the
index moved *and* the result differs. :func:`parse` reads Consul's watch
parameters; the HTTP fetch is passed in, so the CLI and the agent each use
their own client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RETRY_BASE = 5.0
RETRY_MAX = 180.0
STATES = ("any", "passing", "warning", "critical")

# Parameters each type takes beyond the common ones.
TYPE_PARAMS: dict[str, tuple[str, ...]] = {
    "key": ("key",), "keyprefix": ("prefix",), "services": (), "nodes": (),
    "service": ("service", "tag", "passingonly"), "checks": ("service", "state"),
    "event": ("name",),
}
COMMON_PARAMS = ("type", "datacenter", "token", "stale", "handler_type", "http_handler_config")

# (HTTP status, body, X-Consul-Index) for a GET of (path, query parameters).
Fetch = Callable[[str, list[tuple[str, str]]], tuple[int, bytes, int]]
Handler = Callable[[int, Any], bool]


class WatchError(ValueError):
    """A watch definition Consul would refuse; the message is Consul's."""


class FetchError(Exception):
    """A blocking query that failed (transport error or an unexpected status)."""


@dataclass(frozen=True)
class WatchSpec:
    """What one watch looks at: its type, that type's parameters and the query options."""

    type: str
    params: tuple[tuple[str, Any], ...] = ()
    datacenter: str = ""
    token: str = ""
    stale: bool = False
    exempt: dict[str, Any] = field(default_factory=dict, compare=False)

    def get(self, name: str, default: Any = "") -> Any:
        return dict(self.params).get(name, default)


def _string(params: dict[str, Any], name: str) -> str:
    value = params.pop(name, "")
    if not isinstance(value, str):
        raise WatchError(f"Expecting {name} to be a string")
    return value


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.pop(name, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise WatchError(f"Expecting {name} to be a boolean")
    return value


def parse(params: Mapping[str, Any], exempt: tuple[str, ...] = ()) -> WatchSpec:
    """A :class:`WatchSpec` from Consul's watch parameters (``exempt`` ones set aside)."""
    rest = dict(params)
    set_aside = {name: rest.pop(name) for name in exempt if name in rest}
    kind = _string(rest, "type")
    if not kind:
        raise WatchError("Watch type must be specified")
    if kind not in TYPE_PARAMS:
        raise WatchError(f"Unsupported watch type: {kind}")
    datacenter, token = _string(rest, "datacenter"), _string(rest, "token")
    stale = _bool(rest, "stale")
    for name in ("handler_type", "http_handler_config"):
        if name in rest:
            set_aside[name] = rest.pop(name)
    own: dict[str, Any] = {}
    for name in TYPE_PARAMS[kind]:
        if name == "passingonly":
            own[name] = _bool(rest, name)
        elif name == "tag":
            tags = rest.pop(name, [])
            tags = [tags] if isinstance(tags, str) else tags
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise WatchError("tag must be a string or a list of strings")
            own[name] = tuple(t for t in tags if t)
        else:
            own[name] = _string(rest, name)
    if rest:
        raise WatchError(f"Invalid parameters: [{' '.join(sorted(rest))}]")
    _check(kind, own)
    return WatchSpec(kind, tuple(sorted(own.items())), datacenter, token, stale, set_aside)


def _check(kind: str, own: dict[str, Any]) -> None:
    if kind == "key" and not own["key"]:
        raise WatchError("Must specify a single key to watch")
    if kind == "keyprefix" and not own["prefix"]:
        raise WatchError("Must specify a single prefix to watch")
    if kind == "service" and not own["service"]:
        raise WatchError("Must specify a single service to watch")
    if kind == "checks" and own["service"] and own["state"]:
        raise WatchError("Cannot specify service and state")
    if kind == "checks" and own["state"] and own["state"] not in STATES:
        raise WatchError(f"Invalid state: {own['state']}")


def request(spec: WatchSpec, index: int) -> tuple[str, list[tuple[str, str]]]:
    """The blocking query for ``spec`` at ``index``: (path, not yet escaped; parameters)."""
    query: list[tuple[str, str]] = []
    if spec.datacenter:
        query.append(("dc", spec.datacenter))
    if spec.stale:
        query.append(("stale", ""))
    if index:
        query.append(("index", str(index)))
    kind = spec.type
    if kind == "key":
        path = "/v1/kv/" + spec.get("key").lstrip("/")
    elif kind == "keyprefix":
        path = "/v1/kv/" + spec.get("prefix").lstrip("/")
        query.append(("recurse", ""))
    elif kind == "services":
        path = "/v1/catalog/services"
    elif kind == "nodes":
        path = "/v1/catalog/nodes"
    elif kind == "service":
        path = "/v1/health/service/" + spec.get("service")
        query += [("tag", tag) for tag in spec.get("tag", ())]
        if spec.get("passingonly", False):
            query.append(("passing", ""))
    elif kind == "checks":
        path = ("/v1/health/checks/" + spec.get("service")
                if spec.get("service") else
                "/v1/health/state/" + (spec.get("state") or "any"))
    else:
        path = "/v1/event/list"
        if spec.get("name"):
            query.append(("name", spec.get("name")))
    return path, query


def id_to_index(event_id: str) -> int:
    """The pseudo-index Consul derives from an event's UUID (``Event.IDToIndex``)."""
    lower = event_id[0:8] + event_id[9:13] + event_id[14:18]
    upper = event_id[19:23] + event_id[24:36]
    return int(lower, 16) ^ int(upper, 16)


def decode(spec: WatchSpec, status: int, body: bytes, last_index: int) -> Any:
    """The handler's payload from a reply: a missing key is ``None``, a missing prefix ``[]``;
    events are only those after the one the last index names."""
    if status == 404 and spec.type in ("key", "keyprefix"):
        return None if spec.type == "key" else []
    if status != 200:
        raise FetchError(f"Unexpected response code: {status} "
                         f"({body.decode(errors='replace').strip()})")
    data = json.loads(body) if body.strip() else None
    if spec.type == "key":
        return data[0] if data else None
    if spec.type == "services":
        return dict(sorted((data or {}).items()))
    if spec.type == "event":
        events = data or []
        for i, event in enumerate(events):
            if id_to_index(event["ID"]) == last_index:
                return events[i + 1:]
        return events
    return data or []


class Plan:
    """Run ``spec``'s blocking query until stopped, calling ``handler(index, result)`` on
    each change; the handler returns False to end the plan."""

    def __init__(self, spec: WatchSpec, fetch: Fetch, handler: Handler,
                 on_error: Callable[[str], None]) -> None:
        self.spec, self.fetch, self.handler, self.on_error = spec, fetch, handler, on_error
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        index, last_result, failures = 0, None, 0
        while not self.stopped.is_set():
            path, query = request(self.spec, index)
            try:
                status, body, new_index = self.fetch(path, query)
                result = decode(self.spec, status, body, index)
            except (OSError, FetchError, ValueError) as err:
                if self.stopped.is_set():
                    return
                failures += 1
                retry = min(RETRY_BASE * failures * failures, RETRY_MAX)
                self.on_error(f"Watch (type: {self.spec.type}) errored: {err}, "
                              f"retry in {retry:g}s")
                self.stopped.wait(retry)
                continue
            failures = 0
            if self.stopped.is_set():
                return
            previous = index
            index = 0 if new_index < previous else max(new_index, 1)
            if previous and previous == new_index:
                continue
            if result == last_result:
                continue
            last_result = result
            if not self.handler(new_index, result):
                self.stopped.set()
