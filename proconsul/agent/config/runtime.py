"""The agent's runtime settings, built from config files and flags (see builder.py)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import msgspec


class AgentConfig(msgspec.Struct, kw_only=True):
    """Settings of one agent process; :meth:`finish` fills the derived defaults."""

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
    log_level: str = "INFO"
    node_meta: dict[str, str] = {}
    services: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    enable_script_checks: bool = False
    enable_local_script_checks: bool = False
    leave_on_terminate: bool = False
    skip_leave_on_interrupt: bool = False
    check_update_interval: float = 300.0
    sidecar_min_port: int = 21000
    sidecar_max_port: int = 21255
    tree: dict[str, Any] = {}
    config_paths: list[str] = []
    inline_hcl: list[str] = []
    flag_tree: dict[str, Any] = {}
    config_format: str = ""

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
