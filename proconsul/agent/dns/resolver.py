"""The request handler: bytes in, bytes out, for every name a Consul agent answers.

Routing follows Consul's handler table: names in the domain (or alt
domain), then names under ``arpa.`` (reverse lookups), then everything else
to the recursors, or REFUSED without any.

Replies to names in the domain are cached per request (the bytes after its
ID, per transport) for as long as the lookup's :meth:`~.lookup.Lookup.version`
stays the same, so a repeated question costs a dict lookup plus a shuffle.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass

import dns.rcode

from proconsul.agent.dns.answers import AnswerBuilder
from proconsul.agent.dns.lookup import Lookup, LookupFailed
from proconsul.agent.dns.message import Reply, Request, parse_request, simple_reply
from proconsul.agent.dns.names import domain_suffix
from proconsul.agent.dns.plan import Plan
from proconsul.agent.dns.records import BadName, Name
from proconsul.agent.dns.recursor import Recursor
from proconsul.agent.dns.settings import DNSSettings
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.metrics import sample_key

log = logging.getLogger(__name__)

MAX_CACHED_REPLIES = 20_000
MAX_STALE_PLANS = 20_000


@dataclass
class DNSStats:
    """Counters of what the resolver did."""

    queries: int = 0
    cache_hits: int = 0
    malformed: int = 0  # dropped, or answered FORMERR/NOTIMP
    refused: int = 0
    recursed: int = 0
    servfail: int = 0
    stale_answers: int = 0
    overloaded: int = 0  # UDP requests dropped while too many waited on lookups
    internal_errors: int = 0  # bugs: a request the resolver could not handle


class Resolver:
    """Answers DNS requests for one agent."""

    def __init__(self, settings: DNSSettings, lookup: Lookup, node_name: str = "") -> None:
        self.settings = settings
        self.lookup = lookup
        labels = {"node": node_name}  # Consul's dns.*_query timers' label
        self._domain_keys = (sample_key("consul.dns.domain_query", labels),)
        self._ptr_keys = (sample_key("consul.dns.ptr_query", labels),)
        self.recursor = (Recursor(settings.recursors, settings.recursor_timeout,
                                  settings.recursor_strategy) if settings.recursors else None)
        self.stats = DNSStats()
        self._caches: tuple[dict[bytes, Reply], dict[bytes, Reply]] = ({}, {})
        self._version: Hashable | None = None
        self._last_good: dict[tuple[Name, int], Plan] = {}

    def cached(self, data: bytes, tcp: bool) -> bytes | None:
        """The reply to ``data`` if an identical request was answered since the last change."""
        reply = self._caches[tcp].get(data[2:])
        if reply is None:
            return None
        if self.lookup.version() != self._version:
            self._reset_cache()
            return None
        self.stats.queries += 1
        self.stats.cache_hits += 1
        return reply.render(data[:2])

    async def resolve(self, data: bytes, tcp: bool, client_ip: str = "") -> bytes | None:
        """The reply to the request ``data`` (sent from ``client_ip``), or None when it is
        to be dropped."""
        self.stats.queries += 1
        try:
            request = parse_request(data)
            if request is None or isinstance(request, bytes):
                self.stats.malformed += 1
                return request
            return await self._answer(data, request, tcp, client_ip)
        except Exception:
            self.stats.internal_errors += 1
            log.exception("DNS request could not be handled")
            return None

    async def _answer(self, data: bytes, request: Request, tcp: bool,
                      client_ip: str) -> bytes | None:
        s = self.settings
        q = request.question
        suffix = domain_suffix(q.lower, s.domain, s.alt_domain)
        version = self.lookup.version()
        builder = AnswerBuilder(s, self.lookup, self.recursor, client_ip)
        start = metrics.timer()
        if suffix is not None:
            plan = await self._domain_plan(builder, request, suffix)
            metrics.add_samples(self._domain_keys, (metrics.timer() - start) * 1000.0)
        elif q.name and q.lower[-1] == b"arpa":
            plan = await builder.reverse(q)
            metrics.add_samples(self._ptr_keys, (metrics.timer() - start) * 1000.0)
            if plan is None:
                return await self._recurse(request, tcp)
        elif self.recursor is not None:
            return await self._recurse(request, tcp)
        else:
            self.stats.refused += 1
            return simple_reply(request, dns.rcode.REFUSED)
        if plan.rcode == dns.rcode.SERVFAIL:
            self.stats.servfail += 1
        try:
            reply = Reply(request, plan, tcp=tcp, compress=s.compress,
                          recursion_available=self.recursor is not None,
                          udp_answer_limit=s.udp_answer_limit, enable_truncate=s.enable_truncate)
        except BadName:
            log.warning("cannot encode the answer to %s: a name in it is invalid",
                        b".".join(q.name).decode("utf-8", "replace"))
            self.stats.servfail += 1
            return simple_reply(request, dns.rcode.SERVFAIL, self.recursor is not None)
        if plan.cacheable:
            self._remember(data, tcp, reply, version)
        return reply.render(data[:2])

    async def _domain_plan(self, builder: AnswerBuilder, request: Request, suffix: int) -> Plan:
        q = request.question
        key = (q.lower, q.qtype)
        try:
            plan = await builder.domain(q, suffix)
        except LookupFailed as err:
            stale = self._last_good.get(key)
            if stale is None or not self.settings.serve_stale_on_error:
                log.warning("DNS lookup of %s failed: %s",
                            b".".join(q.name).decode("utf-8", "replace"), err)
                return Plan(rcode=dns.rcode.SERVFAIL, cacheable=False)
            self.stats.stale_answers += 1
            plan = stale.with_ttl(self.settings.stale_ttl)
            plan.cacheable = False
            return plan
        if self.settings.serve_stale_on_error:
            self._last_good.pop(key, None)
            if len(self._last_good) >= MAX_STALE_PLANS:
                del self._last_good[next(iter(self._last_good))]
            self._last_good[key] = plan
        return plan

    async def _recurse(self, request: Request, tcp: bool) -> bytes:
        self.stats.recursed += 1
        reply = await self.recursor.forward(request.message, tcp)
        if reply is not None:
            return reply
        self.stats.servfail += 1
        return simple_reply(request, dns.rcode.SERVFAIL, recursion_available=True, edns=True)

    def _remember(self, data: bytes, tcp: bool, reply: Reply, version: Hashable | None) -> None:
        """Cache ``reply`` if nothing changed since its lookups began."""
        current = self.lookup.version()
        if version is None or current != version:
            return
        if current != self._version:
            self._reset_cache()
            self._version = current
        cache = self._caches[tcp]
        if len(cache) >= MAX_CACHED_REPLIES:
            del cache[next(iter(cache))]
        cache[data[2:]] = reply

    def _reset_cache(self) -> None:
        for cache in self._caches:
            cache.clear()
        self._version = None
