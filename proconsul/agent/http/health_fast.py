"""The short way for ``GET /v1/health/service/<name>`` on a server agent (see :mod:`kv_fast`).

A plain health query (no query string but ``?stale``, no Cache-Control or
Authorization header, ACLs off) answered by this agent's own server reads the
store's shared rows and their shared JSON body, and formats the reply's head in
one step -- without the route table, the query options, the forwarder, the
endpoint and the blocking-query wrapper. The reply, the counters and the timers
are the general handler's (tests compare the bytes). Anything else, or a
follower asked for a default read, returns None and the general path answers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec

from proconsul.agent.http import agent_metrics
from proconsul.agent.http.health import listed_nodes
from proconsul.agent.http.kv_fast import JSON_HEAD, read_meta
from proconsul.agent.http.reply import SHARED_BODIES
from proconsul.lib import httpserver as web
from proconsul.lib.httpserver.message import EncodedResponse, date_line
from proconsul.lib.metrics import registry as metrics
from proconsul.server.endpoints.catalog import count_service_query

if TYPE_CHECKING:
    from proconsul.agent.agent import Agent

PREFIX = "/v1/health/service/"
ROUTE = PREFIX + "{service}"  # the general route's pattern, for the request metrics

_encode = msgspec.json.Encoder().encode


class HealthFastPath:
    """Serves plain health queries of a server agent; None means "not mine"."""

    def __init__(self, agent: Agent) -> None:
        self._server = agent.server
        self._acl = agent.config.acl.enabled
        self._log = logging.getLogger("agent.http")
        self._keys = agent_metrics.request_keys("GET", ROUTE)

    def get(self, request: web.Request) -> EncodedResponse | None:
        query = request.query_string
        stale = query == "stale"
        if query and not stale:
            return None
        name = request.path[len(PREFIX):]
        headers = request.headers
        server = self._server
        if (not name or not name.isascii() or server is None or self._acl
                or dict.get(headers, "cache-control") is not None
                or dict.get(headers, "authorization") is not None
                or self._log.isEnabledFor(logging.DEBUG)):
            return None
        consensus = server.consensus
        leader = consensus.is_leader()
        if not (leader or stale):
            return None  # the forwarder takes it to the leader
        start = metrics.timer()
        metrics.incr_counter("consul.rpc.query")
        index, rows = server.store.shared_check_service_nodes(None, name)
        count_service_query("health", name, not rows)
        # the general handler's shared body: the same bytes, encoded once per rows
        body = SHARED_BODIES.body(rows, False, lambda: _encode(listed_nodes(rows)))
        response = EncodedResponse(
            JSON_HEAD % date_line() + read_meta(consensus, leader, stale, index, len(body)),
            body)
        metrics.add_samples(self._keys, (metrics.timer() - start) * 1000.0)
        return response
