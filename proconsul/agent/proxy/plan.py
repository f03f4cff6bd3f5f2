"""Config change → listener actions: the sans-IO core of live reload.

A listener whose bind address stays the same is updated in place (new
connections follow the new settings, established ones are untouched); one
whose bind address changes is closed and bound again. Stops come first so
a port handed from one listener to another is free when it is bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from proconsul.agent.proxy.config import ProxyConfig, PublicListenerConfig, UpstreamConfig


@dataclass(frozen=True)
class StartPublic:
    config: PublicListenerConfig


@dataclass(frozen=True)
class UpdatePublic:
    config: PublicListenerConfig


@dataclass(frozen=True)
class StopPublic:
    pass


@dataclass(frozen=True)
class StartUpstream:
    config: UpstreamConfig


@dataclass(frozen=True)
class UpdateUpstream:
    config: UpstreamConfig


@dataclass(frozen=True)
class StopUpstream:
    bind: tuple[str, int]


@dataclass(frozen=True)
class ChangeService:
    """The proxied service changed: fetch (and serve) that service's leaf."""

    service: str


Action = (StartPublic | UpdatePublic | StopPublic | StartUpstream | UpdateUpstream
          | StopUpstream | ChangeService)


def plan(old: ProxyConfig | None, new: ProxyConfig) -> list[Action]:
    """The actions that turn a proxy running ``old`` (None: nothing yet) into ``new``."""
    stops: list[Action] = []
    changes: list[Action] = []
    starts: list[Action] = []
    if old is None or old.service != new.service:
        changes.append(ChangeService(new.service))
    was = old.public if old is not None else None
    if was is not None and (new.public is None or was.bind != new.public.bind):
        stops.append(StopPublic())
        was = None
    if new.public is not None:
        if was is None:
            starts.append(StartPublic(new.public))
        elif was != new.public:
            changes.append(UpdatePublic(new.public))
    before = {u.bind: u for u in old.upstreams} if old is not None else {}
    after = {u.bind: u for u in new.upstreams}
    for bind in before.keys() - after.keys():
        stops.append(StopUpstream(bind))
    for bind, upstream in after.items():
        if bind not in before:
            starts.append(StartUpstream(upstream))
        elif before[bind] != upstream:
            changes.append(UpdateUpstream(upstream))
    return [*sorted(stops, key=repr), *changes, *starts]
