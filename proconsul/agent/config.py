"""Agent configuration (the part the foundation needs; config files come with the agent issue)."""

from __future__ import annotations

import socket
import uuid

import msgspec


class SOAConfig(msgspec.Struct, kw_only=True):
    """``dns_config.soa``: the timers of the SOA record, in seconds."""

    refresh: int = 3600
    retry: int = 600
    expire: int = 86400
    min_ttl: int = 0


class DNSConfig(msgspec.Struct, kw_only=True):
    """``dns_config``, with Consul's key names and defaults; durations are Go strings."""

    allow_stale: bool = True
    max_stale: str = "87600h"
    node_ttl: str = "0s"
    service_ttl: dict[str, str] = msgspec.field(default_factory=dict)
    udp_answer_limit: int = 3
    a_record_limit: int = 0
    only_passing: bool = False
    enable_truncate: bool = False
    recursor_timeout: str = "2s"
    recursor_strategy: str = "sequential"
    disable_compression: bool = False
    enable_additional_node_meta_txt: bool = True
    soa: SOAConfig = msgspec.field(default_factory=SOAConfig)
    # Beyond Consul: answer from the last good lookup while the servers cannot be reached.
    serve_stale_on_error: bool = False
    stale_ttl: str = "5s"


class AgentConfig(msgspec.Struct, kw_only=True):
    """Settings of one agent process, with ``-dev`` defaults applied by :meth:`dev`."""

    node_name: str = ""
    node_id: str = ""
    datacenter: str = "dc1"
    primary_datacenter: str = ""
    client_addr: str = "127.0.0.1"
    bind_addr: str = "127.0.0.1"
    advertise_addr: str = ""
    http_port: int = 8500
    dns_port: int = 8600
    server_port: int = 8300
    serf_lan_port: int = 8301
    server: bool = False
    bootstrap: bool = False
    dev: bool = False
    data_dir: str = ""
    log_level: str = "INFO"
    domain: str = "consul."
    alt_domain: str = ""
    recursors: list[str] = msgspec.field(default_factory=list)
    dns_config: DNSConfig = msgspec.field(default_factory=DNSConfig)

    def finish(self) -> AgentConfig:
        """Fill derived defaults: node name from the hostname, a node ID, addresses."""
        if self.dev:
            self.server = True
            self.bootstrap = True
        if not self.node_name:
            self.node_name = socket.gethostname().split(".")[0] or "proconsul"
        if not self.node_id:
            self.node_id = str(uuid.uuid4())
        if not self.advertise_addr:
            self.advertise_addr = self.bind_addr if self.bind_addr != "0.0.0.0" else "127.0.0.1"
        if not self.primary_datacenter:
            self.primary_datacenter = self.datacenter
        return self
