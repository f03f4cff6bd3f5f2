"""Clusters to peer: each of its own datacenter, with durable servers that share a fixed
Connect CA (root and key given, cluster ID fixed), so the trust domain is known before
they start, and each a gRPC TLS port whose certificate that CA signed for the peering
server name ``server.<dc>.peering.<trust domain>``: what a token's CA and ServerName
promise the dialer. With ``grpc_cert=False`` no certificate is configured: peering
dialers then get the server's own peering leaf, which it must get signed itself."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proconsul.lib.pki import SERVER_AUTH, new_ca, new_leaf
from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    free_port,
    retry_joins,
    start_server,
    wait_until,
)


@dataclass
class PeeringCluster:
    """One datacenter of ``servers`` servers; ``start`` (again after a kill) keeps their
    data, ports and CA. ``agent`` is the first server."""

    dc: str
    base: Path
    extra_config: dict[str, Any] = field(default_factory=dict)
    servers: int = 1
    grpc_cert: bool = True
    cluster_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    agents: list[AgentProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        ca = new_ca(f"Peering Test CA {self.dc}", days=1, uri=f"spiffe://{self.trust_domain}")
        self.root_pem = ca.cert_pem.decode()
        self.specs = [ServerSpec(str(self.base / f"data{i}"), node=f"{self.dc}-server{i}")
                      for i in range(self.servers)]
        self.grpc_tls_ports = [free_port(spec.host) for spec in self.specs]
        self.config_files = []
        for i, (spec, port) in enumerate(zip(self.specs, self.grpc_tls_ports, strict=True)):
            leaf = new_leaf(ca, self.server_name, 1, [self.server_name], [spec.host],
                            [SERVER_AUTH])
            pem = self.base / f"grpc{i}.pem"
            pem.write_bytes(leaf.cert_pem + leaf.key_pem)
            config = {
                "datacenter": self.dc, "bootstrap_expect": self.servers,
                "ports": {"grpc_tls": port},
                **({"tls": {"grpc": {"cert_file": str(pem), "key_file": str(pem)}}}
                   if self.grpc_cert else {}),
                "connect": {"enabled": True, "ca_config": {
                    "cluster_id": self.cluster_id, "root_cert": self.root_pem,
                    "private_key": ca.key_pem.decode()}},
                **self.extra_config}
            path = self.base / f"config{i}.json"
            path.write_text(json.dumps(config))
            self.config_files.append(path)

    @property
    def agent(self) -> AgentProcess:
        return self.agents[0]

    @property
    def trust_domain(self) -> str:
        return f"{self.cluster_id}.consul"

    @property
    def server_name(self) -> str:
        return f"server.{self.dc}.peering.{self.trust_domain}"

    @property
    def grpc_tls_addresses(self) -> list[str]:
        return [f"{spec.host}:{port}" for spec, port in zip(self.specs, self.grpc_tls_ports,
                                                             strict=True)]

    @property
    def grpc_tls_address(self) -> str:
        return self.grpc_tls_addresses[0]

    def start(self, token: str = "") -> AgentProcess:
        """Start the servers and wait until the CA has its root (tokens need it)."""
        joins = retry_joins(self.specs) if self.servers > 1 else ()
        self.agents = [start_server(spec, "-config-file", str(path), *joins)
                       for spec, path in zip(self.specs, self.config_files, strict=True)]
        headers = {"X-Consul-Token": token} if token else {}

        def has_roots() -> bool:
            reply = self.agent.get("/v1/connect/ca/roots", headers=headers)
            return reply.status == 200 and bool(reply.json()["Roots"])

        wait_until(has_roots, what=f"{self.dc}'s CA roots")
        return self.agent

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()


@contextlib.contextmanager
def two_clusters(base: Path, **kw: Any) -> Iterator[tuple[PeeringCluster, PeeringCluster]]:
    """dc1 and dc2 started (``kw`` for both), stopped afterwards whatever happened."""
    dc1, dc2 = PeeringCluster("dc1", base / "dc1", **kw), PeeringCluster("dc2", base / "dc2", **kw)
    try:
        dc1.start()
        dc2.start()
        yield dc1, dc2
    finally:
        dc1.stop()
        dc2.stop()
