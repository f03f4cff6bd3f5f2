"""Gossip keyring operations across a pool, through serf's ``_serf_*-key`` queries."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable

from proconsul.agent.gossip import Gossip, SerfPool
from proconsul.gossip import serf_wire as sw
from proconsul.gossip.msgpack import DecodeError
from proconsul.gossip.serf import QueryDone, QueryParams, QueryResponseEvent, SerfEvent
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.keyring import KeyringResponse

# Consul's keyring operation names -> serf's query names.
SERF_QUERY = {"list": "list-keys", "install": "install-key", "use": "use-key",
              "remove": "remove-key"}

__all__ = ["SERF_QUERY", "KeyringResponse", "decode_key", "keyring_operation",
           "pool_keyring", "raise_on_errors"]


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


def pool_keyring(gossip: Gossip, datacenter: str
                 ) -> Callable[[bool, str, str], Awaitable[KeyringResponse]]:
    """What the agent's server runs a keyring operation with: Consul's operation name
    and base64 key, on the agent's WAN or LAN pool."""

    async def run(wan: bool, operation: str, key: str) -> KeyringResponse:
        raw = decode_key(key) if operation != "list" else None
        return await keyring_operation(gossip.pool(wan), datacenter, SERF_QUERY[operation], raw)

    return run


def raise_on_errors(reports: list[KeyringResponse]) -> None:
    """Consul answers a failed install/use/remove with a 500 naming the nodes."""
    failures = [f"{node}: {message}" for r in reports for node, message in r.Messages.items()]
    if failures:
        raise ConsulError("; ".join(sorted(failures)))
