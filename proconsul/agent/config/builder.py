"""Turn a merged, validated config tree into the agent's runtime settings."""

from __future__ import annotations

from typing import Any

import msgspec

from proconsul.agent.config.acl import acl_settings, apply_deprecated
from proconsul.agent.config.load import check_tree, load_sources, merge
from proconsul.agent.config.runtime import AgentConfig, DNSConfig
from proconsul.agent.config.support import unsafe, unsupported
from proconsul.agent.config.tls import grpc_settings, https_settings, rpc_settings
from proconsul.agent.config.ui import ui_problems
from proconsul.agent.config.validate import ConfigError
from proconsul.agent.config.wanfed import wanfed_settings
from proconsul.lib.duration import format_duration, parse_duration
from proconsul.structs.config_entries import ConfigEntryError
from proconsul.structs.config_entries import decode as decode_entry
from proconsul.structs.config_entry_rpc import entry_payload, prepare
from proconsul.structs.connect import CAConfigError, parse_ca_config
from proconsul.structs.operator import AutopilotConfig

# Consul's -dev source (agent/config/default.go DevSource), as far as it applies here.
DEV_DEFAULTS: dict[str, Any] = {
    "bind_addr": "127.0.0.1",
    "server": True,
    "bootstrap": True,
    "disable_anonymous_signature": True,
    "disable_keyring_file": True,
    "enable_debug": True,
    "ui_config": {"enabled": True},
    "connect": {"enabled": True},
    "ports": {"grpc": 8502},
    "performance": {"raft_multiplier": 1},
}

# Keys whose change only takes effect after a restart (reload applies the rest).
RELOADABLE = {"services", "service", "checks", "check", "log_level", "acl", "node_meta",
              "watches", "http_config", "dns_config", "limits", "telemetry",
              # TLS files are re-read on reload; a change of TLS policy is flagged apart.
              "tls", "ca_file", "ca_path", "cert_file", "key_file", "verify_incoming",
              "verify_incoming_https", "verify_incoming_rpc", "verify_outgoing",
              "verify_server_hostname", "tls_min_version", "tls_cipher_suites"}


def _seconds(tree: dict[str, Any], key: str, default: float) -> float:
    value = tree.get(key)
    return parse_duration(value) / 1e9 if value else default


