"""``DebugConfig`` of ``/v1/agent/self``: the runtime settings clients read, shaped as
Consul's sanitized RuntimeConfig (addresses as "tcp://ip:port", IPs bare, durations as Go
strings, anything secret-looking "hidden")."""

from __future__ import annotations

import ipaddress
from typing import Any

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent.config import AgentConfig
from proconsul.lib.duration import format_seconds


def host_port(host: str, port: int) -> str:
    """Go's ``net.JoinHostPort``: IPv6 hosts in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def net_addr(scheme: str, host: str, port: int) -> str:
    """A sanitized ``*net.TCPAddr``/``*net.UDPAddr``; "" when the listener is disabled."""
    if port < 0:
        return ""
    if host.startswith("unix://"):
        return host
    return f"{scheme}://{host_port(host, port)}"


def debug_config(cfg: AgentConfig, revision: str) -> dict[str, Any]:
    """The commonly read part of Consul's DebugConfig for this agent's settings."""
    tree = cfg.tree
    client_addrs = (tree.get("client_addr") or "127.0.0.1").split()
    advertise_wan = tree.get("advertise_addr_wan") or cfg.advertise_addr
    dns_host = tree.get("addresses", {}).get("dns", client_addrs[0])
    autopilot = cfg.autopilot
    return {
        "AdvertiseAddrLAN": cfg.advertise_addr,
        "AdvertiseAddrWAN": advertise_wan,
        "BindAddr": cfg.bind_addr,
        "ClientAddrs": client_addrs,
        "SerfAdvertiseAddrLAN": net_addr("tcp", cfg.advertise_addr, cfg.serf_lan_port),
        "SerfAdvertiseAddrWAN": net_addr("tcp", advertise_wan, cfg.serf_wan_port),
        "SerfBindAddrLAN": net_addr("tcp", cfg.bind_addr, cfg.serf_lan_port),
        "SerfBindAddrWAN": net_addr("tcp", cfg.bind_addr, cfg.serf_wan_port),
        "SerfPortLAN": cfg.serf_lan_port,
        "SerfPortWAN": cfg.serf_wan_port,
        "RPCAdvertiseAddr": net_addr("tcp", cfg.advertise_addr, cfg.server_port),
        "RPCBindAddr": net_addr("tcp", cfg.bind_addr, cfg.server_port),
        "ServerPort": cfg.server_port,
        "HTTPAddrs": [net_addr("tcp", cfg.client_addr, cfg.http_port)] if cfg.http_port >= 0
        else [],
        "HTTPPort": cfg.http_port,
        "HTTPSAddrs": [net_addr("tcp", cfg.https_addr, cfg.https_port)]
        if cfg.https_port >= 0 else [],
        "HTTPSPort": cfg.https_port,
        "DNSAddrs": [net_addr("tcp", dns_host, cfg.dns_port), net_addr("udp", dns_host,
                                                                       cfg.dns_port)]
        if cfg.dns_port >= 0 else [],
        "DNSPort": cfg.dns_port,
        "DNSDomain": cfg.domain,
        "DNSAltDomain": cfg.alt_domain,
        "GRPCPort": cfg.grpc_port,
        "GRPCTLSPort": cfg.grpc_tls_port,
        "Datacenter": cfg.datacenter,
        "PrimaryDatacenter": cfg.primary_datacenter,
        "NodeName": cfg.node_name,
        "NodeID": cfg.node_id,
        "NodeMeta": dict(cfg.node_meta),
        "ServerMode": cfg.server,
        "DevMode": cfg.dev,
        "Bootstrap": cfg.bootstrap,
        "BootstrapExpect": cfg.bootstrap_expect,
        "DataDir": cfg.data_dir,
        "LogLevel": cfg.log_level,
        "EncryptKey": "hidden",
        "RetryJoinLAN": list(cfg.retry_join),
        "RetryJoinWAN": list(cfg.retry_join_wan),
        "StartJoinAddrsLAN": list(cfg.start_join),
        "StartJoinAddrsWAN": list(cfg.start_join_wan),
        "RetryJoinIntervalLAN": format_seconds(cfg.retry_interval),
        "RetryJoinMaxAttemptsLAN": cfg.retry_max,
        "LeaveOnTerm": cfg.leave_on_terminate,
        "SkipLeaveOnInt": cfg.skip_leave_on_interrupt,
        "RaftProtocol": 3,
        "RaftSnapshotThreshold": cfg.raft_snapshot_threshold,
        "RaftTrailingLogs": cfg.raft_trailing_logs,
        "AutopilotCleanupDeadServers": autopilot.CleanupDeadServers,
        "AutopilotLastContactThreshold": autopilot.LastContactThreshold,
        "AutopilotMaxTrailingLogs": autopilot.MaxTrailingLogs,
        "AutopilotMinQuorum": autopilot.MinQuorum,
        "AutopilotServerStabilizationTime": autopilot.ServerStabilizationTime,
        "AutopilotRedundancyZoneTag": autopilot.RedundancyZoneTag,
        "AutopilotDisableUpgradeMigration": autopilot.DisableUpgradeMigration,
        "AutopilotUpgradeVersionTag": autopilot.UpgradeVersionTag,
        "ACLsEnabled": False,
        "ConnectEnabled": bool(tree.get("connect", {}).get("enabled", False)),
        "ConnectMeshGatewayWANFederationEnabled": cfg.wanfed.enabled,
        "PrimaryGateways": list(cfg.wanfed.primary_gateways),
        "PrimaryGatewaysInterval": format_seconds(cfg.wanfed.primary_gateways_interval),
        "EnableDebug": bool(tree.get("enable_debug", False)),
        "Revision": revision,
        "Version": CONSUL_COMPAT_VERSION,
        "VersionPrerelease": "",
    }
