"""WAN federation through mesh gateways: ``connect.enable_mesh_gateway_wan_federation``,
``primary_gateways`` and ``primary_gateways_interval``, checked as Consul's config
builder checks them (outgoing TLS is not one of its checks: Consul refuses only the
dial through a gateway, at run time)."""

from __future__ import annotations

from typing import Any

from proconsul.agent.config.runtime import WANFedConfig
from proconsul.lib.duration import parse_duration

FLAG = "connect.enable_mesh_gateway_wan_federation"


def wanfed_settings(tree: dict[str, Any], server: bool,
                    problems: list[str]) -> WANFedConfig:
    """The settings of ``tree``; what Consul refuses goes into ``problems``."""
    enabled = bool(tree.get("connect", {}).get("enable_mesh_gateway_wan_federation", False))
    gateways = list(tree.get("primary_gateways", []))
    if enabled:
        if not tree.get("connect", {}).get("enabled", False):
            problems.append(f"'{FLAG}=true' requires 'connect.enabled=true'")
        if not server:
            problems.append(f"'{FLAG} = true' requires 'server = true'")
        if "/" in tree.get("node_name", ""):
            problems.append(f"'{FLAG} = true' requires that 'node_name' not contain '/' "
                            "characters")
        if tree.get("retry_join_wan") or tree.get("start_join_wan"):
            problems.append(f"'retry_join_wan' is incompatible with '{FLAG} = true'")
    if gateways:
        datacenter = tree.get("datacenter", "dc1")
        if not server:
            problems.append("'primary_gateways' requires 'server = true'")
        if (tree.get("primary_datacenter") or datacenter) == datacenter:
            problems.append("'primary_gateways' should only be configured in a secondary "
                            "datacenter")
    config = WANFedConfig(enabled=enabled, primary_gateways=gateways)
    if tree.get("primary_gateways_interval"):
        config.primary_gateways_interval = parse_duration(tree["primary_gateways_interval"]) / 1e9
    return config
