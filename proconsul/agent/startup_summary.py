"""The block the agent prints before it starts, laid out as Consul's agent command does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent.config import AgentConfig
from proconsul.agent.http.agent_endpoint import BUILD_DATE


def _go_bool(value: Any) -> str:
    return "true" if value else "false"


def _go_time(rfc3339: str) -> str:
    """Go's ``time.Time.String()`` for a UTC RFC 3339 stamp: ``2006-01-02 15:04:05 +0000 UTC``."""
    stamp = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return stamp.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _grpc_tls(tree: dict[str, Any]) -> tuple[bool, str]:
    tls = tree.get("tls", {})
    merged = {**tls.get("defaults", {}), **tls.get("grpc", {})}
    return bool(merged.get("verify_incoming")), merged.get("tls_min_version", "TLSv1_2")


def summary_lines(config: AgentConfig) -> list[str]:
    """``==> Starting Consul agent...`` and the settings that matter at a glance.

    ACLs and reporting are off.
    """
    tree = config.tree
    clients = (tree.get("client_addr") or config.client_addr).split()
    https, rpc = config.https_tls, config.rpc_tls
    grpc_verify, grpc_min = _grpc_tls(tree)
    acl_policy = tree.get("acl", {}).get("default_policy", "allow")
    rows = [
        ("Version", f"'{CONSUL_COMPAT_VERSION}'"),
        ("Build Date", f"'{_go_time(BUILD_DATE)}'"),
        ("Node ID", f"'{config.node_id}'"),
        ("Node name", f"'{config.node_name}'"),
        ("Datacenter", f"'{config.datacenter}' (Segment: '{'<all>' if config.server else ''}')"),
        ("Server", f"{_go_bool(config.server)} (Bootstrap: {_go_bool(config.bootstrap)})"),
        ("Client Addr", f"[{' '.join(clients)}] (HTTP: {config.http_port}, HTTPS: "
                        f"{config.https_port}, gRPC: {config.grpc_port}, "
                        f"gRPC-TLS: {config.grpc_tls_port}, DNS: {config.dns_port})"),
        ("Cluster Addr", f"{config.advertise_addr} (LAN: {config.serf_lan_port}, "
                         f"WAN: {config.serf_wan_port})"),
        ("Gossip Encryption", _go_bool(config.encrypt)),
        ("Auto-Encrypt-TLS", "false"),
        ("ACL Enabled", "false"),
        ("Reporting Enabled", "false"),
        ("ACL Default Policy", acl_policy),
        ("HTTPS TLS", f"Verify Incoming: {_go_bool(https.verify_incoming)}, Verify Outgoing: "
                      f"{_go_bool(https.verify_outgoing)}, Min Version: {https.tls_min_version}"),
        ("gRPC TLS", f"Verify Incoming: {_go_bool(grpc_verify)}, Min Version: {grpc_min}"),
        ("Internal RPC TLS", f"Verify Incoming: {_go_bool(rpc.verify_incoming)}, Verify "
                             f"Outgoing: {_go_bool(rpc.verify_outgoing)} (Verify Hostname: "
                             f"{_go_bool(rpc.verify_server_hostname)}), Min Version: "
                             f"{rpc.tls_min_version}"),
    ]
    width = max(len(label) for label, _ in rows)
    return (["==> Starting Consul agent..."]
            + [f"    {label.rjust(width)}: {value}" for label, value in rows]
            + ["", "==> Log data will now stream in as it occurs:", ""])
