"""Which accepted config keys Proconsul acts on.

Every key of Consul's config format is accepted (schema.py). A key that is set
but not acted on yet gets one warning naming it; a key whose being ignored would
leave the agent less protected than the operator asked (write or
endpoint restrictions, gossip source filters, certificates expected from the
servers) stops start-up and reload with a "not supported yet" error instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proconsul.agent.config.runtime import DNSConfig
from proconsul.agent.config.schema import CONFIG

_TLS_KEYS = ("ca_file", "ca_path", "cert_file", "key_file", "tls_min_version",
             "tls_cipher_suites", "verify_incoming", "verify_incoming_https",
             "verify_incoming_rpc", "verify_outgoing", "verify_server_hostname")

# Dotted keys (or whole blocks) the agent acts on.
SUPPORTED = frozenset({
    "node_name", "node_id", "datacenter", "primary_datacenter", "client_addr", "bind_addr",
    "advertise_addr", "addresses.http", "addresses.https", "addresses.dns", "ports.http",
    "ports.https", "ports.server", "ports.serf_lan", "ports.serf_wan", "ports.dns", "ports.sidecar_min_port",
    "ports.sidecar_max_port", "server", "bootstrap", "bootstrap_expect", "encrypt",
    "start_join", "start_join_wan", "retry_join", "retry_join_wan", "retry_interval",
    "retry_max", "data_dir", "log_level", "node_meta", "service", "services", "check",
    "checks", "enable_script_checks", "enable_local_script_checks", "leave_on_terminate",
    "skip_leave_on_interrupt", "check_update_interval", "performance.raft_multiplier",
    "performance.rpc_hold_timeout", "performance.leave_drain_time",
    "raft_snapshot_threshold", "raft_trailing_logs", "domain", "alt_domain", "recursor",
    "recursors", "limits.https_handshake_timeout", "limits.http_max_conns_per_client",
    *_TLS_KEYS, "tls.defaults", "tls.https", "tls.internal_rpc",
    *(f"dns_config.{name}" for name in DNSConfig.__struct_fields__),
    "pid_file", "rejoin_after_leave", "serf_lan", "serf_wan", "default_query_time",
    "max_query_time", "disable_host_node_id", "protocol", "auto_reload_config",
    "enable_debug", "telemetry.disable_hostname", "unix_sockets",
    "autopilot.cleanup_dead_servers", "autopilot.last_contact_threshold",
    "autopilot.max_trailing_logs", "autopilot.min_quorum", "autopilot.server_stabilization_time",
    "config_entries.bootstrap",
    # Logging: wired by the logging side of the agent (cli).
    "log_file", "log_rotate_bytes", "log_rotate_duration", "log_rotate_max_files", "log_json",
    "enable_syslog", "syslog_facility",
    "connect.enabled", "connect.ca_provider", "connect.ca_config",
    "watches", "telemetry.metrics_prefix", "telemetry.filter_default",
    "telemetry.prefix_filter", "telemetry.prometheus_retention_time",
    "telemetry.statsd_address", "telemetry.dogstatsd_addr", "telemetry.dogstatsd_tags",
    "acl.enabled", "acl.default_policy", "acl.down_policy", "acl.token_ttl", "acl.policy_ttl",
    "acl.role_ttl", "acl.enable_token_persistence", "acl.enable_key_list_policy",
    "acl.enable_token_replication",
    "ui", "ui_dir", "ui_content_path", "ui_config.enabled", "ui_config.dir",
    "ui_config.content_path",
    "ui_config.metrics_proxy.base_url", "ui_config.metrics_proxy.path_allowlist",
    "ui_config.metrics_proxy.add_headers",
    "disable_remote_exec",
    *(f"acl.tokens.{slot}" for slot in ("initial_management", "master", "agent",
                                         "agent_recovery", "agent_master", "default",
                                         "replication", "config_file_service_registration",
                                         "dns")),
    "acl_agent_master_token", "acl_agent_token", "acl_token", "acl_master_token",
    "acl_replication_token", "acl_default_policy", "acl_down_policy", "acl_ttl",
    "acl_enable_key_list_policy", "acl_datacenter", "acl_enforce_version_8",
    "raft_logstore.wal.segment_size_mb",
    "ports.grpc", "ports.grpc_tls", "addresses.grpc", "addresses.grpc_tls", "tls.grpc",
    "peering.enabled",
    "connect.enable_mesh_gateway_wan_federation", "primary_gateways",
    "primary_gateways_interval",
})

# Values that ask for exactly what Proconsul does anyway: no warning.
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "audit.enabled": (False,), "auto_encrypt.tls": (False,), "auto_config.enabled": (False,),
    "disable_update_check": (True, False),
    "disable_anonymous_signature": (True, False),
}


def set_keys(tree: dict[str, Any], spec: dict[str, Any] = CONFIG, prefix: str = ""
             ) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every key set in ``tree``, down to the blocks' own keys;
    lists of blocks and free-form maps count as one key. Empty values are not set."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if value is None or value == "" or value == [] or value == {}:
            continue
        sub = spec.get(key)
        if isinstance(sub, dict) and isinstance(value, dict):
            yield from set_keys(value, sub, f"{path}.")
        else:
            yield path, value


def _supported(path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:i]) in SUPPORTED for i in range(1, len(parts) + 1))


def unsupported(tree: dict[str, Any]) -> list[str]:
    """One warning per key that is set but not acted on."""
    return [f'config key "{path}" is accepted but not supported yet by Proconsul; '
            "it has no effect"
            for path, value in set_keys(tree)
            if not _supported(path) and value not in NEUTRAL.get(path, ())]


def unsafe(tree: dict[str, Any]) -> list[str]:
    """Errors for settings whose being ignored would weaken what the operator asked for."""
    http_config = tree.get("http_config", {})
    checks = [
        (bool(http_config.get("allow_write_http_from")), "http_config.allow_write_http_from",
         "restricting HTTP writes by client address is not supported yet"),
        (bool(http_config.get("block_endpoints")), "http_config.block_endpoints",
         "blocking HTTP endpoints is not supported yet"),
        (bool(tree.get("serf_lan_allowed_cidrs")), "serf_lan_allowed_cidrs",
         "restricting LAN gossip sources is not supported yet"),
        (bool(tree.get("serf_wan_allowed_cidrs")), "serf_wan_allowed_cidrs",
         "restricting WAN gossip sources is not supported yet"),
        (tree.get("auto_encrypt", {}).get("tls") is True, "auto_encrypt.tls = true",
         "certificates distributed by the servers are not supported yet; RPC would not "
         "use TLS"),
        (tree.get("auto_config", {}).get("enabled") is True, "auto_config.enabled = true",
         "auto-config is not supported yet; the agent would start without the gossip key "
         "and certificates it expects"),
    ]
    return [f"{key}: not supported yet: {why}" for bad, key, why in checks if bad]
