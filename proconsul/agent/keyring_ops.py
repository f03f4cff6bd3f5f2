"""Gossip keyring operations across a pool, through serf's ``_serf_*-key`` queries."""

from __future__ import annotations

import asyncio
import base64
import binascii

from proconsul.agent.gossip import SerfPool
from proconsul.gossip import serf_wire as sw
from proconsul.gossip.msgpack import DecodeError
from proconsul.gossip.serf import QueryDone, QueryParams, QueryResponseEvent, SerfEvent
from proconsul.structs.base import Int, Record
from proconsul.structs.errors import BadRequest, ConsulError

OPERATIONS = ("list-keys", "install-key", "use-key", "remove-key")


class KeyringResponse(Record):
    """One pool's answer, as ``/v1/operator/keyring`` shows it."""

    WAN: bool
    Datacenter: str
    Segment: str = ""
    Keys: dict[str, Int] = {}
    PrimaryKeys: dict[str, Int] = {}
    NumNodes: Int = 0
    NumResp: Int = 0
    NumErr: Int = 0
    Messages: dict[str, str] = {}


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Invalid key: not base64") from None
    if len(key) not in (16, 24, 32):
        raise BadRequest("Invalid key: must be 16, 24 or 32 bytes")
    return key


async def keyring_operation(pool: SerfPool, datacenter: str, operation: str,
                            key: bytes | None = None) -> KeyringResponse:
    """Ask every member of ``pool`` to run ``operation``; collect and count answers."""
    payload = b"" if key is None else sw.encode_serf(sw.KeyRequest(key=key))
    driver = pool.driver
    expected = sum(1 for m in driver.members() if int(m.status) == 1)
    answers: asyncio.Queue[SerfEvent] = asyncio.Queue()
    query_id: list[int] = []

    def collect(event: SerfEvent) -> None:
        if isinstance(event, QueryResponseEvent | QueryDone) and query_id \
                and event.query_id == query_id[0]:
            answers.put_nowait(event)

    driver.subscribe(collect)
    try:
        query_id.append(driver.query(f"_serf_{operation}", payload, QueryParams()))
        report = KeyringResponse(WAN=pool.kind == "wan", Datacenter=datacenter,
                                 NumNodes=expected)
        while report.NumResp < expected:
            event = await answers.get()
            if isinstance(event, QueryDone):
                break
            _count(report, event)
    finally:
        driver.unsubscribe(collect)
    if report.NumResp < expected:
        report.NumErr += expected - report.NumResp
        report.Messages.setdefault("", f"{expected - report.NumResp} nodes did not answer")
    return report


def _count(report: KeyringResponse, event: QueryResponseEvent) -> None:
    report.NumResp += 1
    try:
        _, response = sw.decode_serf(event.payload)
    except DecodeError:
        report.NumErr += 1
        report.Messages[event.from_node] = "malformed key response"
        return
    if not response.result:
        report.NumErr += 1
        report.Messages[event.from_node] = response.message
    for key in response.keys:
        report.Keys[key] = report.Keys.get(key, 0) + 1
    if response.primary_key:
        report.PrimaryKeys[response.primary_key] = report.PrimaryKeys.get(
            response.primary_key, 0) + 1


def raise_on_errors(reports: list[KeyringResponse]) -> None:
    """Consul answers a failed install/use/remove with a 500 naming the nodes."""
    failures = [f"{node}: {message}" for r in reports for node, message in r.Messages.items()]
    if failures:
        raise ConsulError("; ".join(sorted(failures)))
