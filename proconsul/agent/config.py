"""Agent configuration (the part the foundation needs; config files come with the agent issue)."""

from __future__ import annotations

import socket
import uuid

import msgspec


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
    server_port: int = 8300
    serf_lan_port: int = 8301
    serf_wan_port: int = 8302
    server: bool = False
    bootstrap: bool = False
    bootstrap_expect: int = 0
    encrypt: str = ""
    start_join: list[str] = []
    start_join_wan: list[str] = []
    retry_join: list[str] = []
    retry_join_wan: list[str] = []
    retry_interval: float = 30.0
    retry_max: int = 0
    dev: bool = False
    data_dir: str = ""
    raft_multiplier: int = 0  # performance.raft_multiplier; 0: 5, or 1 with -dev
    raft_snapshot_threshold: int = 16384
    raft_trailing_logs: int = 10240
    log_level: str = "INFO"

    def finish(self) -> AgentConfig:
        """Fill derived defaults: node name from the hostname, a node ID, addresses."""
        if self.dev:
            self.server = True
            self.bootstrap = True
        if not self.raft_multiplier:
            self.raft_multiplier = 1 if self.dev else 5
        if not self.node_name:
            self.node_name = socket.gethostname().split(".")[0] or "proconsul"
        if not self.node_id:
            self.node_id = str(uuid.uuid4())
        if not self.advertise_addr:
            self.advertise_addr = self.bind_addr if self.bind_addr != "0.0.0.0" else "127.0.0.1"
        if not self.primary_datacenter:
            self.primary_datacenter = self.datacenter
        return self
