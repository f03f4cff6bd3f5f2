"""Which keys Consul's config files accept, and of what type.

The spec is a tree: a ``dict`` is a block with fixed keys; :class:`Blocks`
accepts one block or a list of them (HCL repeats blocks); :class:`MapOf` is a
block with free keys. Leaves are the type names below. Keys whose feature
arrives later are listed too, so they are accepted and stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STR, INT, BOOL, FLOAT, DURATION, STR_LIST, STR_MAP, ANY = (
    "string", "int", "bool", "float", "duration", "list of strings", "map of strings", "any")


@dataclass(frozen=True)
class Blocks:
    """One block, or several (a list); always read back as a list."""

    spec: dict[str, Any]


@dataclass(frozen=True)
class MapOf:
    """A block whose keys are free and whose values all follow ``spec``."""

    spec: Any


CHECK: dict[str, Any] = {
    "id": STR, "check_id": STR, "name": STR, "notes": STR, "service_id": STR, "token": STR,
    "status": STR, "args": STR_LIST, "shell": STR, "docker_container_id": STR,
    "interval": DURATION, "timeout": DURATION, "ttl": DURATION, "http": STR,
    "header": MapOf(STR_LIST), "method": STR, "body": STR, "disable_redirects": BOOL,
    "tls_server_name": STR, "tls_skip_verify": BOOL, "tcp": STR, "tcp_use_tls": BOOL,
    "udp": STR, "grpc": STR, "grpc_use_tls": BOOL, "h2ping": STR, "h2ping_use_tls": BOOL,
    "alias_node": STR, "alias_service": STR, "os_service": STR,
    "success_before_passing": INT, "failures_before_warning": INT,
    "failures_before_critical": INT, "deregister_critical_service_after": DURATION,
    "output_max_size": INT, "namespace": STR, "partition": STR,
}
# Alternate spellings Consul translates inside check definitions.
CHECK_ALIASES = {"scriptargs": "args", "script_args": "args", "checkid": "check_id"}

UPSTREAM: dict[str, Any] = {
    "destination_type": STR, "destination_namespace": STR, "destination_partition": STR,
    "destination_peer": STR, "destination_name": STR, "datacenter": STR,
    "local_bind_address": STR, "local_bind_port": INT, "local_bind_socket_path": STR,
    "local_bind_socket_mode": STR, "config": ANY, "mesh_gateway": {"mode": STR},
    "centrally_configured": BOOL,
}

PROXY: dict[str, Any] = {
    "destination_service_name": STR, "destination_service_id": STR,
    "local_service_address": STR, "local_service_port": INT,
    "local_service_socket_path": STR, "mode": STR,
    "transparent_proxy": {"outbound_listener_port": INT, "dialed_directly": BOOL},
    "config": ANY, "upstreams": Blocks(UPSTREAM), "mesh_gateway": {"mode": STR},
    "expose": {"checks": BOOL, "paths": Blocks({
        "listener_port": INT, "path": STR, "local_path_port": INT, "protocol": STR})},
    "access_logs": ANY,
}

SERVICE: dict[str, Any] = {
    "id": STR, "name": STR, "kind": STR, "tags": STR_LIST, "address": STR,
    "tagged_addresses": MapOf({"address": STR, "port": INT}), "port": INT,
    "socket_path": STR, "meta": STR_MAP, "weights": {"passing": INT, "warning": INT},
    "enable_tag_override": BOOL, "token": STR, "locality": {"region": STR, "zone": STR},
    "ports": Blocks({"name": STR, "port": INT, "default": BOOL}),
    "check": Blocks(CHECK), "checks": Blocks(CHECK), "proxy": PROXY,
    "namespace": STR, "partition": STR,
}
SIDECAR_SERVICE = {k: v for k, v in SERVICE.items()}
SERVICE["connect"] = {"native": BOOL, "sidecar_service": SIDECAR_SERVICE}
SERVICE_ALIASES = {"service": "name"}

TLS_BLOCK = {
    "ca_file": STR, "ca_path": STR, "cert_file": STR, "key_file": STR, "tls_min_version": STR,
    "tls_cipher_suites": STR, "verify_incoming": BOOL, "verify_outgoing": BOOL,
    "verify_server_hostname": BOOL, "use_auto_cert": BOOL,
}

GOSSIP = {"gossip_nodes": INT, "gossip_interval": DURATION, "probe_interval": DURATION,
          "probe_timeout": DURATION, "suspicion_mult": INT, "retransmit_mult": INT}

ACL_TOKENS = {
    "initial_management": STR, "master": STR, "agent": STR, "agent_recovery": STR,
    "agent_master": STR, "default": STR, "replication": STR, "config_file_service_registration": STR,
    "dns": STR, "managed_service_provider": Blocks({"accessor_id": STR, "secret_id": STR}),
}

AUTO_CONFIG_AUTHORIZER = {
    "claim_assertions": STR_LIST, "allow_reuse": BOOL, "jwt_supported_algs": STR_LIST,
    "bound_audiences": STR_LIST, "claim_mappings": STR_MAP, "list_claim_mappings": STR_MAP,
    "oidc_discovery_url": STR, "oidc_discovery_ca_cert": STR, "jwks_url": STR,
    "jwks_ca_cert": STR, "jwt_validation_pub_keys": STR_LIST, "bound_issuer": STR,
    "expiration_leeway": DURATION, "not_before_leeway": DURATION, "clock_skew_leeway": DURATION,
}

AUDIT_SINK = {"name": STR, "type": STR, "format": STR, "path": STR, "delivery_guarantee": STR,
              "mode": STR, "rotate_bytes": INT, "rotate_duration": DURATION,
              "rotate_max_files": INT}

CONFIG: dict[str, Any] = {
    "acl": {
        "enabled": BOOL, "default_policy": STR, "down_policy": STR, "policy_ttl": DURATION,
        "role_ttl": DURATION, "token_ttl": DURATION, "enable_token_persistence": BOOL,
        "enable_token_replication": BOOL, "enable_key_list_policy": BOOL,
        "msp_disable_bootstrap": BOOL, "tokens": ACL_TOKENS, "disabled_ttl": DURATION,
    },
    # Deprecated top-level ACL keys (Consul maps them into acl {} or primary_datacenter).
    "acl_datacenter": STR, "acl_default_policy": STR, "acl_down_policy": STR,
    "acl_token": STR, "acl_agent_token": STR, "acl_master_token": STR,
    "acl_agent_master_token": STR, "acl_replication_token": STR, "acl_ttl": DURATION,
    "acl_enable_key_list_policy": BOOL, "acl_disabled_ttl": DURATION,
    "acl_enforce_version_8": BOOL,  # removed in Consul 1.4's new ACL system; still seen
    "addresses": {"dns": STR, "http": STR, "https": STR, "grpc": STR, "grpc_tls": STR},
    "advertise_addr": STR, "advertise_addr_ipv4": STR, "advertise_addr_ipv6": STR,
    "advertise_addr_wan": STR, "advertise_addr_wan_ipv4": STR, "advertise_addr_wan_ipv6": STR,
    "advertise_reconnect_timeout": DURATION, "alt_domain": STR,
    "ae_interval": DURATION,
    "audit": {"enabled": BOOL, "sink": MapOf(AUDIT_SINK)},
    "auto_config": {"enabled": BOOL, "intro_token": STR, "intro_token_file": STR,
                    "server_addresses": STR_LIST, "dns_sans": STR_LIST, "ip_sans": STR_LIST,
                    "authorization": {"enabled": BOOL, "static": AUTO_CONFIG_AUTHORIZER}},
    "auto_encrypt": {"tls": BOOL, "allow_tls": BOOL,
                                                       "dns_san": STR_LIST, "ip_san": STR_LIST},
    "auto_reload_config": BOOL,
    "autopilot": {
        "cleanup_dead_servers": BOOL, "last_contact_threshold": DURATION,
        "max_trailing_logs": INT, "min_quorum": INT, "server_stabilization_time": DURATION,
        "redundancy_zone_tag": STR, "disable_upgrade_migration": BOOL,
        "upgrade_version_tag": STR,
    },
    "bind_addr": STR, "bootstrap": BOOL, "bootstrap_expect": INT,
    "cache": {"entry_fetch_max_burst": INT, "entry_fetch_rate": FLOAT},
    "ca_file": STR, "ca_path": STR, "cert_file": STR, "key_file": STR,
    "check": Blocks(CHECK), "checks": Blocks(CHECK), "check_output_max_size": INT,
    "check_update_interval": DURATION, "check_deregister_interval_min": DURATION,
    "check_reap_interval": DURATION, "client_addr": STR,
    "cloud": {"resource_id": STR, "client_id": STR, "client_secret": STR, "hostname": STR,
              "auth_url": STR, "scada_address": STR},
    "config_entries": {"bootstrap": ANY},
    "connect": {"enabled": BOOL, "ca_provider": STR, "ca_config": ANY,
                "enable_mesh_gateway_wan_federation": BOOL, "enable_serverless_plugin": BOOL,
                "test_ca_leaf_root_change_spread": DURATION},
    "consul": {"coordinate": {"update_batch_size": INT, "update_max_batches": INT,
                              "update_period": DURATION},
               "raft": {"election_timeout": DURATION, "heartbeat_timeout": DURATION,
                        "leader_lease_timeout": DURATION},
               "server": {"health_interval": DURATION}},
    "data_dir": STR, "datacenter": STR, "default_query_time": DURATION,
    "disable_anonymous_signature": BOOL, "disable_coordinates": BOOL,
    "disable_host_node_id": BOOL, "disable_http_unprintable_char_filter": BOOL,
    "disable_keyring_file": BOOL, "disable_remote_exec": BOOL, "disable_update_check": BOOL,
    "discard_check_output": BOOL, "discovery_max_stale": DURATION,
    "dns_config": {
        "allow_stale": BOOL, "a_record_limit": INT, "disable_compression": BOOL,
        "enable_additional_node_meta_txt": BOOL, "enable_truncate": BOOL, "max_stale": DURATION,
        "node_ttl": DURATION, "only_passing": BOOL, "recursor_strategy": STR,
        "recursor_timeout": DURATION, "service_ttl": MapOf(DURATION),
        "udp_answer_limit": INT, "use_cache": BOOL, "cache_max_age": DURATION,
        "prefer_namespace": BOOL, "soa": {"expire": INT, "min_ttl": INT, "refresh": INT,
                                           "retry": INT},
        "serve_stale_on_error": BOOL, "stale_ttl": DURATION,
    },
    "domain": STR, "enable_acl_replication": BOOL, "enable_agent_tls_for_checks": BOOL,
    "enable_central_service_config": BOOL, "enable_debug": BOOL,
    "enable_local_script_checks": BOOL, "enable_script_checks": BOOL, "enable_syslog": BOOL,
    "encrypt": STR, "encrypt_verify_incoming": BOOL, "encrypt_verify_outgoing": BOOL,
    "experiments": STR_LIST, "gossip_lan": GOSSIP, "gossip_wan": GOSSIP,
    "http_config": {"allow_write_http_from": STR_LIST, "block_endpoints": STR_LIST,
                    "response_headers": STR_MAP, "use_cache": BOOL, "max_header_bytes": INT},
    "leave_on_terminate": BOOL, "license_path": STR, "license_poll_base_time": DURATION,
    "license_poll_max_time": DURATION, "license_update_base_time": DURATION,
    "license_update_max_time": DURATION,
    "limits": {
        "http_max_conns_per_client": INT, "https_handshake_timeout": DURATION,
        "rpc_handshake_timeout": DURATION, "rpc_client_timeout": DURATION,
        "rpc_max_burst": INT, "rpc_max_conns_per_client": INT, "rpc_rate": FLOAT,
        "kv_max_value_size": INT, "txn_max_req_len": INT,
        "request_limits": {"mode": STR, "read_rate": FLOAT, "write_rate": FLOAT},
    },
    "locality": {"region": STR, "zone": STR}, "log_file": STR, "log_json": BOOL,
    "log_level": STR, "log_sublevels": STR_MAP, "log_rotate_bytes": INT, "log_rotate_duration": DURATION,
    "log_rotate_max_files": INT, "max_query_time": DURATION, "node_id": STR,
    "node_meta": STR_MAP, "node_name": STR, "non_voting_server": BOOL, "partition": STR,
    "peering": {"enabled": BOOL, "test_allow_peer_registrations": BOOL},
    "performance": {"leave_drain_time": DURATION, "raft_multiplier": INT,
                    "rpc_hold_timeout": DURATION, "grpc_keepalive_interval": DURATION,
                    "grpc_keepalive_timeout": DURATION},
    "pid_file": STR,
    "ports": {"dns": INT, "http": INT, "https": INT, "serf_lan": INT, "serf_wan": INT,
              "server": INT, "grpc": INT, "grpc_tls": INT, "proxy_min_port": INT,
              "proxy_max_port": INT, "sidecar_min_port": INT, "sidecar_max_port": INT,
              "expose_min_port": INT, "expose_max_port": INT},
    "primary_datacenter": STR, "primary_gateways": STR_LIST,
    "primary_gateways_interval": DURATION, "protocol": INT, "raft_protocol": INT,
    "raft_snapshot_interval": DURATION, "raft_snapshot_threshold": INT,
    "raft_trailing_logs": INT, "raft_boltdb": {"no_freelist_sync": BOOL},
    "raft_logstore": {"backend": STR, "disable_log_cache": BOOL,
                      "verification": {"enabled": BOOL, "interval": DURATION},
                      "boltdb": {"no_freelist_sync": BOOL}, "wal": {"segment_size_mb": INT}},
    "read_replica": BOOL, "reporting": {"license": {"enabled": BOOL}}, "revision": STR,
    "reconnect_timeout": DURATION, "reconnect_timeout_wan": DURATION, "recursor": STR,
    "recursors": STR_LIST, "rejoin_after_leave": BOOL, "retry_interval": DURATION,
    "retry_interval_wan": DURATION, "retry_join": STR_LIST, "retry_join_wan": STR_LIST,
    "retry_max": INT, "retry_max_wan": INT, "rpc": {"enable_streaming": BOOL},
    "segment": STR, "segment_limit": INT, "segment_name_limit": INT,
    "segments": Blocks({"name": STR, "bind": STR, "port": INT, "advertise": STR,
                        "rpc_listener": BOOL}),
    "serf_lan": STR, "serf_lan_allowed_cidrs": STR_LIST,
    "serf_wan": STR, "serf_wan_allowed_cidrs": STR_LIST, "server": BOOL,
    "server_name": STR, "server_rejoin_age_max": DURATION,
    "service": Blocks(SERVICE), "services": Blocks(SERVICE), "session_ttl_min": DURATION,
    "skip_leave_on_interrupt": BOOL, "snapshot_agent": ANY, "start_join": STR_LIST,
    "start_join_wan": STR_LIST, "sync_coordinate_interval_min": DURATION,
    "sync_coordinate_rate_target": FLOAT, "syslog_facility": STR, "tagged_addresses": STR_MAP,
    "telemetry": {
        "circonus_api_app": STR, "circonus_api_token": STR, "circonus_api_url": STR,
        "circonus_broker_id": STR, "circonus_broker_select_tag": STR,
        "circonus_check_display_name": STR, "circonus_check_force_metric_activation": STR,
        "circonus_check_id": STR, "circonus_check_instance_id": STR,
        "circonus_check_search_tag": STR, "circonus_check_tags": STR,
        "circonus_submission_interval": STR, "circonus_submission_url": STR,
        "disable_hostname": BOOL, "disable_compat_1.9": BOOL, "dogstatsd_addr": STR,
        "dogstatsd_tags": STR_LIST, "enable_host_metrics": BOOL, "filter_default": BOOL,
        "metrics_prefix": STR, "prefix_filter": STR_LIST,
        "prometheus_retention_time": DURATION, "retry_failed_connection": BOOL,
        "statsd_address": STR, "statsite_address": STR,
    },
    "tls": {"defaults": TLS_BLOCK, "internal_rpc": TLS_BLOCK, "https": TLS_BLOCK,
            "grpc": TLS_BLOCK},
    "tls_cipher_suites": STR, "tls_min_version": STR, "tls_prefer_server_cipher_suites": BOOL,
    "translate_wan_addrs": BOOL, "ui": BOOL,
    "ui_config": {"enabled": BOOL, "dir": STR, "content_path": STR, "metrics_provider": STR,
                  "metrics_provider_files": STR_LIST, "metrics_provider_options_json": STR,
                  "metrics_proxy": {"base_url": STR, "path_allowlist": STR_LIST,
                                    "add_headers": Blocks({"name": STR, "value": STR})},
                  "dashboard_url_templates": STR_MAP},
    "ui_content_path": STR, "ui_dir": STR, "use_streaming_backend": BOOL, "unix_sockets": {"user": STR, "group": STR, "mode": STR},
    "verify_incoming": BOOL, "verify_incoming_https": BOOL, "verify_incoming_rpc": BOOL,
    "verify_outgoing": BOOL, "verify_server_hostname": BOOL,
    # Set by Consul's build, not by users; sdk/testutil writes "version" into every config.
    "version": STR, "version_prerelease": STR, "version_metadata": STR, "build_date": STR,
    "watches": ANY,
    "xds": {"update_max_per_second": FLOAT},
}
