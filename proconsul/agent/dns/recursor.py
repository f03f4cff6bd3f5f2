"""Upstream resolvers (``recursors``) for names outside the domain."""

from __future__ import annotations

import logging
import random

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from proconsul.agent.dns.records import CNAME, Name, Record

log = logging.getLogger(__name__)

# What a failed exchange can raise: no answer in time, a bad or short reply, a dead socket.
EXCHANGE_ERRORS = (dns.exception.DNSException, OSError, EOFError, ValueError)


class Recursor:
    """Asks the configured recursors in turn (in order, or shuffled with ``random``)."""

    def __init__(self, servers: tuple[tuple[str, int], ...], timeout: float,
                 strategy: str = "sequential") -> None:
        self.servers = servers
        self.timeout = timeout
        self.strategy = strategy

    def _order(self) -> list[tuple[str, int]]:
        if self.strategy == "random":
            return random.sample(self.servers, len(self.servers))
        return list(self.servers)

    async def _exchange(self, query: dns.message.Message, host: str, port: int,
                        tcp: bool) -> dns.message.Message:
        if tcp:
            return await dns.asyncquery.tcp(query, host, timeout=self.timeout, port=port)
        return await dns.asyncquery.udp(query, host, timeout=self.timeout, port=port,
                                        ignore_unexpected=True)

    async def forward(self, query: dns.message.Message, tcp: bool) -> bytes | None:
        """The first NOERROR or NXDOMAIN reply to ``query`` as it came, or None if all failed.

        The query goes out over the transport the client used.
        """
        for host, port in self._order():
            try:
                reply = await self._exchange(query, host, port, tcp)
            except EXCHANGE_ERRORS as err:
                log.debug("recurse to %s:%d failed: %r", host, port, err)
                continue
            if reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return reply.to_wire()
            log.debug("recurse to %s:%d answered %s", host, port, dns.rcode.to_text(reply.rcode()))
        log.warning("all resolvers failed for %s", query.question[0] if query.question else "?")
        return None

    async def resolve_a(self, name: Name) -> list[Record]:
        """The answer records of an A query for ``name`` from the first recursor that replies."""
        query = dns.message.make_query(dns.name.Name((*name, b"")), dns.rdatatype.A)
        for host, port in self._order():
            try:
                reply = await self._exchange(query, host, port, tcp=False)
            except EXCHANGE_ERRORS as err:
                log.debug("CNAME resolution via %s:%d failed: %r", host, port, err)
                continue
            return [Record(tuple(rrset.name.labels[:-1]), int(rrset.rdtype), rrset.ttl,
                           rdata.to_wire(),
                           tuple(rdata.target.labels[:-1]) if rrset.rdtype == CNAME else None)
                    for rrset in reply.answer for rdata in rrset]
        return []
