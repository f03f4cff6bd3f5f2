"""connect { enabled, ca_provider, ca_config }: on in -dev, keys as the CA map spells them,
checked at start-up as the servers check them."""

from __future__ import annotations

import pytest

from proconsul.agent.config.builder import build, load_config
from proconsul.agent.config.validate import ConfigError


def test_dev_turns_connect_on_and_plain_agents_leave_it_off():
    assert load_config([], [], {}, dev=True).connect_enabled is True
    assert build({"data_dir": "/d"}).connect_enabled is False


def test_ca_config_keys_become_the_ca_map_keys():
    config = build({"data_dir": "/d", "connect": {"enabled": True, "ca_config": {
        "leaf_cert_ttl": "24h", "private_key_type": "rsa", "private_key_bits": 2048,
        "csr_max_per_second": 0, "cluster_id": "11111111-2222-3333-4444-555555555555"}}})
    assert config.connect_enabled and config.ca_provider == "consul"
    assert config.ca_config == {
        "LeafCertTTL": "24h", "PrivateKeyType": "rsa", "PrivateKeyBits": 2048,
        "CSRMaxPerSecond": 0, "cluster_id": "11111111-2222-3333-4444-555555555555"}
    assert not [w for w in config.warnings if "connect" in w]


@pytest.mark.parametrize(("connect", "message"), [
    ({"ca_config": {"private_key_bits": 1000}},
     "connect.ca_config: EC key length must be one of (224, 256, 384, 521) bits"),
    ({"ca_config": {"leaf_cert_ttl": "soon"}}, "connect.ca_config: error decoding config"),
    ({"ca_provider": "vault"}, 'connect.ca_provider = "vault": not supported yet'),
])
def test_bad_ca_settings_stop_start_up(connect, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build({"data_dir": "/d", "connect": {"enabled": True, **connect}})
