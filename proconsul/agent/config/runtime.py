"""The agent's runtime settings, built from config files and flags (see builder.py)."""

from __future__ import annotations

import hashlib
import socket
import uuid
from pathlib import Path
from typing import Any

import msgspec

from proconsul.structs.operator import AutopilotConfig


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


class TLSSettings(msgspec.Struct, kw_only=True):
    """One interface's TLS settings: Consul's ``tls.defaults`` merged with ``tls.https``
    or ``tls.internal_rpc`` (the ``verify_outgoing`` pair matters to RPC only)."""

    ca_file: str = ""
    ca_path: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify_incoming: bool = False
    verify_outgoing: bool = False
    verify_server_hostname: bool = False
    tls_min_version: str = "TLSv1_2"
    tls_cipher_suites: str = ""

    @property
    def has_ca(self) -> bool:
        return bool(self.ca_file or self.ca_path)


class ACLTokens(msgspec.Struct, kw_only=True):
    """``acl.tokens``: the agent's token slots (secrets; empty when unset)."""

    initial_management: str = ""
    agent: str = ""
    agent_recovery: str = ""
    default: str = ""
    replication: str = ""
    config_file_service_registration: str = ""
    dns: str = ""


class WANFedConfig(msgspec.Struct):
    """WAN federation through mesh gateways (see wanfed.py)."""

    enabled: bool = False
    primary_gateways: list[str] = []
    primary_gateways_interval: float = 30.0  # seconds between resolution tries


class ACLConfig(msgspec.Struct, kw_only=True):
    """``acl {}`` with Consul's defaults; TTLs in seconds."""

    enabled: bool = False
    default_policy: str = "allow"
    down_policy: str = "extend-cache"
    token_ttl: float = 30.0
    policy_ttl: float = 30.0
    role_ttl: float = 30.0
    enable_token_persistence: bool = False
    enable_token_replication: bool = False
    enable_key_list_policy: bool = False
    tokens: ACLTokens = msgspec.field(default_factory=ACLTokens)


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
    https_port: int = -1  # ports.https; -1: no HTTPS listener, as in Consul
    https_addr: str = "127.0.0.1"  # addresses.https, else client_addr
    # addresses.http, else client_addr: hosts or unix:///path sockets, space-separated
    http_addr: str = "127.0.0.1"
    dns_addr: str = "127.0.0.1"  # addresses.dns, else client_addr (never a unix socket)
    https_tls: TLSSettings = msgspec.field(default_factory=TLSSettings)
    https_handshake_timeout: float = 5.0  # limits.https_handshake_timeout
    rpc_tls: TLSSettings = msgspec.field(default_factory=TLSSettings)  # the server port's
    dns_port: int = 8600
    grpc_port: int = -1  # ports.grpc: plaintext xDS (8502 with -dev); -1 off, as in Consul
    grpc_tls_port: int = -1  # ports.grpc_tls: xDS over TLS (tls.grpc / tls.defaults)
    peering_enabled: bool = True  # peering.enabled: the peering endpoints answer
    grpc_addr: str = "127.0.0.1"  # addresses.grpc, else client_addr (space-separated)
    grpc_tls_addr: str = "127.0.0.1"  # addresses.grpc_tls, else client_addr
    grpc_tls: TLSSettings = msgspec.field(default_factory=TLSSettings)
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
    raft_segment_bytes: int = 64 << 20  # raft_logstore.wal.segment_size_mb
    rpc_hold_timeout: float = 7.0  # performance.rpc_hold_timeout
    leave_drain_time: float = 5.0  # performance.leave_drain_time
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
    domain: str = "consul."
    alt_domain: str = ""
    recursors: list[str] = msgspec.field(default_factory=list)
    dns_config: DNSConfig = msgspec.field(default_factory=DNSConfig)
    pid_file: str = ""
    rejoin_after_leave: bool = False
    serf_lan_bind: str = ""  # serf_lan / -serf-lan-bind; empty: bind_addr
    serf_wan_bind: str = ""  # serf_wan / -serf-wan-bind; empty: bind_addr
    default_query_time: float = 300.0  # seconds a blocking query waits without ?wait
    max_query_time: float = 600.0  # cap on ?wait
    protocol: int = 2  # the RPC protocol version gossiped as "vsn"
    disable_host_node_id: bool = True  # false: the node ID derives from the host's ID
    auto_reload_config: bool = False
    http_max_conns_per_client: int = 200  # limits.http_max_conns_per_client; 0: no limit
    warnings: list[str] = []  # keys accepted but not acted on, settings turned off

    def new_node_id(self) -> str:
        """A node ID for an agent given none: random, or from the host's ID when
        ``disable_host_node_id = false`` (hashed, as Consul does, so it is well spread)."""
        host_id = "" if self.disable_host_node_id else host_identity()
        if not host_id:
            return str(uuid.uuid4())
        return str(uuid.UUID(bytes=hashlib.sha512(host_id.encode()).digest()[:16]))
    autopilot: AutopilotConfig = msgspec.field(default_factory=AutopilotConfig)
    config_entries: list[dict[str, Any]] = []  # config_entries.bootstrap, validated
    connect_enabled: bool = False
    ca_provider: str = "consul"
    ca_config: dict[str, Any] = msgspec.field(default_factory=dict)  # CamelCase keys
    acl: ACLConfig = msgspec.field(default_factory=ACLConfig)
    wanfed: WANFedConfig = msgspec.field(default_factory=WANFedConfig)

    @property
    def source_host(self) -> str | None:
        """The address outbound cluster connections come from: the bind address, if specific."""
        return None if self.bind_addr in ("", "0.0.0.0", "::") else self.bind_addr

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
            self.node_id = self.new_node_id()
        if not self.advertise_addr:
            self.advertise_addr = self.bind_addr if self.bind_addr != "0.0.0.0" else "127.0.0.1"
        if not self.primary_datacenter:
            self.primary_datacenter = self.datacenter
        return self


HOST_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id",
                 "/sys/class/dmi/id/product_uuid")


def host_identity() -> str:
    """This machine's stable ID (systemd's machine-id or the DMI UUID), or "" if none."""
    for name in HOST_ID_FILES:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return ""
