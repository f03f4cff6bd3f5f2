"""Config files and flags: formats, merging, translation, validation, -dev defaults."""

from __future__ import annotations

import json

import pytest

from proconsul.agent.config.builder import DEV_DEFAULTS, build, load_config, restart_required
from proconsul.agent.config.load import load_sources
from proconsul.agent.config.validate import ConfigError

WEB_HCL = """
service {
  name = "web"
  id = "web-1"
  tags = ["primary", "v1"]
  port = 8080
  meta { version = "1" }
  enable_tag_override = true
  check {
    id = "web-http"
    http = "http://localhost:8080/health"
    method = "GET"
    header { Accept = ["application/json"] }
    interval = "10s"
    timeout = "1s"
  }
  connect {
    sidecar_service {
      port = 21000
      proxy {
        upstreams = [{ destination_name = "db", local_bind_port = 9191 }]
      }
    }
  }
}
"""

WEB_JSON = {
    "service": {
        "Name": "web", "ID": "web-1", "Tags": ["primary"], "Port": 8080,
        "EnableTagOverride": True,
        "Checks": [{"CheckID": "ttl", "TTL": "30s"},
                   {"ScriptArgs": ["/bin/check"], "Interval": "10s",
                    "DeregisterCriticalServiceAfter": "90m"}],
        "Connect": {"SidecarService": {"Proxy": {"Upstreams": [
            {"DestinationName": "db", "LocalBindPort": 9191}]}}},
    }
}


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_hcl_service_definition_loads(tmp_path):
    tree = load_sources([write(tmp_path, "web.hcl", WEB_HCL)], [])
    [service] = tree["service"]
    assert service["name"] == "web" and service["enable_tag_override"] is True
    assert service["check"][0]["header"] == {"Accept": ["application/json"]}
    upstream = service["connect"]["sidecar_service"]["proxy"]["upstreams"][0]
    assert upstream == {"destination_name": "db", "local_bind_port": 9191}


def test_camel_case_is_translated_recursively(tmp_path):
    tree = load_sources([write(tmp_path, "web.json", WEB_JSON)], [])
    [service] = tree["service"]
    assert service["enable_tag_override"] is True and service["id"] == "web-1"
    ttl, script = service["checks"]
    assert ttl == {"check_id": "ttl", "ttl": "30s"}
    assert script["args"] == ["/bin/check"]
    assert script["deregister_critical_service_after"] == "90m"
    upstream = service["connect"]["sidecar_service"]["proxy"]["upstreams"][0]
    assert upstream == {"destination_name": "db", "local_bind_port": 9191}


def test_directory_merges_in_lexical_order_and_flags_win(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    write(conf, "b.json", {"datacenter": "second", "retry_join": ["b"]})
    write(conf, "a.hcl", 'datacenter = "first"\nretry_join = ["a"]\nlog_level = "warn"')
    write(conf, "ignored.txt", "not config")
    tree = load_sources([str(conf)], ['node_name = "inline"'],
                        overrides={"log_level": "debug"})
    assert tree["datacenter"] == "second"
    assert tree["retry_join"] == ["a", "b"]
    assert tree["node_name"] == "inline" and tree["log_level"] == "debug"


def test_unknown_keys_and_bad_types_name_file_and_key(tmp_path):
    path = write(tmp_path, "bad.json", {"bogus": 1, "ports": {"htp": 1},
                                        "service": {"name": 7, "port": "x"},
                                        "retry_interval": "soon"})
    with pytest.raises(ConfigError) as raised:
        load_sources([path], [])
    problems = raised.value.problems
    assert f'{path}: invalid config key "bogus"' in problems
    assert f'{path}: invalid config key "ports.htp"' in problems
    assert any("service[0].name: expected string" in p for p in problems)
    assert any("service[0].port: expected int" in p for p in problems)
    assert any("retry_interval" in p and "invalid duration" in p for p in problems)


def test_syntax_errors_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="Error parsing .*broken.json"):
        load_sources([write(tmp_path, "broken.json", "{nope")], [])
    with pytest.raises(ConfigError, match="Error parsing .*broken.hcl"):
        load_sources([write(tmp_path, "broken.hcl", "a = = 1")], [])
    with pytest.raises(ConfigError, match="Error loading"):
        load_sources([str(tmp_path / "absent.json")], [])


def test_consul_api_test_harness_config_is_accepted(tmp_path):
    harness = {
        "node_name": "node-a", "node_id": "8a4e5a3c-4e7c-4d5b-8e8e-2c0a4b0c7c11",
        "performance": {"raft_multiplier": 1}, "bootstrap": True, "server": True,
        "data_dir": str(tmp_path), "log_level": "debug", "bind_addr": "127.0.0.1",
        "addresses": {"http": "127.0.0.1"},
        "ports": {"dns": -1, "http": 18500, "https": -1, "serf_lan": 18301, "serf_wan": 18302,
                  "server": 18300, "grpc": -1, "grpc_tls": -1},
        "connect": {"enabled": True, "ca_config": {"cluster_id": "11111111-2222-3333-4444"}},
        "acl": {"enabled": False, "tokens": {"initial_management": "root"}},
        "enable_script_checks": True, "disable_update_check": True, "peering": {"enabled": True},
        "enable_debug": True, "raft_protocol": 3, "read_replica": False,
    }
    config = load_config([write(tmp_path, "harness.json", harness)], [], {})
    assert (config.node_name, config.http_port, config.server_port) == ("node-a", 18500, 18300)
    assert config.enable_script_checks and config.bootstrap


def test_py_consul_fixture_with_acls_on_is_accepted(tmp_path):
    fixture = {"ports": {"http": 18501, "server": 18311, "serf_lan": 18312, "serf_wan": 18313,
                         "dns": 18314},
               "performance": {"raft_multiplier": 1}, "enable_script_checks": True,
               "acl": {"enabled": True, "default_policy": "allow",
                       "tokens": {"master": "secret", "agent": "secret"}}}
    config = load_config([write(tmp_path, "py-consul.json", fixture)], [], {}, dev=True)
    assert config.http_port == 18501 and config.server and config.dev
    assert config.acl.enabled and config.acl.tokens.initial_management == "secret"
    assert config.warnings == [
        "The 'acl.tokens.master' field is deprecated. Use the "
        "'acl.tokens.initial_management' field instead."]


def test_dev_defaults_and_requirements():
    assert build(load_sources([], [], defaults=DEV_DEFAULTS), dev=True).server
    with pytest.raises(ConfigError, match="data_dir cannot be empty"):
        build({"server": True}, dev=False)
    with pytest.raises(ConfigError, match="mutually exclusive"):
        build({"server": True, "bootstrap": True, "bootstrap_expect": 3, "data_dir": "/x"})
    with pytest.raises(ConfigError, match="requires 'server = true'"):
        build({"bootstrap_expect": 3, "data_dir": "/x"})


def test_restart_required_lists_only_non_reloadable_changes():
    old = {"log_level": "info", "datacenter": "a", "services": [], "ports": {"http": 1}}
    new = {"log_level": "debug", "datacenter": "b", "services": [{"name": "x"}],
           "ports": {"http": 2}}
    assert restart_required(old, new) == ["datacenter", "ports"]


def test_a_port_past_65535_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as raised:
        build({"data_dir": "/x", "ports": {"http": 70000, "dns": -1, "server": 8300}})
    assert raised.value.problems == ["ports.http: invalid port: 70000"]
