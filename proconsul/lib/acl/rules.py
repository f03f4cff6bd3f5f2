"""Consul's ACL rules language (HCL or JSON text) parsed into flat, validated rules.

A policy's ``Rules`` text reads like::

    key_prefix "" { policy = "read" }
    service "web" { policy = "write" intentions = "read" }
    operator = "read"

Named resources (agent, event, key, node, query, service, session) come in an
exact form (``key "a"``) and a prefix form (``key_prefix "a"``); the scalar
resources (acl, keyring, mesh, operator, peering) take a bare level. Levels are
read, write and deny, plus list for keys only. As in Consul, unknown keys
(Enterprise-only blocks such as ``namespace_prefix``) are ignored, repeated
blocks for the same name are kept (merging settles them), and a repeated
attribute is an error. Errors are :class:`RulesError` carrying the one-line
message Consul answers with a 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any

from proconsul.lib import hcl

__all__ = [
    "Access",
    "NAMED_RESOURCES",
    "ParsedRules",
    "Rule",
    "RulesError",
    "SCALAR_RESOURCES",
    "parse_access",
    "parse_rules",
]


class RulesError(ValueError):
    """Rules text that Consul would refuse (the message is the 400 body)."""


class Access(IntEnum):
    """An access level a rule grants (or a check requires)."""

    DENY = 1
    READ = 2
    LIST = 3
    WRITE = 4

    def grants(self, required: Access) -> bool:
        """Whether a rule at this level allows an operation needing ``required``.

        write allows everything; list allows list and read; read allows only
        read (so read does not imply list); deny allows nothing.
        """
        if self is Access.WRITE:
            return True
        if self is Access.LIST:
            return required is Access.LIST or required is Access.READ
        if self is Access.READ:
            return required is Access.READ
        return False

    @property
    def rank(self) -> int:
        """Precedence when two policies set the same rule: deny > write > list > read."""
        return _RANK[self]

    def __str__(self) -> str:
        return self.name.lower()


_RANK = {Access.READ: 1, Access.LIST: 2, Access.WRITE: 3, Access.DENY: 4}
_LEVELS = {str(a): a for a in Access}

#: resource word -> the name of its segment in Consul's rule structs (for messages)
NAMED_RESOURCES = ("agent", "event", "key", "node", "query", "service", "session")
SCALAR_RESOURCES = ("acl", "keyring", "mesh", "operator", "peering")
_BLOCK_KEYS = {r: (r, False) for r in NAMED_RESOURCES} | {
    f"{r}_prefix": (r, True) for r in NAMED_RESOURCES
}


def parse_access(text: str, *, allow_list: bool = False) -> Access | None:
    """The level named by ``text`` (case-insensitive, as Consul), or None when invalid."""
    level = _LEVELS.get(text.lower()) if isinstance(text, str) else None
    if level is Access.LIST and not allow_list:
        return None
    return level


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``resource`` (``key``), ``name`` (the segment), whether it is the
    ``_prefix`` form, its level and, for services, the ``intentions`` level if set.

    Scalar resources (acl, operator, ...) have an empty name and ``prefix=False``.
    """

    resource: str
    name: str
    prefix: bool
    access: Access
    intentions: Access | None = None

    @property
    def scalar(self) -> bool:
        return self.resource in SCALAR_RESOURCES

    def __str__(self) -> str:
        if self.scalar:
            return f"{self.resource} = {json.dumps(str(self.access), ensure_ascii=False)}"
        word = f"{self.resource}_prefix" if self.prefix else self.resource
        body = f"policy = {json.dumps(str(self.access), ensure_ascii=False)}"
        if self.intentions is not None:
            body += f" intentions = {json.dumps(str(self.intentions), ensure_ascii=False)}"
        return f"{word} {json.dumps(self.name, ensure_ascii=False)} {{ {body} }}"


@dataclass(frozen=True, slots=True)
class ParsedRules:
    """The rules of one policy text, in source order, and the keys Consul ignores."""

    rules: tuple[Rule, ...] = ()
    ignored: tuple[str, ...] = ()


