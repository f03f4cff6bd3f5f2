"""An in-process agent (server mode, no listeners) and questions to its DNS resolver."""

from __future__ import annotations

import dns.edns
import dns.message
import dns.rdatatype
import msgspec

from proconsul.agent.agent import Agent
from proconsul.agent.config import AgentConfig, DNSConfig
from proconsul.structs.catalog import RegisterRequest


class Catalog:
    """Registers into a real in-memory server and asks the agent's resolver."""

    def __init__(self, *, recursors: tuple[str, ...] = (), domain: str = "consul.",
                 alt_domain: str = "", **dns_config) -> None:
        self.agent = Agent(AgentConfig(
            dev=True, node_name="server1", datacenter="dc1", advertise_addr="10.9.9.9",
            domain=domain, alt_domain=alt_domain, recursors=list(recursors),
            dns_config=msgspec.convert(dns_config, DNSConfig)))
        self.resolver = self.agent.dns_resolver

    async def register(self, **body) -> None:
        await self.agent.rpc("Catalog.Register", msgspec.convert(body, RegisterRequest))

    async def instance(self, node: str, address: str, service: str, *, status: str = "passing",
                       service_id: str | None = None, **service_fields) -> None:
        """A node with one service instance and a check of that instance."""
        service_id = service_id or f"{service}-{node}"
        await self.register(
            Node=node, Address=address,
            Service={"ID": service_id, "Service": service, **service_fields},
            Check={"CheckID": f"{service_id}-check", "Name": "check", "ServiceID": service_id,
                   "Status": status})

    async def send(self, wire: bytes, tcp: bool = False) -> bytes | None:
        """What the listeners do: the cache first, then a full resolution."""
        return self.resolver.cached(wire, tcp) or await self.resolver.resolve(wire, tcp)

    async def ask(self, name: str, rdtype: str = "A", *, tcp: bool = False,
                  payload: int | None = None, ecs: str | None = None) -> dns.message.Message:
        options = [dns.edns.ECSOption.from_text(ecs)] if ecs else None
        query = dns.message.make_query(name, rdtype, use_edns=payload is not None or bool(ecs),
                                       payload=payload or 1232, options=options)
        reply = await self.send(query.to_wire(), tcp)
        assert reply is not None
        message = dns.message.from_wire(reply)
        assert message.id == query.id
        return message


def rdatas(message: dns.message.Message, section: str = "answer") -> list[str]:
    """``"<name> <TYPE> <rdata>"`` for each record of a section (the OPT is left out)."""
    return [f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata}"
            for rrset in getattr(message, section) for rdata in rrset]
