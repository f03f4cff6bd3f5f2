"""Single-server clusters to peer: each a durable server of its own datacenter with a
fixed Connect CA (root and key given, cluster ID fixed), so its trust domain is known
before it starts, and a gRPC TLS port whose certificate that CA signed for the peering
server name ``server.<dc>.peering.<trust domain>``: what a token's CA and ServerName
promise the dialer. With ``grpc_cert=False`` no certificate is configured: peering
dialers then get the server's own peering leaf, which it must get signed itself."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proconsul.lib.pki import SERVER_AUTH, new_ca, new_leaf
from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    free_port,
    start_server,
    wait_until,
)


@dataclass
class PeeringCluster:
    """One datacenter; ``start`` (again after a kill) keeps its data, ports and CA."""

    dc: str
    base: Path
    extra_config: dict[str, Any] = field(default_factory=dict)
    grpc_cert: bool = True
    cluster_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    agent: AgentProcess | None = None

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.spec = ServerSpec(str(self.base / "data"), node=f"{self.dc}-server")
        self.grpc_tls_port = free_port(self.spec.host)
        ca = new_ca(f"Peering Test CA {self.dc}", days=1, uri=f"spiffe://{self.trust_domain}")
        self.root_pem = ca.cert_pem.decode()
        leaf = new_leaf(ca, self.server_name, 1, [self.server_name], [self.spec.host],
                        [SERVER_AUTH])
        pem = self.base / "grpc.pem"
        pem.write_bytes(leaf.cert_pem + leaf.key_pem)
        config = {
            "datacenter": self.dc, "bootstrap_expect": 1,
            "ports": {"grpc_tls": self.grpc_tls_port},
            **({"tls": {"grpc": {"cert_file": str(pem), "key_file": str(pem)}}}
               if self.grpc_cert else {}),
            "connect": {"enabled": True, "ca_config": {
                "cluster_id": self.cluster_id, "root_cert": self.root_pem,
                "private_key": ca.key_pem.decode()}},
            **self.extra_config}
        self.config_file = self.base / "config.json"
        self.config_file.write_text(json.dumps(config))

    @property
    def trust_domain(self) -> str:
        return f"{self.cluster_id}.consul"

    @property
    def server_name(self) -> str:
        return f"server.{self.dc}.peering.{self.trust_domain}"

    @property
    def grpc_tls_address(self) -> str:
        return f"{self.spec.host}:{self.grpc_tls_port}"

    def start(self, token: str = "") -> AgentProcess:
        """Start the server and wait until its CA has its root (tokens need it)."""
        self.agent = start_server(self.spec, "-config-file", str(self.config_file))
        headers = {"X-Consul-Token": token} if token else {}
        wait_until(lambda: self.agent.get("/v1/connect/ca/roots", headers=headers).status == 200
                   and self.agent.get("/v1/connect/ca/roots", headers=headers).json()["Roots"],
                   what=f"{self.dc}'s CA roots")
        return self.agent

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
