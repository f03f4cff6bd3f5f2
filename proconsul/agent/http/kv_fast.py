"""The short way for the hottest KV requests on a server agent.

``GET /v1/kv/<key>`` (default or ``?stale``) and ``PUT /v1/kv/<key>`` (no query)
answered by this agent's own server skip the route table, the query-option
parsing, the RPC forwarder and the endpoint wrappers: the key goes straight to
the state store, or the write straight to :meth:`Server.raft_apply`, and the
reply's head is formatted in one step. The replies, the raft log entry and the
metrics recorded are the same as the general handlers' (tests compare them byte
for byte). Anything else -- another query argument, a non-ASCII key, an
Authorization header, a follower asked for a default read, a token the ACLs
refuse, a write this server cannot propose -- returns None before any effect,
and the general path answers it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from proconsul.agent.http import agent_metrics
from proconsul.agent.http.kv import KV_MAX_VALUE_SIZE
from proconsul.agent.http.kv_fast_acl import KeyDecisions
from proconsul.lib import httpserver as web
from proconsul.lib.httpserver.message import EncodedResponse, date_line
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.metrics import sample_key
from proconsul.server.forward import LeaderUnavailable
from proconsul.structs.errors import ConsulError
from proconsul.structs.kv import DirEntry, KVOp, KVSRequest
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.agent.agent import Agent

ROUTE = "/v1/kv/{key}"  # the general route's pattern, for the request metrics
PREFIX_LEN = len("/v1/kv/")

_encode = msgspec.json.Encoder().encode
JSON_HEAD = b"HTTP/1.1 200 OK\r\n%sContent-Type: application/json\r\n"
_NOT_FOUND_HEAD = b"HTTP/1.1 404 Not Found\r\n%s"
# a read's meta headers, as params.set_meta writes them, and its length
READ_META = (b"X-Consul-Index: %d\r\nX-Consul-KnownLeader: %s\r\nX-Consul-LastContact: %d\r\n"
             b"X-Consul-Effective-Consistency: %s\r\nContent-Length: %d\r\n")
_PUT_HEAD = b"Content-Length: %d\r\n"
_KVS_APPLY = (sample_key("consul.kvs.apply"),)
# looked up once: Python 3.11's EnumType.__getattr__ makes each Enum.MEMBER lookup slow
_SET, _KVS = KVOp.SET, MessageType.KVS


def read_meta(consensus: Any, leader: bool, stale: bool, index: int, length: int) -> bytes:
    """The meta headers of a read served by this server (``leader``: it leads now)."""
    if leader:
        known, contact = b"true", 0
    else:
        known = b"false" if consensus.leader_address() is None else b"true"
        contact = int(consensus.last_contact() * 1000)
    return READ_META % (max(index, 1), known, contact, b"stale" if stale else b"leader", length)


class KVFastPath:
    """Serves the plain KV reads and writes of a server agent; None means "not mine"."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._server = agent.server
        self._acl = agent.config.acl.enabled and self._server is not None
        if self._acl:
            self._reads = KeyDecisions(self._server.acl, "key_read")
            self._writes = KeyDecisions(self._server.acl, "key_write")
        self._log = logging.getLogger("agent.http")
        self._token_slots = agent.tokens.slots  # the default token, read without a call
        # the request timers, recorded here (the debug log line is the general path's)
        self._get_keys = agent_metrics.request_keys("GET", ROUTE)
        # consul.kvs.apply and the request timers: one sample each, in one call
        self._put_keys = _KVS_APPLY + agent_metrics.request_keys("PUT", ROUTE)

    def get(self, request: web.Request) -> EncodedResponse | None:
        """``GET /v1/kv/<key>`` or ``...?stale``, read from this server's store."""
        query = request.query_string
        stale = query == "stale"
        if query and not stale:
            return None
        # The key of a plain request (ASCII, not empty) and its token: the X-Consul-Token
        # header's, else the agent's default (an Authorization header takes the general
        # path). The same in put(), inline: a call less each.
        key = request.path[PREFIX_LEN:]
        headers = request.headers
        server = self._server
        if (not key or not key.isascii() or server is None
                or dict.get(headers, "authorization") is not None
                or self._log.isEnabledFor(logging.DEBUG)):
            return None
        secret = dict.get(headers, "x-consul-token")
        if secret is None:
            secret = self._token_slots["default"]
        consensus = server.consensus
        leader = consensus.is_leader()
        if not (leader or stale):
            return None  # the forwarder takes it to the leader
        start = metrics.timer()
        if self._acl and not self._reads.allowed(secret, key):
            return None  # the general path says why
        metrics.incr_counter("consul.rpc.query")
        index, entry = server.store.kv_get(None, key)
        if entry is None:
            head = _NOT_FOUND_HEAD % date_line()
            body = b""
        else:
            head = JSON_HEAD % date_line()
            body = _encode((entry,))
        if leader:  # read_meta(), inlined for the leader
            meta = READ_META % (max(index, 1), b"true", 0, b"stale" if stale else b"leader",
                                len(body))
        else:
            meta = read_meta(consensus, leader, stale, index, len(body))
        response = EncodedResponse(head + meta, body)
        metrics.add_samples(self._get_keys, (metrics.timer() - start) * 1000.0)
        return response

    def put(self, request: web.Request) -> web.Pending | web.Response | None:
        """``PUT /v1/kv/<key>`` with no query: a plain set, proposed by this leader now;
        the reply is made when it is applied."""
        body = request._body
        if request.query_string or len(body) > KV_MAX_VALUE_SIZE:
            return None
        key = request.path[PREFIX_LEN:]  # as in get()
        headers = request.headers
        server = self._server
        if (not key or not key.isascii() or server is None
                or dict.get(headers, "authorization") is not None
                or self._log.isEnabledFor(logging.DEBUG)
                or not server.consensus.is_leader()):
            return None
        secret = dict.get(headers, "x-consul-token")
        if secret is None:
            secret = self._token_slots["default"]
        start = metrics.timer()
        if self._acl and not self._writes.allowed(secret, key):
            return None
        req = KVSRequest(Op=_SET, DirEnt=DirEntry(Key=key, Value=body or None),
                         Datacenter=self._agent.config.datacenter, Token=secret)
        try:
            future = server.raft_submit(_KVS, req)
        except LeaderUnavailable:
            return None  # refused before proposing: the forwarder holds it for a leader
        except ConsulError as err:
            return self._put_reply(start, web.Response(status=err.status, text=err.message))
        return web.Pending(future, functools.partial(self._put_done, start))

    def _put_done(self, start: float, future: asyncio.Future[Any]
                  ) -> EncodedResponse | web.Response:
        try:  # raft_outcome() is asked only when the write did not simply succeed
            done = future.result()
        except BaseException:
            done = None
        if type(done) is not bool:
            assert self._server is not None
            try:
                done = self._server.raft_outcome(_KVS, future)
            except ConsulError as err:
                return self._put_reply(start, web.Response(status=err.status,
                                                           text=err.message))
        reply = b"true" if done else b"false"
        response = EncodedResponse(JSON_HEAD % date_line() + _PUT_HEAD % len(reply), reply)
        metrics.add_samples(self._put_keys, (metrics.timer() - start) * 1000.0)
        return response

    def _put_reply(self, start: float, response: EncodedResponse | web.Response
                   ) -> EncodedResponse | web.Response:
        elapsed_ms = (metrics.timer() - start) * 1000.0
        metrics.add_samples(self._put_keys, elapsed_ms)
        return response