def build(tree: dict[str, Any], dev: bool = False,
          user_tree: dict[str, Any] | None = None) -> AgentConfig:
    """The runtime settings for ``tree``; ConfigError for contradictory or unsafe settings.

    ``user_tree`` (the sources without defaults) is what unsupported keys are looked
    for in, so ``-dev``'s own defaults warn about nothing."""
    tree, deprecations = apply_deprecated(tree)
    ports = tree.get("ports", {})
    server = bool(tree.get("server", False))
    bootstrap = bool(tree.get("bootstrap", False))
    expect = int(tree.get("bootstrap_expect", 0))
    problems = []
    if not dev and not tree.get("data_dir"):
        problems.append("data_dir cannot be empty")
    if bootstrap and expect:
        problems.append("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive")
    if expect and not server:
        problems.append("'bootstrap_expect > 0' requires 'server = true'")
    if bootstrap and not server:
        problems.append("'bootstrap = true' requires 'server = true'")
    performance = tree.get("performance", {})
    multiplier = int(performance.get("raft_multiplier", 0))
    if not 0 <= multiplier <= 10:
        problems.append("performance.raft_multiplier cannot be greater than 10")
    problems += [f"ports.{name}: invalid port: {value}" for name, value in sorted(ports.items())
                 if isinstance(value, int) and value > 65535]
    https_port = int(ports.get("https", -1))
    https_tls, https_problems = https_settings(tree, https_port)
    rpc_tls, rpc_problems = rpc_settings(tree, server)
    problems += [p for p in https_problems if p not in rpc_problems] + rpc_problems
    # Consul serves gRPC TLS on 8503 by default on servers (when it has a certificate).
    grpc_tls_port = int(ports.get("grpc_tls", 8503 if server else -1))
    grpc_tls, grpc_problems = grpc_settings(tree)
    problems += [p for p in grpc_problems if p not in problems]
    protocol = int(tree.get("protocol", 2))
    if not 2 <= protocol <= 3:
        problems.append(f"protocol: version {protocol} is not supported; use 2 or 3")
    default_query_time = _seconds(tree, "default_query_time", 300.0)
    max_query_time = _seconds(tree, "max_query_time", 600.0)
    for key, value in (("default_query_time", default_query_time),
                       ("max_query_time", max_query_time)):
        if value <= 0:
            problems.append(f"{key} must be greater than 0")
    segment_mb = int(tree.get("raft_logstore", {}).get("wal", {}).get("segment_size_mb", 64))
    if segment_mb < 1:
        problems.append("raft_logstore.wal.segment_size_mb cannot be less than 1MB")
    elif segment_mb > 1024:
        problems.append("raft_logstore.wal.segment_size_mb cannot be greater than 1024 (1GiB)")
    max_conns = int(tree.get("limits", {}).get("http_max_conns_per_client", 200))
    if max_conns < 0:
        problems.append("limits.http_max_conns_per_client cannot be negative")
    problems += unsafe(tree)
    problems += ui_problems(tree)
    acl = acl_settings(tree, problems)
    wanfed = wanfed_settings(tree, server, problems)
    client_addrs = tree.get("client_addr") or "127.0.0.1"  # HTTP(S) listens on each
    client_addr = client_addrs.split()[0]
    addresses = tree.get("addresses", {})
    dns_addr = (addresses.get("dns") or client_addr).split()[0]
    if dns_addr.startswith("unix://"):
        problems.append("DNS address cannot be a unix socket")
    if problems:
        raise ConfigError(problems)
    warnings = deprecations + unsupported(user_tree if user_tree is not None else tree)
    if https_port > 0 and not (https_tls.cert_file and https_tls.key_file):
        warnings.append("ports.https is set but no certificate is configured (cert_file and "
                        "key_file in tls.https or tls.defaults): the HTTPS listener is disabled")
        https_port = -1
    # A server with Connect serves its own peering certificate there even with none
    # configured, when ports.grpc_tls asks for the listener.
    peering_tls = server and "grpc_tls" in ports and \
        bool(tree.get("connect", {}).get("enabled", False))
    if grpc_tls_port > 0 and not (grpc_tls.cert_file and grpc_tls.key_file) \
            and not peering_tls:
        if "grpc_tls" in ports:
            warnings.append("ports.grpc_tls is set but no certificate is configured (cert_file "
                            "and key_file in tls.grpc or tls.defaults): the gRPC TLS listener "
                            "is disabled")
        grpc_tls_port = -1
    return AgentConfig(
        node_name=tree.get("node_name", ""), node_id=tree.get("node_id", ""),
        datacenter=tree.get("datacenter", "dc1"),
        primary_datacenter=tree.get("primary_datacenter", ""),
        client_addr=client_addr, http_addr=addresses.get("http") or client_addrs,
        dns_addr=dns_addr,
        bind_addr=tree.get("bind_addr", "0.0.0.0"),
        advertise_addr=tree.get("advertise_addr", ""),
        http_port=ports.get("http", 8500), server_port=ports.get("server", 8300),
        https_port=https_port, https_addr=addresses.get("https") or client_addrs,
        https_tls=https_tls, rpc_tls=rpc_tls, wanfed=wanfed,
        https_handshake_timeout=_seconds(tree.get("limits", {}), "https_handshake_timeout", 5.0),
        serf_lan_port=ports.get("serf_lan", 8301), serf_wan_port=ports.get("serf_wan", 8302),
        server=server, bootstrap=bootstrap, bootstrap_expect=expect,
        encrypt=tree.get("encrypt", ""),
        start_join=tree.get("start_join", []), start_join_wan=tree.get("start_join_wan", []),
        retry_join=tree.get("retry_join", []), retry_join_wan=tree.get("retry_join_wan", []),
        retry_interval=_seconds(tree, "retry_interval", 30.0),
        retry_max=int(tree.get("retry_max", 0)), dev=dev, data_dir=tree.get("data_dir", ""),
        log_level=tree.get("log_level", "INFO"),
        node_meta=tree.get("node_meta", {}),
        services=tree.get("service", []) + tree.get("services", []),
        checks=tree.get("check", []) + tree.get("checks", []),
        enable_script_checks=bool(tree.get("enable_script_checks", False)),
        enable_local_script_checks=bool(tree.get("enable_local_script_checks", False)),
        leave_on_terminate=bool(tree.get("leave_on_terminate", not server)),
        skip_leave_on_interrupt=bool(tree.get("skip_leave_on_interrupt", server)),
        check_update_interval=_seconds(tree, "check_update_interval", 300.0),
        sidecar_min_port=ports.get("sidecar_min_port", 21000),
        sidecar_max_port=ports.get("sidecar_max_port", 21255),
        raft_multiplier=multiplier,
        raft_snapshot_threshold=int(tree.get("raft_snapshot_threshold", 16384)),
        raft_trailing_logs=int(tree.get("raft_trailing_logs", 10240)),
        raft_segment_bytes=segment_mb << 20,
        rpc_hold_timeout=_seconds(performance, "rpc_hold_timeout", 7.0),
        leave_drain_time=_seconds(performance, "leave_drain_time", 5.0),
        grpc_port=int(ports.get("grpc", -1)), grpc_tls_port=grpc_tls_port, grpc_tls=grpc_tls,
        peering_enabled=bool(tree.get("peering", {}).get("enabled", True)),
        grpc_addr=addresses.get("grpc") or client_addrs,
        grpc_tls_addr=addresses.get("grpc_tls") or client_addrs,
        dns_port=ports.get("dns", 8600), domain=tree.get("domain", "consul."),
        alt_domain=tree.get("alt_domain", ""),
        recursors=([tree["recursor"]] if tree.get("recursor") else [])
        + tree.get("recursors", []),
        dns_config=_dns_config(tree.get("dns_config", {})),
        pid_file=tree.get("pid_file", ""),
        rejoin_after_leave=bool(tree.get("rejoin_after_leave", False)),
        serf_lan_bind=tree.get("serf_lan", ""), serf_wan_bind=tree.get("serf_wan", ""),
        default_query_time=default_query_time, max_query_time=max_query_time,
        disable_host_node_id=bool(tree.get("disable_host_node_id", True)),
        protocol=protocol, auto_reload_config=bool(tree.get("auto_reload_config", False)),
        http_max_conns_per_client=max_conns, warnings=warnings,
        autopilot=_autopilot(tree.get("autopilot", {})),
        config_entries=_bootstrap_entries(tree.get("config_entries")),
        connect_enabled=bool(tree.get("connect", {}).get("enabled", False)),
        ca_provider=_ca_provider(tree.get("connect", {}).get("ca_provider") or "consul"),
        ca_config=_ca_config(tree.get("connect", {}).get("ca_config") or {}),
        acl=acl,
        tree=tree,
    )


