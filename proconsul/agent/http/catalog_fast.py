"""The short way for ``PUT /v1/catalog/register`` on a leader (see :mod:`kv_fast`).

A registration with no query string, no token in a header and the agent's own
datacenter is decoded, checked by the Catalog endpoint's own
:meth:`~proconsul.server.endpoints.catalog.Catalog.prepare_register`, proposed
with :meth:`Server.raft_submit`, and answered when it is applied -- without the
route table, the forwarder, the RPC wrappers or a task. A body that does not
decode, a registration the endpoint refuses, a follower: None before any
effect, and the general handler answers (with the same error).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from proconsul.agent.http import agent_metrics
from proconsul.agent.http.catalog import OWNED_NODE_WARNING, agent_owned
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.kv_fast import JSON_HEAD
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.httpserver.message import EncodedResponse, date_line
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.metrics import sample_key
from proconsul.server.endpoints.catalog import Catalog
from proconsul.structs.catalog import RegisterRequest
from proconsul.structs.errors import ConsulError
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    import asyncio

    from proconsul.agent.agent import Agent

ROUTE = "/v1/catalog/register"
_TRUE = b"Content-Length: 4\r\n"  # after JSON_HEAD: the reply to a registration, true


class RegisterFastPath:
    """Serves plain catalog registrations on a leading server agent; None: not mine."""

    def __init__(self, agent: Agent) -> None:
        assert agent.server is not None
        self._agent = agent
        self._server = agent.server
        self._catalog = Catalog(agent.server)
        self._log = logging.getLogger("agent.http")
        # consul.catalog.register and the request timers: one sample each, in one call
        self._keys = (sample_key("consul.catalog.register"),
                      *agent_metrics.request_keys("PUT", ROUTE))

    def put(self, request: web.Request) -> web.Pending | None:
        headers = request.headers
        server = self._server
        if (request.query_string or dict.get(headers, "x-consul-token") is not None
                or dict.get(headers, "authorization") is not None
                or self._log.isEnabledFor(logging.DEBUG) or not server.consensus.is_leader()):
            return None
        start = metrics.timer()
        try:
            req = decode_json(request._body, RegisterRequest)
            own = self._agent.config.datacenter
            if req.Datacenter and req.Datacenter != own:
                return None
            req.Datacenter = own
            req.Token = self._agent.tokens.default
            self._catalog.prepare_register(req)
            future = server.raft_submit(MessageType.REGISTER, req)
        except ConsulError:  # LeaderUnavailable among them: nothing was proposed
            return None
        return web.Pending(future, functools.partial(self._done, request, start, req.Node))

    def _done(self, request: web.Request, start: float, node: str,
              future: asyncio.Future[Any]) -> web.Response | EncodedResponse:
        response: web.Response | EncodedResponse
        try:
            self._server.raft_outcome(MessageType.REGISTER, future)
        except ConsulError as err:
            response = web.Response(status=err.status, text=err.message)
        else:
            if agent_owned(self._agent, node):
                response = json_reply(request, True)
                response.headers["Warning"] = OWNED_NODE_WARNING.format(node=node)
            else:
                response = EncodedResponse(JSON_HEAD % date_line() + _TRUE, b"true")
        metrics.add_samples(self._keys, (metrics.timer() - start) * 1000.0)
        return response
