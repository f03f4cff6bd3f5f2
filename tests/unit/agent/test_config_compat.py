"""Every key of Consul's config format is accepted; unsupported ones warn, unsafe ones stop."""

from __future__ import annotations

import json

import pytest

from proconsul.agent.config.builder import build, load_config
from proconsul.agent.config.load import load_sources
from proconsul.agent.config.schema import CONFIG
from proconsul.agent.config.validate import ConfigError

# The mapstructure names of the fields of Consul's agent/config Config struct (with its
# deprecated and enterprise-only fields), from agent/config/config.go and deprecated.go.
_CONSUL_KEYS_TEXT = """
acl addresses advertise_addr advertise_addr_ipv4 advertise_addr_ipv6 advertise_addr_wan
advertise_addr_wan_ipv4 advertise_addr_wan_ipv6 advertise_reconnect_timeout auto_config
autopilot bind_addr bootstrap bootstrap_expect cache check check_output_max_size
check_update_interval checks client_addr cloud config_entries auto_encrypt connect dns_config
domain alt_domain recursors data_dir datacenter default_query_time
disable_anonymous_signature disable_coordinates disable_host_node_id
disable_http_unprintable_char_filter disable_keyring_file disable_remote_exec
disable_update_check discard_check_output discovery_max_stale enable_agent_tls_for_checks
enable_central_service_config enable_debug enable_script_checks enable_local_script_checks
enable_syslog encrypt encrypt_verify_incoming encrypt_verify_outgoing gossip_lan gossip_wan
http_config leave_on_terminate license_path limits locality log_level log_sublevels log_json
log_file log_rotate_duration log_rotate_bytes log_rotate_max_files max_query_time node_id
node_meta node_name peering performance pid_file ports primary_datacenter primary_gateways
primary_gateways_interval protocol raft_protocol raft_snapshot_threshold
raft_snapshot_interval raft_trailing_logs reconnect_timeout reconnect_timeout_wan
rejoin_after_leave auto_reload_config retry_interval retry_interval_wan retry_join retry_max
retry_max_wan retry_join_wan serf_lan_allowed_cidrs serf_wan_allowed_cidrs serf_lan serf_wan
server server_name service services session_ttl_min skip_leave_on_interrupt syslog_facility
tls tagged_addresses telemetry translate_wan_addrs xds ui ui_content_path ui_dir ui_config
unix_sockets watches rpc raft_logstore use_streaming_backend snapshot_agent ae_interval
check_deregister_interval_min check_reap_interval consul revision segment_limit
segment_name_limit sync_coordinate_interval_min sync_coordinate_rate_target version
version_prerelease version_metadata build_date audit read_replica non_voting_server segment
segments partition license_poll_base_time license_poll_max_time license_update_base_time
license_update_max_time reporting
acl_agent_master_token acl_agent_token acl_token acl_enable_key_list_policy acl_master_token
acl_replication_token enable_acl_replication acl_datacenter acl_default_policy
acl_down_policy acl_ttl ca_file ca_path cert_file key_file tls_cipher_suites tls_min_version
verify_incoming verify_incoming_https verify_incoming_rpc verify_outgoing
verify_server_hostname tls_prefer_server_cipher_suites start_join start_join_wan raft_boltdb
"""
CONSUL_TOP_LEVEL_KEYS = _CONSUL_KEYS_TEXT.split()


def test_every_top_level_key_of_consuls_config_struct_is_known():
    assert sorted(set(CONSUL_TOP_LEVEL_KEYS) - set(CONFIG)) == []


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["empty.json", "empty.hcl"])
def test_an_empty_config_file_is_valid(tmp_path, name):
    assert load_sources([write(tmp_path, name, "")], []) == {}
    assert load_sources([write(tmp_path, name, "\n  \n")], []) == {}


def test_unknown_keys_stay_errors_as_in_consul(tmp_path):
    with pytest.raises(ConfigError, match='invalid config key "telemetry.no_such_key"'):
        load_sources([write(tmp_path, "a.json", '{"telemetry": {"no_such_key": 1}}')], [])


def test_null_is_absent_as_go_decodes_it(tmp_path):
    tree = load_sources([write(tmp_path, "a.json", json.dumps(
        {"segments": None, "ports": {"http": None}, "node_meta": None}))], [])
    assert tree == {"ports": {}}


UNSUPPORTED_JSON = {
    "data_dir": "/d", "version": "1.22.0", "version_prerelease": "dev", "segment": "alpha",
    "telemetry": {"statsite_address": "127.0.0.1:8125", "disable_hostname": True},
    "ui_config": {"enabled": True, "metrics_provider": "prometheus"}, "auto_encrypt": {"allow_tls": True},
    "acl": {"enabled": False, "default_policy": "deny", "tokens": {}},
    "connect": {"enabled": True, "ca_config": {"cluster_id": "x"}},
    "segments": [{"name": "alpha", "port": 8303}],
}
UNSUPPORTED_HCL = """
data_dir = "/d"
version = "1.22.0"
version_prerelease = "dev"
segment = "alpha"
telemetry { statsite_address = "127.0.0.1:8125" disable_hostname = true }
ui_config { enabled = true metrics_provider = "prometheus" }
auto_encrypt { allow_tls = true }
acl { enabled = false default_policy = "deny" tokens {} }
connect { enabled = true ca_config { cluster_id = "x" } }
segments = [{ name = "alpha" port = 8303 }]
"""
EXPECTED_WARNED = ["version", "version_prerelease", "segment", "telemetry.statsite_address",
                   "ui_config.metrics_provider",
                   "auto_encrypt.allow_tls", "segments"]