def _dns_config(tree: dict[str, Any]) -> DNSConfig:
    known = {k: v for k, v in tree.items() if k in DNSConfig.__struct_fields__}
    try:
        return msgspec.convert(known, DNSConfig)
    except msgspec.ValidationError as err:
        raise ConfigError([f"dns_config: {err}"]) from None


# autopilot {} keys and the AutopilotConfig fields they set.
_AUTOPILOT_KEYS = {
    "cleanup_dead_servers": "CleanupDeadServers", "max_trailing_logs": "MaxTrailingLogs",
    "min_quorum": "MinQuorum", "redundancy_zone_tag": "RedundancyZoneTag",
    "disable_upgrade_migration": "DisableUpgradeMigration",
    "upgrade_version_tag": "UpgradeVersionTag",
}


def _autopilot(tree: dict[str, Any]) -> AutopilotConfig:
    """The autopilot settings a new leader stores when the cluster has none yet."""
    fields = {field: tree[key] for key, field in _AUTOPILOT_KEYS.items() if key in tree}
    for key, field in (("last_contact_threshold", "LastContactThreshold"),
                       ("server_stabilization_time", "ServerStabilizationTime")):
        if tree.get(key):
            fields[field] = format_duration(parse_duration(tree[key]))
    return AutopilotConfig(**fields)


def _bootstrap_entries(block: Any) -> list[dict[str, Any]]:
    """``config_entries { bootstrap = [...] }``: each entry decoded, normalized and validated
    as a write would be, so a bad one stops start-up naming its place."""
    if isinstance(block, list):
        block = {"bootstrap": [e for b in block if isinstance(b, dict)
                               for e in _as_list(b.get("bootstrap"))]}
    raw = _as_list((block or {}).get("bootstrap"))
    entries, problems = [], []
    for i, item in enumerate(raw):
        try:
            entry = prepare(decode_entry(item))
        except ConfigEntryError as err:
            problems.append(f"config_entries.bootstrap[{i}]: {err.message}")
            continue
        entries.append(entry_payload(entry))
    if problems:
        raise ConfigError(problems)
    return entries


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
# connect.ca_config keys as the CA configuration map spells them (Consul's builder).
_CA_CONFIG_KEYS = {
    "leaf_cert_ttl": "LeafCertTTL", "intermediate_cert_ttl": "IntermediateCertTTL",
    "root_cert_ttl": "RootCertTTL", "private_key_type": "PrivateKeyType",
    "private_key_bits": "PrivateKeyBits", "private_key": "PrivateKey", "root_cert": "RootCert",
    "csr_max_per_second": "CSRMaxPerSecond", "csr_max_concurrent": "CSRMaxConcurrent",
    "disable_cross_signing": "DisableCrossSigning",
}


def _ca_provider(name: str) -> str:
    """Only the built-in CA is there yet; a cluster must not start on the wrong one."""
    if name != "consul":
        raise ConfigError([f'connect.ca_provider = "{name}": not supported yet: only the '
                           'built-in "consul" provider is'])
    return name


def _ca_config(tree: dict[str, Any]) -> dict[str, Any]:
    """The CA configuration a new cluster starts from; checked as the servers check it."""
    config = {_CA_CONFIG_KEYS.get(key, key): value for key, value in tree.items()}
    try:
        parse_ca_config(config)
    except CAConfigError as err:
        raise ConfigError([f"connect.ca_config: {err}"]) from None
    return config


def load_config(config_paths: list[str], inline_hcl: list[str], flags: dict[str, Any],
                dev: bool = False, fmt: str = "") -> AgentConfig:
    """Defaults (and -dev), then files and directories, then -hcl, then flags."""
    user_tree = load_sources(config_paths, inline_hcl, fmt, overrides=flags)
    tree = merge(check_tree(DEV_DEFAULTS, "defaults"), user_tree) if dev else user_tree
    config = build(tree, dev, user_tree)
    config.config_paths = list(config_paths)
    config.inline_hcl = list(inline_hcl)
    config.flag_tree = flags
    config.config_format = fmt
    return config


def restart_required(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Top-level keys that changed and that a reload cannot apply."""
    return sorted(k for k in set(old) | set(new)
                  if k not in RELOADABLE and old.get(k) != new.get(k))
