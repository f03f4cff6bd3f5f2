"""User events fired in another datacenter through its servers (Consul's Internal.EventFire)."""

from __future__ import annotations

from proconsul.structs.query import QueryMeta, QueryOptions

USER_EVENT_PREFIX = "consul:event:"  # the serf event name of a Consul user event


class EventFireRequest(QueryOptions):
    """Fire user event ``Name`` in ``Datacenter``; ``Payload`` is the encoded event."""

    Datacenter: str = ""
    Name: str = ""
    Payload: bytes | None = None


class EventFireResponse(QueryMeta):
    """Only the query meta."""
