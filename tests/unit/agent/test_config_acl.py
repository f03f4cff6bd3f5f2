"""The acl {} block and its deprecated spellings reach the runtime config."""

from __future__ import annotations

import pytest

from proconsul.agent.config.builder import build
from proconsul.agent.config.validate import ConfigError


def test_defaults_are_consuls():
    acl = build({"data_dir": "/d"}).acl
    assert (acl.enabled, acl.default_policy, acl.down_policy) == (False, "allow", "extend-cache")
    assert (acl.token_ttl, acl.policy_ttl, acl.role_ttl) == (30.0, 30.0, 30.0)
    assert not acl.enable_token_persistence and acl.tokens.initial_management == ""


def test_block_reaches_runtime_config_without_warnings():
    config = build({"data_dir": "/d", "acl": {
        "enabled": True, "default_policy": "deny", "down_policy": "async-cache",
        "token_ttl": "5s", "policy_ttl": "1m", "role_ttl": "2s",
        "enable_token_persistence": True,
        "tokens": {"initial_management": "root", "agent": "a", "agent_recovery": "r",
                   "default": "d", "replication": "rep",
                   "config_file_service_registration": "c", "dns": "n"}}})
    acl = config.acl
    assert acl.enabled and acl.default_policy == "deny" and acl.down_policy == "async-cache"
    assert (acl.token_ttl, acl.policy_ttl, acl.role_ttl) == (5.0, 60.0, 2.0)
    assert acl.enable_token_persistence
    assert (acl.tokens.initial_management, acl.tokens.agent, acl.tokens.agent_recovery,
            acl.tokens.default, acl.tokens.replication,
            acl.tokens.config_file_service_registration, acl.tokens.dns) == (
        "root", "a", "r", "d", "rep", "c", "n")
    assert config.warnings == []


@pytest.mark.parametrize(("old", "value", "check", "new"), [
    ("acl_master_token", "m", lambda c: c.acl.tokens.initial_management == "m",
     "acl.tokens.initial_management"),
    ("acl_agent_master_token", "r", lambda c: c.acl.tokens.agent_recovery == "r",
     "acl.tokens.agent_recovery"),
    ("acl_token", "t", lambda c: c.acl.tokens.default == "t", "acl.tokens.default"),
    ("acl_agent_token", "a", lambda c: c.acl.tokens.agent == "a", "acl.tokens.agent"),
    ("acl_replication_token", "x",
     lambda c: c.acl.tokens.replication == "x" and c.acl.enable_token_replication,
     "acl.tokens.replication"),
    ("acl_default_policy", "deny", lambda c: c.acl.default_policy == "deny",
     "acl.default_policy"),
    ("acl_down_policy", "allow", lambda c: c.acl.down_policy == "allow", "acl.down_policy"),
    ("acl_ttl", "7s", lambda c: c.acl.token_ttl == 7.0, "acl.token_ttl"),
    ("acl_datacenter", "dc0",
     lambda c: c.primary_datacenter == "dc0" and c.acl.enabled, "primary_datacenter"),
])
def test_deprecated_top_level_keys_map_with_a_warning(old, value, check, new):
    config = build({"data_dir": "/d", old: value})
    assert check(config)
    assert f"The '{old}' field is deprecated. Use the '{new}' field instead." in config.warnings
    assert not [w for w in config.warnings if "not supported yet" in w and old in w]


@pytest.mark.parametrize(("old", "new"), [("master", "initial_management"),
                                          ("agent_master", "agent_recovery")])
def test_deprecated_token_names_map_and_the_new_name_wins(old, new):
    config = build({"data_dir": "/d", "acl": {"tokens": {old: "old"}}})
    assert getattr(config.acl.tokens, new) == "old"
    assert (f"The 'acl.tokens.{old}' field is deprecated. Use the 'acl.tokens.{new}' field "
            "instead.") in config.warnings
    both = build({"data_dir": "/d", "acl": {"tokens": {old: "old", new: "new"}}})
    assert getattr(both.acl.tokens, new) == "new"


def test_old_key_does_not_override_the_new_one():
    config = build({"data_dir": "/d", "acl_default_policy": "deny",
                    "acl": {"default_policy": "allow"}})
    assert config.acl.default_policy == "allow"


@pytest.mark.parametrize(("tree", "message"), [
    ({"acl": {"default_policy": "maybe"}}, "Unsupported default ACL policy: maybe"),
    ({"acl": {"down_policy": "sometimes"}}, "Unsupported down ACL policy: sometimes"),
])
def test_bad_policies_stop_start_up(tree, message):
    with pytest.raises(ConfigError, match=message):
        build({"data_dir": "/d", **tree})