@pytest.mark.parametrize(("name", "text"), [("c.json", json.dumps(UNSUPPORTED_JSON)),
                                            ("c.hcl", UNSUPPORTED_HCL)])
def test_unsupported_keys_are_accepted_with_one_warning_each(tmp_path, name, text):
    config = load_config([write(tmp_path, name, text)], [], {})
    warned = [w.split('"')[1] for w in config.warnings]
    assert sorted(warned) == sorted(EXPECTED_WARNED)
    assert all("not supported yet" in w for w in config.warnings)


def test_supported_keys_and_neutral_values_do_not_warn(tmp_path):
    config = load_config([], [], {"acl": {"enabled": False}, "disable_update_check": True,
                                  "ports": {"http": 8500}, "pid_file": "/run/p.pid"},
                         dev=True)
    assert config.warnings == []  # -dev's own defaults (ui_config, connect...) are not warned


@pytest.mark.parametrize(("tree", "message"), [
    ({"http_config": {"allow_write_http_from": ["127.0.0.0/8"]}},
     "http_config.allow_write_http_from: not supported yet"),
    ({"http_config": {"block_endpoints": ["/v1/acl"]}},
     "http_config.block_endpoints: not supported yet"),
    ({"serf_lan_allowed_cidrs": ["10.0.0.0/8"]}, "serf_lan_allowed_cidrs: not supported yet"),
    ({"serf_wan_allowed_cidrs": ["10.0.0.0/8"]}, "serf_wan_allowed_cidrs: not supported yet"),
    ({"auto_encrypt": {"tls": True}}, "auto_encrypt.tls = true: not supported yet"),
    ({"auto_config": {"enabled": True}}, "auto_config.enabled = true: not supported yet"),
])
def test_settings_unsafe_to_ignore_stop_start_up(tree, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config([], [], {"data_dir": "/d", **tree})


def test_acl_block_written_by_sdk_testutil_is_fine(tmp_path):
    for acl in ({}, {"tokens": {}}, {"enabled": False}):
        load_config([write(tmp_path, "a.json", json.dumps({"data_dir": "/d", "acl": acl}))],
                    [], {})


def test_https_port_without_a_certificate_disables_the_listener_with_a_warning():
    config = build({"data_dir": "/d", "ports": {"https": 8501}})
    assert config.https_port == -1
    assert [w for w in config.warnings if "HTTPS listener is disabled" in w]


@pytest.mark.parametrize(("tree", "message"), [
    ({"protocol": 4}, "protocol: version 4 is not supported"),
    ({"default_query_time": "0s"}, "default_query_time must be greater than 0"),
    ({"limits": {"http_max_conns_per_client": -1}}, "cannot be negative"),
])
def test_bad_values_of_new_keys(tree, message):
    with pytest.raises(ConfigError, match=message):
        build({"data_dir": "/d", **tree})


def test_new_keys_reach_the_runtime_config():
    config = build({"data_dir": "/d", "pid_file": "/run/a.pid", "rejoin_after_leave": True,
                    "serf_lan": "10.0.0.1", "serf_wan": "10.0.0.2", "protocol": 3,
                    "default_query_time": "30s", "max_query_time": "1m",
                    "disable_host_node_id": False, "auto_reload_config": True,
                    "addresses": {"dns": "0.0.0.0"},
                    "limits": {"http_max_conns_per_client": 5}})
    assert (config.pid_file, config.rejoin_after_leave, config.protocol) == ("/run/a.pid",
                                                                             True, 3)
    assert (config.serf_lan_bind, config.serf_wan_bind) == ("10.0.0.1", "10.0.0.2")
    assert (config.default_query_time, config.max_query_time) == (30.0, 60.0)
    assert not config.disable_host_node_id and config.auto_reload_config
    assert (config.http_max_conns_per_client, config.dns_addr) == (5, "0.0.0.0")
    assert config.warnings == []
    defaults = build({"data_dir": "/d"})
    assert (defaults.default_query_time, defaults.max_query_time) == (300.0, 600.0)
    assert defaults.http_max_conns_per_client == 200 and defaults.disable_host_node_id


@pytest.mark.parametrize(("size", "message"), [
    (0, "raft_logstore.wal.segment_size_mb cannot be less than 1MB"),
    (1025, r"raft_logstore.wal.segment_size_mb cannot be greater than 1024 \(1GiB\)"),
])
def test_raft_log_segment_size_is_checked_as_consul_does(size, message):
    with pytest.raises(ConfigError, match=message):
        build({"data_dir": "/d", "raft_logstore": {"wal": {"segment_size_mb": size}}})


def test_raft_log_segment_size_reaches_the_runtime_config_without_a_warning():
    config = build({"data_dir": "/d", "raft_logstore": {"wal": {"segment_size_mb": 2}}})
    assert config.raft_segment_bytes == 2 << 20 and config.warnings == []
    assert build({"data_dir": "/d"}).raft_segment_bytes == 64 << 20
