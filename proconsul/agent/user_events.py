"""Consul user events: fired into LAN gossip, filtered on receipt, kept in a small ring."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import deque
from collections.abc import Callable

import msgspec

from proconsul.gossip.serf import UserEvent
from proconsul.structs.base import Int, Record, Uint64
from proconsul.structs.catalog import NodeService

EVENT_PREFIX = "consul:event:"
EVENT_BUFFER = 256


class UserEventRecord(Record):
    """A user event as ``/v1/event/*`` shows it and as it travels in serf's payload."""

    ID: str = ""
    Name: str = ""
    Payload: bytes | None = None
    NodeFilter: str = ""
    ServiceFilter: str = ""
    TagFilter: str = ""
    Version: Int = 1
    LTime: Uint64 = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(UserEventRecord)


def event_index(event_id: str) -> int:
    """Consul's blocking index for the event list: the two UUID halves XORed."""
    raw = uuid.UUID(event_id).bytes
    return int.from_bytes(raw[:8], "big") ^ int.from_bytes(raw[8:], "big")


class UserEvents:
    """The last 256 events this agent accepted, with waiting for new ones."""

    def __init__(self, node_name: str, local_services: Callable[[], list[NodeService]]) -> None:
        self._node_name = node_name
        self._local_services = local_services
        self._events: deque[UserEventRecord] = deque(maxlen=EVENT_BUFFER)
        self._changed = asyncio.Event()

    def encode(self, record: UserEventRecord) -> tuple[str, bytes]:
        """The serf event name and payload that carry ``record``."""
        return EVENT_PREFIX + record.Name, _encoder.encode(record)

    def received(self, event: UserEvent) -> UserEventRecord | None:
        """Take a serf user event; the record if it was a Consul event meant for this
        agent, else None."""
        if not event.name.startswith(EVENT_PREFIX):
            return None
        try:
            record = _decoder.decode(event.payload)
        except msgspec.DecodeError:
            return None
        if not self._wanted(record):
            return None
        record.LTime = event.ltime
        self._events.append(record)
        self._changed.set()
        self._changed = asyncio.Event()
        return record

    def _wanted(self, record: UserEventRecord) -> bool:
        try:
            if record.NodeFilter and not re.search(record.NodeFilter, self._node_name):
                return False
            if record.ServiceFilter:
                service_re = re.compile(record.ServiceFilter)
                tag_re = re.compile(record.TagFilter) if record.TagFilter else None
                return any(
                    service_re.search(s.Service)
                    and (tag_re is None or any(tag_re.search(t) for t in s.Tags or ()))
                    for s in self._local_services())
        except re.error:
            return False
        return True

    def list(self, name: str = "") -> tuple[int, list[UserEventRecord]]:
        """Events (optionally one name) and their index; 1 when there are none, never 0."""
        events = [e for e in self._events if not name or e.Name == name]
        return (event_index(events[-1].ID) if events else 1), events

    async def wait_list(self, name: str, index: int, timeout: float
                        ) -> tuple[int, list[UserEventRecord]]:
        """Like :meth:`list`, but first wait (up to ``timeout``) for its index to differ."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    current, events = self.list(name)
                    if current != index:
                        return current, events
                    await self._changed.wait()
        except TimeoutError:
            return self.list(name)
