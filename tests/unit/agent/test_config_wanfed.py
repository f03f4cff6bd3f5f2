"""connect.enable_mesh_gateway_wan_federation, primary_gateways and
primary_gateways_interval: parsed, and refused with Consul's texts where Consul
refuses them."""

from __future__ import annotations

import pytest

from proconsul.agent.config.builder import build, load_config
from proconsul.agent.config.validate import ConfigError
from proconsul.agent.http.debug_config import debug_config

SERVER = {"data_dir": "/d", "server": True, "connect": {"enabled": True,
                                                        "enable_mesh_gateway_wan_federation": True}}


def test_a_secondary_with_primary_gateways_is_accepted():
    config = build({**SERVER, "datacenter": "dc2", "primary_datacenter": "dc1",
                    "primary_gateways": ["10.0.0.1:4431", "provider=aws tag_key=gw"],
                    "primary_gateways_interval": "5s"})
    assert config.wanfed.enabled
    assert config.wanfed.primary_gateways == ["10.0.0.1:4431", "provider=aws tag_key=gw"]
    assert config.wanfed.primary_gateways_interval == 5.0


def test_defaults():
    config = build({"data_dir": "/d"})
    assert (config.wanfed.enabled, config.wanfed.primary_gateways,
            config.wanfed.primary_gateways_interval) == (False, [], 30.0)


@pytest.mark.parametrize(("extra", "message"), [
    ({"connect": {"enabled": False, "enable_mesh_gateway_wan_federation": True}},
     "'connect.enable_mesh_gateway_wan_federation=true' requires 'connect.enabled=true'"),
    ({"server": False},
     "'connect.enable_mesh_gateway_wan_federation = true' requires 'server = true'"),
    ({"node_name": "a/b"},
     "'connect.enable_mesh_gateway_wan_federation = true' requires that 'node_name' not "
     "contain '/' characters"),
    ({"retry_join_wan": ["10.0.0.9"]},
     "'retry_join_wan' is incompatible with 'connect.enable_mesh_gateway_wan_federation = "
     "true'"),
    ({"start_join_wan": ["10.0.0.9"]},
     "'retry_join_wan' is incompatible with 'connect.enable_mesh_gateway_wan_federation = "
     "true'"),
    ({"primary_gateways": ["10.0.0.1:4431"]},  # dc1, its own primary
     "'primary_gateways' should only be configured in a secondary datacenter"),
    ({"primary_gateways": ["10.0.0.1:4431"], "datacenter": "dc1", "primary_datacenter": "dc1"},
     "'primary_gateways' should only be configured in a secondary datacenter"),
    ({"primary_gateways": ["10.0.0.1:4431"], "datacenter": "dc2", "primary_datacenter": "dc1",
      "server": False, "connect": {"enabled": True}},
     "'primary_gateways' requires 'server = true'"),
])
def test_what_consul_refuses(extra, message):
    with pytest.raises(ConfigError) as err:
        build({**SERVER, **extra})
    assert message in err.value.problems


def test_a_bad_interval_is_refused_by_the_schema():
    with pytest.raises(ConfigError, match="primary_gateways_interval"):
        load_config([], ['primary_gateways_interval = "soon"'], {})


def test_the_keys_are_acted_on_without_a_warning():
    config = load_config([], ['server = true', 'data_dir = "/d"', 'datacenter = "dc2"',
                              'primary_datacenter = "dc1"',
                              'connect { enabled = true\n'
                              'enable_mesh_gateway_wan_federation = true }',
                              'primary_gateways = ["10.0.0.1:4431"]'], {})
    assert config.wanfed.enabled and config.wanfed.primary_gateways == ["10.0.0.1:4431"]
    assert not any("gateway" in w for w in config.warnings), config.warnings


def test_debug_config_shows_them_under_consuls_runtime_names():
    config = build({**SERVER, "datacenter": "dc2", "primary_datacenter": "dc1",
                    "primary_gateways": ["10.0.0.1:4431"],
                    "primary_gateways_interval": "1m30s"}).finish()
    shown = debug_config(config, "")
    assert (shown["ConnectMeshGatewayWANFederationEnabled"], shown["PrimaryGateways"],
            shown["PrimaryGatewaysInterval"]) == (True, ["10.0.0.1:4431"], "1m30s")
