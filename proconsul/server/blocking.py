"""Blocking queries: re-run a read until its index passes the caller's or time runs out."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from proconsul.state.watch import WatchRegistry, WatchSet
from proconsul.structs.query import (
    DEFAULT_QUERY_TIME_NS,
    JITTER_FRACTION,
    MAX_QUERY_TIME_NS,
    QueryOptions,
)

Query = Callable[[WatchSet | None], int]

RPC_CLIENT_TIMEOUT = 60.0  # limits.rpc_client_timeout

# default_query_time and max_query_time of the agent in this process (Consul's 5 and 10 min).
_query_times = [DEFAULT_QUERY_TIME_NS, MAX_QUERY_TIME_NS]


def set_query_times(default: float, maximum: float) -> None:
    """Seconds a blocking query waits without ``?wait``, and the most it may wait."""
    _query_times[:] = [int(default * 1e9), int(maximum * 1e9)]


def max_query_time_ns() -> int:
    """The longest a blocking query may wait (max_query_time)."""
    return _query_times[1]


def wait_seconds(max_query_time_ns: int) -> float:
    """How long a blocking query with this ``?wait`` waits at least (before its jitter)."""
    return _wait_ns(max_query_time_ns) / 1e9


def _wait_ns(max_query_time_ns: int) -> int:
    default, maximum = _query_times
    return min(max_query_time_ns if max_query_time_ns > 0 else default, maximum)


def call_timeout(request: object) -> float:
    """How long an RPC carrying ``request`` may take: the client timeout, plus
    the longest a blocking query can wait (with its jitter)."""
    if not isinstance(request, QueryOptions) or request.MinQueryIndex == 0:
        return RPC_CLIENT_TIMEOUT
    wait = _wait_ns(request.MaxQueryTime)
    return RPC_CLIENT_TIMEOUT + (wait + wait // JITTER_FRACTION) / 1e9


def query_timeout(max_query_time_ns: int) -> float:
    """Seconds to block: default_query_time (5 min), capped at max_query_time (10 min),
    plus up to 1/16 jitter."""
    wait = _wait_ns(max_query_time_ns)
    wait += random.randrange(max(1, wait // JITTER_FRACTION))
    return wait / 1e9


async def wait_for_change(registry: WatchRegistry, topics: set, timeout: float) -> bool:
    """Wait until one of ``topics`` fires (True) or ``timeout`` passes (False)."""
    if timeout <= 0:
        return False
    loop = asyncio.get_running_loop()
    fired = loop.create_future()

    def wake() -> None:
        if not fired.done():
            fired.set_result(True)

    def expire() -> None:
        if not fired.done():
            fired.set_result(False)

    registry.register(topics, wake)
    timer = loop.call_later(timeout, expire)
    try:
        return await fired
    finally:
        timer.cancel()
        registry.unregister(topics, wake)


async def run_blocking(registry: WatchRegistry, generation: Callable[[], int],
                       opts: QueryOptions, query: Query) -> int:
    """Run ``query`` (which fills the reply and returns its index) Consul's way.

    Index 0 means a plain read. Otherwise the query re-runs whenever a topic it
    read fires, returning once its index exceeds ``MinQueryIndex``, when the
    timeout passes, or when the whole state was replaced by a restore.
    """
    if opts.MinQueryIndex == 0:
        return max(query(None), 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + query_timeout(opts.MaxQueryTime)
    start_generation = generation()
    while True:
        watches = WatchSet()
        index = query(watches)
        if index > opts.MinQueryIndex or generation() != start_generation:
            break
        if not await wait_for_change(registry, watches.topics, deadline - loop.time()):
            break
    return max(index, 1)
