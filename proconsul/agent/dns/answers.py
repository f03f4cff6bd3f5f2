"""Consul's answers: which records a question in the domain (or under ``arpa.``) gets.

The result is a :class:`~.plan.Plan`: records grouped in items (what one
service instance or nameserver contributes, with its additional records),
not yet shuffled, cut or encoded; :mod:`.message` does that per reply.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import dns.rcode

from proconsul.agent.dns import records as rr
from proconsul.agent.dns.instances import (
    ACCEPT_ANY,
    accept_for,
    address_record,
    healthy,
    meta_txt,
    srv_weight,
    translate,
)
from proconsul.agent.dns.lookup import Lookup, LookupFailed, NameNotFound
from proconsul.agent.dns.names import Target, domain_suffix, ip_from_arpa, parse_target
from proconsul.agent.dns.plan import Item, Plan, Question, question
from proconsul.agent.dns.records import Name, Record, lower, name_of, parse_ip
from proconsul.agent.dns.recursor import Recursor
from proconsul.agent.dns.settings import DNSSettings
from proconsul.lib.duration import SECOND, DurationError, parse_duration
from proconsul.structs.catalog import CheckServiceNode, Node

NXDOMAIN = dns.rcode.NXDOMAIN
NOTIMP = dns.rcode.NOTIMP

CONSUL_SERVICE = "consul"
MAX_RECURSION = 3  # CNAME targets inside the domain are resolved at most this deep
MAX_RECURSE_RECORDS = 5  # records kept from a CNAME resolution, for clients without EDNS
_INVALID_NODE_NAME = re.compile(r"[^A-Za-z0-9\-]+")


PEER_SUFFIX = ".peer"


@functools.lru_cache(maxsize=8192)
def node_target(node: str, locality: str, response_domain: Name) -> Name:
    """``<node>.node.<dc>.<domain>`` (``<node>.node.<peer>.peer.<domain>`` for an imported
    node, ``locality`` being ``<peer>.peer``), an SRV answer's target (remembered: each
    node's recurs in the answers of all its services)."""
    return (*name_of(node), b"node", *locality.encode().split(b"."), *response_domain)