@lru_cache(maxsize=4096)
def parse_rules(text: str) -> ParsedRules:
    """Parse and validate rules text (HCL, or JSON when it starts with ``{``).

    Results are immutable and cached by text: a policy is parsed once however many
    tokens use it (pyhcl takes milliseconds for a long policy).
    """
    if not text.strip():
        return ParsedRules()
    tree = _load_json(text) if text.lstrip().startswith("{") else _load_hcl(text)
    rules: list[Rule] = []
    ignored: list[str] = []
    for key, value in tree.items():
        if key in SCALAR_RESOURCES:
            rule = _scalar_rule(key, value)
            if rule is not None:
                rules.append(rule)
        elif key in _BLOCK_KEYS:
            resource, prefix = _BLOCK_KEYS[key]
            for name, body in _blocks(key, value):
                rules.append(_block_rule(key, resource, prefix, name, body))
        else:
            ignored.append(key)
    return ParsedRules(tuple(rules), tuple(ignored))


class _Repeated(list):
    """Values of a key given more than once in one JSON object."""


def _load_hcl(text: str) -> dict[str, Any]:
    try:
        tree = hcl.loads(text)
    except Exception as err:  # pyhcl raises ValueError and a few lexer errors
        raise RulesError(f"Failed to parse ACL rules: {_one_line(err)}") from None
    return tree


def _load_json(text: str) -> dict[str, Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key not in out:
                out[key] = value
            elif isinstance(out[key], _Repeated):
                out[key].append(value)
            else:
                out[key] = _Repeated([out[key], value])
        return out

    try:
        tree = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        raise RulesError(
            f"Failed to parse ACL rules: At {err.lineno}:{err.colno}: {err.msg}"
        ) from None
    if not isinstance(tree, dict):
        raise RulesError("Failed to parse ACL rules: the top level must be an object")
    return tree


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _scalar_rule(key: str, value: Any) -> Rule | None:
    """``acl = "write"``; an empty level means unset, as in Consul."""
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            raise RulesError(
                f'Failed to parse ACL rules: The argument "{key}" was already set. '
                "Each argument can only be defined once"
            )
        raise RulesError(f"Invalid {key} policy: {_go_repr(value)}")
    if value == "":
        return None
    level = parse_access(value) if isinstance(value, str) else None
    if level is None:
        raise RulesError(f"Invalid {key} policy: {_go_repr(value)}")
    return Rule(key, "", False, level)


def _blocks(key: str, value: Any) -> list[tuple[str, Any]]:
    """``key "name" { ... }`` in all its spellings as (name, body) pairs.

    HCL gives ``{name: body}`` (a list of those when the block repeats); JSON may
    also give a list of ``{name: body}`` objects or ``{name: [body, ...]}``.
    """
    if isinstance(value, list):
        out: list[tuple[str, Any]] = []
        for item in value:
            out.extend(_blocks(key, item))
        return out
    if not isinstance(value, dict):
        raise RulesError(
            f'Failed to parse ACL rules: {key}: expected blocks like {key} "<name>" '
            f'{{ policy = "..." }}, got {_go_repr(value)}'
        )
    out = []
    for name, body in value.items():
        bodies = body if isinstance(body, list) else [body]
        for one in bodies:
            if not isinstance(one, dict):
                raise RulesError(
                    f'Failed to parse ACL rules: {key} "{name}": expected a block '
                    f'{{ policy = "..." }}, got {_go_repr(one)}'
                )
            out.append((name, one))
    return out


def _block_rule(key: str, resource: str, prefix: bool, name: str, body: dict[str, Any]) -> Rule:
    policy = _attribute(key, name, body, "policy")
    intentions_text = _attribute(key, name, body, "intentions") if resource == "service" else None
    shown = _show_block(key, name, body)
    level = parse_access(policy, allow_list=resource == "key") if policy is not None else None
    if level is None:
        raise RulesError(f"Invalid {key} policy: {shown}")
    intentions = None
    if intentions_text:  # an empty string means "unset", as in Consul
        intentions = parse_access(intentions_text)
        if intentions is None:
            raise RulesError(f"Invalid {key} intentions policy: {shown}")
    return Rule(resource, name, prefix, level, intentions)


def _attribute(key: str, name: str, body: dict[str, Any], attr: str) -> Any:
    value = body.get(attr)
    if isinstance(value, list):
        raise RulesError(
            f'Failed to parse ACL rules: The argument "{attr}" in {key} "{name}" was '
            "already set. Each argument can only be defined once"
        )
    return value


def _show_block(key: str, name: str, body: dict[str, Any]) -> str:
    attrs = " ".join(f"{k} = {_go_repr(v)}" for k, v in body.items() if not isinstance(v, dict))
    return f"{key} {json.dumps(name, ensure_ascii=False)} {{ {attrs} }}"


def _go_repr(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_go_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)
