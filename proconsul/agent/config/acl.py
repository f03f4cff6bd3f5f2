"""The ``acl {}`` block and its deprecated spellings, as Consul's builder reads them.

Old keys (``acl_master_token``, ``acl.tokens.master``, ``acl_datacenter`` ...)
are copied to their new place unless the new key is set too, each with
Consul's deprecation warning.
"""

from __future__ import annotations

import copy
from typing import Any

from proconsul.agent.config.runtime import ACLConfig, ACLTokens
from proconsul.lib.duration import DurationError, parse_duration

DEFAULT_POLICIES = ("allow", "deny")
DOWN_POLICIES = ("allow", "deny", "extend-cache", "async-cache")

# old top-level key -> path of the new key (under the tree root)
_TOP_LEVEL = {
    "acl_agent_master_token": ("acl", "tokens", "agent_recovery"),
    "acl_agent_token": ("acl", "tokens", "agent"),
    "acl_token": ("acl", "tokens", "default"),
    "acl_master_token": ("acl", "tokens", "initial_management"),
    "acl_replication_token": ("acl", "tokens", "replication"),
    "acl_default_policy": ("acl", "default_policy"),
    "acl_down_policy": ("acl", "down_policy"),
    "acl_ttl": ("acl", "token_ttl"),
    "acl_enable_key_list_policy": ("acl", "enable_key_list_policy"),
    "acl_disabled_ttl": ("acl", "disabled_ttl"),
    "enable_acl_replication": ("acl", "enable_token_replication"),
    "acl_datacenter": ("primary_datacenter",),
}
# old key inside acl.tokens -> new key there
_TOKEN_RENAMES = {"master": "initial_management", "agent_master": "agent_recovery"}


def deprecation_warning(old: str, new: str) -> str:
    return f"The '{old}' field is deprecated. Use the '{new}' field instead."


def _set_default(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node.setdefault(path[-1], value)


def apply_deprecated(tree: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``tree`` with the deprecated ACL keys moved to their new places, and the warnings."""
    tree = copy.deepcopy(tree)
    warnings = []
    for old, path in _TOP_LEVEL.items():
        if old not in tree:
            continue
        value = tree.pop(old)
        _set_default(tree, path, value)
        warnings.append(deprecation_warning(old, ".".join(path)))
        if old == "acl_datacenter":  # the legacy ACL datacenter also turned ACLs on
            _set_default(tree, ("acl", "enabled"), True)
        if old == "acl_replication_token":
            _set_default(tree, ("acl", "enable_token_replication"), True)
    tokens = tree.get("acl", {}).get("tokens", {})
    for old, new in _TOKEN_RENAMES.items():
        if old in tokens:
            tokens.setdefault(new, tokens.pop(old))
            warnings.append(deprecation_warning(f"acl.tokens.{old}", f"acl.tokens.{new}"))
    if "acl_enforce_version_8" in tree:
        tree.pop("acl_enforce_version_8")
        warnings.append('config key "acl_enforce_version_8" is deprecated and should be removed')
    return tree, warnings


def _ttl(block: dict[str, Any], key: str, problems: list[str]) -> float:
    value = block.get(key)
    if not value:
        return 30.0
    try:
        return parse_duration(value) / 1e9
    except DurationError as err:
        problems.append(f"acl.{key}: {err}")
        return 30.0


def acl_settings(tree: dict[str, Any], problems: list[str]) -> ACLConfig:
    """The runtime ACL settings of a tree already passed through :func:`apply_deprecated`."""
    block = tree.get("acl", {})
    default_policy = block.get("default_policy") or "allow"
    down_policy = block.get("down_policy") or "extend-cache"
    if default_policy not in DEFAULT_POLICIES:
        problems.append(f"Unsupported default ACL policy: {default_policy}")
    if down_policy not in DOWN_POLICIES:
        problems.append(f"Unsupported down ACL policy: {down_policy}")
    tokens = block.get("tokens", {})
    return ACLConfig(
        enabled=bool(block.get("enabled", False)),
        default_policy=default_policy,
        down_policy=down_policy,
        token_ttl=_ttl(block, "token_ttl", problems),
        policy_ttl=_ttl(block, "policy_ttl", problems),
        role_ttl=_ttl(block, "role_ttl", problems),
        enable_token_persistence=bool(block.get("enable_token_persistence", False)),
        enable_token_replication=bool(block.get("enable_token_replication", False)),
        enable_key_list_policy=bool(block.get("enable_key_list_policy", False)),
        tokens=ACLTokens(**{name: str(tokens.get(name) or "")
                            for name in ACLTokens.__struct_fields__}),
    )