class AnswerBuilder:
    """Builds the plan for one request; ``cacheable`` turns False if it used the outside world."""

    def __init__(self, settings: DNSSettings, lookup: Lookup, recursor: Recursor | None,
                 client_ip: str = "") -> None:
        self.settings = settings
        self.client_ip = client_ip  # what a prepared query's Near "_ip" sorts from
        self.lookup = lookup
        self.recursor = recursor
        self.cacheable = True

    # ---- entry points ---------------------------------------------------------------

    async def domain(self, q: Question, suffix: int) -> Plan:
        """A question in the domain; ``suffix`` labels of its name are the domain."""
        response_domain = q.name[len(q.name) - suffix:]
        if q.qtype == rr.SOA:
            return self._done(Plan(answers=[Item((self._soa(q),))], shuffle=True,
                                   authority=await self._nameservers(response_domain),
                                   authority_take=3))
        if q.qtype == rr.NS:
            return self._done(Plan(answers=await self._nameservers(response_domain),
                                   shuffle=True, take=3))
        if q.qtype == rr.AXFR:
            return Plan(rcode=NOTIMP)
        try:
            plan = await self._dispatch(q, suffix, MAX_RECURSION)
        except NameNotFound:
            plan = Plan(rcode=NXDOMAIN, authority=[Item((self._soa(q),))])
        return self._done(plan)

    async def reverse(self, q: Question) -> Plan | None:
        """A question under ``arpa.``; None when nothing matched and recursors should try."""
        authority = [Item((self._soa(q),))] if q.qtype == rr.SOA else []
        answer = await self._reverse_target(q)
        if answer is not None:
            return self._done(Plan(answers=[Item((rr.ptr(q.name, 0, answer),))],
                                   authority=authority))
        if self.settings.recursors:
            return None
        return self._done(Plan(rcode=NXDOMAIN, authority=[*authority, Item((self._soa(q),))]))

    def _done(self, plan: Plan) -> Plan:
        plan.cacheable = self.cacheable
        return plan

    # ---- SOA and NS -----------------------------------------------------------------

    def _soa(self, q: Question) -> Record:
        s = self.settings
        domain = s.domain
        if s.alt_domain and len(q.name) > len(s.alt_domain) \
                and q.name[len(q.name) - len(s.alt_domain):] == s.alt_domain:
            domain = s.alt_domain
        return rr.soa(domain, s.soa_min_ttl, s.soa_refresh, s.soa_retry, s.soa_expire,
                      s.soa_min_ttl)

    async def _nameservers(self, response_domain: Name) -> list[Item]:
        """NS items (with glue) for the healthy servers of the local datacenter."""
        s = self.settings
        try:
            nodes = healthy(await self.lookup.service_nodes(s.datacenter, CONSUL_SERVICE, ""),
                            s.only_passing)
        except (LookupFailed, NameNotFound):
            self.cacheable = False
            return []
        items = []
        for node in nodes:
            if _INVALID_NODE_NAME.search(node.Node.Node):
                continue
            target = lower((*name_of(node.Node.Node), b"node", node.Node.Datacenter.encode(),
                            *response_domain))
            glue = await self._node_records(node.Node, rr.ANY, target, s.node_ttl, MAX_RECURSION)
            items.append(Item((rr.ns(response_domain, s.node_ttl, target),), tuple(glue)))
        return items

    # ---- names in the domain --------------------------------------------------------

    async def _dispatch(self, q: Question, suffix: int, depth: int) -> Plan:
        labels = tuple([label.decode("utf-8", "replace")
                        for label in q.lower[:len(q.name) - suffix]])
        target = parse_target(labels, q.qtype)
        if target is None:
            raise NameNotFound(b".".join(q.name).decode("utf-8", "replace"))
        response_domain = q.name[len(q.name) - suffix:]
        if target.kind in ("service", "connect", "ingress"):
            return await self._service(q, target, response_domain, depth)
        if target.kind == "node":
            return await self._node(q, target, depth)
        if target.kind == "addr":
            return self._addr(q, target, q.lower[:len(q.name) - suffix] + response_domain)
        if target.kind == "query":
            return await self._query(q, target, response_domain, depth)
        # "virtual": the service's virtual IP as an A record, whatever the question's type.
        vip = await self.lookup.virtual_ip(target.name, target.peer)
        if not vip:
            return Plan()
        return Plan(answers=[Item((rr.address(q.name, parse_ip(vip), self.settings.node_ttl),))])

    def _nodata(self, q: Question) -> Plan:
        return Plan(authority=[Item((self._soa(q),))])

    def _note_datacenter(self, datacenter: str) -> None:
        """Answers from another datacenter are not cached: the local version misses them."""
        if datacenter != self.settings.datacenter:
            self.cacheable = False

    async def _service(self, q: Question, target: Target, response_domain: Name,
                       depth: int) -> Plan:
        datacenter = target.datacenter or self.settings.datacenter
        self._note_datacenter(datacenter)
        if target.peer:
            self.cacheable = False  # imported rows move no local catalog index
            nodes = await self.lookup.service_nodes(datacenter, target.name, target.tag,
                                                    target.kind, target.peer)
        else:
            nodes = await self.lookup.service_nodes(datacenter, target.name, target.tag,
                                                    target.kind)
        nodes = healthy(nodes, self.settings.only_passing)
        if not nodes:
            raise NameNotFound(target.name)
        ttl = self.settings.service_ttl(target.name)
        locality = target.peer + PEER_SUFFIX if target.peer else datacenter
        if q.qtype == rr.SRV:
            plan = await self._srv_plan(q, nodes, locality, response_domain, ttl, depth)
        else:
            plan = await self._address_plan(q, nodes, locality, response_domain, ttl, depth)
        return plan if any(item.rrs for item in plan.answers) else self._nodata(q)

    async def _query(self, q: Question, target: Target, response_domain: Name,
                     depth: int) -> Plan:
        """A prepared query's instances, in the order the server chose (RTT or shuffled),
        with the query's DNS TTL (else the service's). Never cached: every execution
        may order or pick differently."""
        self.cacheable = False
        result = await self.lookup.prepared_query(target.datacenter or self.settings.datacenter,
                                                  target.name, self.client_ip)
        if not result.nodes:
            raise NameNotFound(target.name)
        ttl = self.settings.service_ttl(result.service)
        if result.ttl:
            try:
                ttl = parse_duration(result.ttl) // SECOND
            except DurationError:
                pass  # the server checked it when the query was written
        locality = result.peer + PEER_SUFFIX if result.peer else result.datacenter
        if q.qtype == rr.SRV:
            plan = await self._srv_plan(q, result.nodes, locality, response_domain, ttl, depth)
        else:
            plan = await self._address_plan(q, result.nodes, locality, response_domain, ttl,
                                            depth)
        plan.shuffle = False
        return plan if any(item.rrs for item in plan.answers) else self._nodata(q)

    async def _srv_plan(self, q: Question, nodes: list[CheckServiceNode], datacenter: str,
                        response_domain: Name, ttl: int, depth: int) -> Plan:
        seen = set()
        items = []
        for node in nodes:
            service = node.Service
            tagged = service.TaggedAddresses
            address = translate(ACCEPT_ANY, service.Address,
                                getattr(tagged.get("lan_ipv4"), "Address", ""),
                                getattr(tagged.get("lan_ipv6"), "Address", "")
                                ) if tagged else service.Address
            key = (node.Node.Node, address, service.Port)
            if key in seen:
                continue
            seen.add(key)
            answers, extra = await self._instance_records(q, node, datacenter, response_domain,
                                                          ttl, depth)
            if self.settings.node_meta_txt and node.Node.Meta:
                extra = extra + meta_txt(node_target(node.Node.Node, datacenter, response_domain),
                                         node.Node, ttl)
            items.append(Item(tuple(answers), tuple(extra)))
        return Plan(answers=items, shuffle=True)

    async def _address_plan(self, q: Question, nodes: list[CheckServiceNode], datacenter: str,
                            response_domain: Name, ttl: int, depth: int) -> Plan:
        seen = set()
        addresses, aliases = [], []
        for node in nodes:
            answers, _ = await self._instance_records(q, node, datacenter, response_domain, ttl,
                                                      depth)
            if not answers or answers[0] in seen:
                continue
            seen.add(answers[0])
            (aliases if answers[0].rtype == rr.CNAME else addresses).append(Item(tuple(answers)))
        if addresses:
            return Plan(answers=addresses, shuffle=True, take=self.settings.a_record_limit)
        # Only host names: one of them (chosen per reply), with its resolution.
        return Plan(answers=aliases, shuffle=True, take=1)

    async def _instance_records(self, q: Question, node: CheckServiceNode, datacenter: str,
                                response_domain: Name, ttl: int, depth: int
                                ) -> tuple[list[Record], list[Record]]:
        """``makeNodeServiceRecords``: (answers, additional) for one service instance."""
        service, catalog_node = node.Service, node.Node
        tagged = service.TaggedAddresses
        service_address = translate(accept_for(q.qtype), service.Address,
                                    getattr(tagged.get("lan_ipv4"), "Address", ""),
                                    getattr(tagged.get("lan_ipv6"), "Address", "")
                                    ) if tagged else service.Address
        node_tagged = catalog_node.TaggedAddresses
        node_address = translate(accept_for(q.qtype), catalog_node.Address,
                                 node_tagged.get("lan_ipv4", ""), node_tagged.get("lan_ipv6", "")
                                 ) if node_tagged else catalog_node.Address
        if not service_address and not node_address:
            return [], []
        node_ip = parse_ip(node_address)
        service_ip = parse_ip(service_address)
        if not service_address and node_ip is not None:
            if catalog_node.Address != node_address:
                return self._ip_records(q, node, node_ip, datacenter, response_domain, ttl)
            return self._node_address_records(q, node, node_ip, datacenter, response_domain, ttl)
        if not service_address:
            return await self._host_records(q, node, node_address, ttl, depth)
        if service_ip is not None:
            return self._ip_records(q, node, service_ip, datacenter, response_domain, ttl)
        if name_of(service_address) == q.name and node_ip is not None:
            return self._node_address_records(q, node, node_ip, datacenter, response_domain, ttl)
        return await self._host_records(q, node, service_address, ttl, depth)

    def _node_address_records(self, q, node, ip, datacenter, response_domain, ttl):
        """An instance at its node's address: SRV → ``<node>.node.<dc>.<domain>``."""
        if q.qtype != rr.SRV:
            record = address_record(q.qtype, ip, q.name, ttl)
            return ([record] if record else []), []
        target = node_target(node.Node.Node, datacenter, response_domain)
        return ([rr.srv(q.name, ttl, 1, srv_weight(node), node.Service.Port, target)],
                [rr.address(target, ip, ttl)])

    def _ip_records(self, q, node, ip, datacenter, response_domain, ttl):
        """An instance at its own IP: SRV → ``<hex-ip>.addr.<dc>.<domain>`` (an imported
        one's: ``<hex-ip>.addr.<domain>``, as Consul's)."""
        if address_record(q.qtype, ip, q.name, ttl) is None:
            return [], []
        if q.qtype != rr.SRV:
            return [rr.address(q.name, ip, ttl)], []
        where = () if datacenter.endswith(PEER_SUFFIX) else (datacenter.encode(),)
        target = (ip.packed.hex().encode(), b"addr", *where, *response_domain)
        return ([rr.srv(q.name, ttl, 1, srv_weight(node), node.Service.Port, target)],
                [rr.address(target, ip, ttl)])

    async def _host_records(self, q, node, host, ttl, depth):
        """An instance at a host name: SRV → the host (plus its resolution), else a CNAME."""
        target = name_of(host)
        resolved = []
        for record in await self._resolve_alias(target, depth):
            if record.rtype in (rr.CNAME, rr.A, rr.AAAA):
                resolved.append(record._replace(ttl=ttl))
                if len(resolved) == MAX_RECURSE_RECORDS and not q.edns:
                    break
        if q.qtype == rr.SRV:
            return [rr.srv(q.name, ttl, 1, srv_weight(node), node.Service.Port, target)], resolved
        return [rr.cname(q.name, ttl, target), *resolved], []

    async def _resolve_alias(self, name: Name, depth: int) -> list[Record]:
        """Records for a CNAME target: ours resolved internally, others through the recursors."""
        s = self.settings
        low = lower(name)
        suffix = domain_suffix(low, s.domain, s.alt_domain)
        if suffix is not None and suffix < len(name):
            if depth < 1:
                return []
            try:
                plan = await self._dispatch(question(name, rr.ANY), suffix, depth - 1)
            except (NameNotFound, LookupFailed):
                return []
            items = plan.answers[:plan.take] if plan.take else plan.answers
            return [record for item in items for record in item.rrs]
        if self.recursor is None:
            return []
        self.cacheable = False
        return await self.recursor.resolve_a(name)

    async def _node(self, q: Question, target: Target, depth: int) -> Plan:
        qtype = q.qtype
        if qtype not in (rr.ANY, rr.A, rr.AAAA, rr.TXT):
            return Plan()
        s = self.settings
        datacenter = target.datacenter or s.datacenter
        self._note_datacenter(datacenter)
        if target.peer:
            self.cacheable = False  # imported rows move no local catalog index
            node = await self.lookup.node(datacenter, target.name, target.peer)
        else:
            node = await self.lookup.node(datacenter, target.name)
        if node is None:
            raise NameNotFound(target.name)
        answers: list[Record] = []
        extra: list[Record] = []
        if qtype != rr.TXT:
            answers += await self._node_records(node, qtype, q.name, s.node_ttl, depth)
        if s.node_meta_txt or qtype in (rr.TXT, rr.ANY):
            metas = meta_txt(q.name, node, s.node_ttl)
            (answers if qtype in (rr.TXT, rr.ANY) else extra).extend(metas)
        return Plan(answers=[Item(tuple(answers))], extra=extra)

    async def _node_records(self, node: Node, qtype: int, name: Name, ttl: int,
                            depth: int) -> list[Record]:
        """``makeRecordFromNode``: the node's address, or a CNAME to its host name."""
        tagged = node.TaggedAddresses or {}
        address = translate(accept_for(qtype), node.Address, tagged.get("lan_ipv4", ""),
                            tagged.get("lan_ipv6", ""))
        ip = parse_ip(address)
        if ip is None:
            target = name_of(node.Address)
            return [rr.cname(name, ttl, target), *await self._resolve_alias(target, depth)]
        record = address_record(qtype, ip, name, ttl)
        return [record] if record is not None else []

    def _addr(self, q: Question, target: Target, name: Name) -> Plan:
        ip = ipaddress.ip_address(bytes.fromhex(target.name))
        record = rr.address(name, ip, self.settings.node_ttl)
        wanted = (rr.A if ip.version == 4 else rr.AAAA, rr.ANY)
        if q.qtype in wanted:
            return Plan(answers=[Item((record,))])
        return Plan(extra=[record])

    # ---- reverse lookups ------------------------------------------------------------

    async def _reverse_target(self, q: Question) -> Name | None:
        """The first node, else the first service instance, at the address the name encodes."""
        ip = ip_from_arpa(q.lower)
        if ip is None:
            return None
        domain = self.settings.domain
        try:
            for node in await self.lookup.nodes():
                if parse_ip(node.Address) == ip:
                    return (*name_of(node.Node), b"node", node.Datacenter.encode(), *domain)
            for row in await self.lookup.service_address_nodes(str(ip)):
                return (*name_of(row.ServiceName), b"service", row.Datacenter.encode(), *domain)
        except LookupFailed:
            self.cacheable = False
        return None
