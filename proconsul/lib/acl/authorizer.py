"""ACL authorizers: policies compiled once into prefix trees, chained to a default.

Consul's model, rebuilt:

* :func:`compile_policies` merges the rules of every policy a token has (its
  policies, roles' policies, and the synthetic policies of its service/node
  identities and templated policies). Two rules for the same resource, form
  (exact or prefix) and name merge to the one with the highest precedence:
  **deny > write > list > read**. A service rule's ``intentions`` level merges
  the same way, independently of its ``policy``.
* The merged rules go into one trie per resource. A check walks the name once
  (O(len(name))): an **exact** rule for the whole name wins; otherwise the
  **longest prefix** rule along the path decides. The level decides by
  :meth:`Access.grants`; no rule at all is :data:`Decision.DEFAULT`.
* A service rule without ``intentions`` gives intentions ``read`` when its
  policy is read or write, else ``deny``. mesh and peering fall back to operator.
* :class:`ChainedAuthorizer` asks each authorizer in turn and takes the first
  answer that is not DEFAULT; when all abstain the answer is DENY. A token's
  chain ends in the static authorizer of ``acl.default_policy``
  (:func:`root_authorizer`). ``allow`` allows everything except ACL management
  (acl read/write, snapshot); ``manage`` allows everything; ``deny`` nothing.

Every check has an ``explain`` twin reachable through :meth:`explain`, which
says which rule of which policy (or which default) decided, so a denial can
name it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from proconsul.lib.acl.rules import Access, ParsedRules, Rule

__all__ = [
    "ALLOW_ALL",
    "CHECKS",
    "DENY_ALL",
    "MANAGE_ALL",
    "ChainedAuthorizer",
    "Decision",
    "Explanation",
    "Grant",
    "PolicyAuthorizer",
    "StaticAuthorizer",
    "agent_recovery_authorizer",
    "check_for",
    "compile_policies",
    "down_authorizer",
    "new_authorizer",
    "permission_denied",
    "root_authorizer",
]


class Decision(Enum):
    """What one authorizer says about a check."""

    DENY = 0
    ALLOW = 1
    DEFAULT = 2  # no opinion: the next authorizer in the chain decides


ALLOW = Decision.ALLOW
DENY = Decision.DENY
DEFAULT = Decision.DEFAULT


@dataclass(frozen=True, slots=True)
class Grant:
    """A compiled rule: its level and where it came from (policy name and rule)."""

    access: Access
    policy: str
    rule: Rule
    # the decision for each required level, indexed by its Access value (checks look
    # it up instead of comparing levels)
    decisions: tuple[Decision, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        decisions = [DENY] * (max(Access) + 1)
        for required in Access:
            decisions[required] = ALLOW if self.access.grants(required) else DENY
        object.__setattr__(self, "decisions", tuple(decisions))

    def __str__(self) -> str:
        return f"policy {self.policy!r} rule {self.rule}"


_READ, _LIST, _WRITE = int(Access.READ), int(Access.LIST), int(Access.WRITE)


def _enforce(grant: Grant | None, required: Access) -> Decision:
    if grant is None:
        return DEFAULT
    return grant.decisions[required]


# a tree whose prefix rules have more distinct lengths than this is walked char by char
FLAT_LENGTHS = 8


class _Node:
    __slots__ = ("children", "exact", "prefix")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.exact: Grant | None = None
        self.prefix: Grant | None = None


class RuleTree:
    """A character trie of exact and prefix grants for one resource.

    :meth:`lookup` answers from two flat maps instead of walking the trie when the
    prefix rules come in few distinct lengths (the usual policy): an exact hit, else
    one slice and map probe per prefix length, longest first. The trie serves
    the walks over many rules (subtree, any/all allowed) and the many-lengths case.
    """

    __slots__ = ("root", "_exact", "_prefixes", "_lengths")

    def __init__(self) -> None:
        self.root = _Node()
        self._exact: dict[str, Grant] = {}
        self._prefixes: dict[str, Grant] = {}
        self._lengths: tuple[int, ...] | None = ()  # None: too many, walk the trie

    def insert(self, name: str, grant: Grant, prefix: bool) -> None:
        node = self.root
        for ch in name:
            child = node.children.get(ch)
            if child is None:
                child = node.children[ch] = _Node()
            node = child
        if prefix:
            node.prefix = self._prefixes[name] = grant
            lengths = sorted({len(p) for p in self._prefixes}, reverse=True)
            self._lengths = tuple(lengths) if len(lengths) <= FLAT_LENGTHS else None
        else:
            node.exact = self._exact[name] = grant

    def lookup(self, name: str) -> Grant | None:
        """The exact grant for ``name`` if any, else the longest prefix grant."""
        grant = self._exact.get(name)
        if grant is not None:
            return grant
        lengths = self._lengths
        if lengths is None:
            return self._walk(name)
        prefixes = self._prefixes
        size = len(name)
        for length in lengths:
            if length <= size:
                grant = prefixes.get(name[:length])
                if grant is not None:
                    return grant
        return None

    def _walk(self, name: str) -> Grant | None:
        node = self.root
        best = node.prefix
        for ch in name:
            node = node.children.get(ch)
            if node is None:
                return best
            if node.prefix is not None:
                best = node.prefix
        return best

    def path(self, name: str) -> Iterator[_Node]:
        """The nodes whose key is a prefix of ``name`` (root first)."""
        node = self.root
        yield node
        for ch in name:
            node = node.children.get(ch)
            if node is None:
                return
            yield node

    def subtree(self, prefix: str) -> Iterator[_Node]:
        """Every node whose key starts with ``prefix`` (the prefix's own node first)."""
        node: _Node | None = self.root
        for ch in prefix:
            node = node.children.get(ch) if node is not None else None
        stack = [node] if node is not None else []
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def nodes(self) -> Iterator[_Node]:
        return self.subtree("")


_TREES = ("agent", "event", "intention", "key", "node", "query", "service", "session")


class PolicyAuthorizer:
    """The merged rules of a set of policies; checks answer ALLOW, DENY or DEFAULT."""

    def __init__(self) -> None:
        self.trees: dict[str, RuleTree] = {name: RuleTree() for name in _TREES}
        self.scalars: dict[str, Grant] = {}
        t = self.trees
        self._agent = t["agent"]
        self._event = t["event"]
        self._intention = t["intention"]
        self._key = t["key"]
        self._node = t["node"]
        self._query = t["query"]
        self._service = t["service"]
        self._session = t["session"]

    # -- scalar resources ---------------------------------------------------
    def _scalar(self, resource: str, required: Access) -> tuple[Decision, Grant | None]:
        grant = self.scalars.get(resource)
        return _enforce(grant, required), grant

    def _fallback(self, resource: str, required: Access) -> tuple[Decision, Grant | None]:
        grant = self.scalars.get(resource)
        if grant is None:  # mesh and peering fall back to operator
            grant = self.scalars.get("operator")
        return _enforce(grant, required), grant

    # -- named resources ----------------------------------------------------
    def _named(self, tree: RuleTree, name: str, required: Access) -> tuple[Decision, Grant | None]:
        grant = tree.lookup(name)
        return _enforce(grant, required), grant

    def _any_allowed(self, tree: RuleTree, required: Access) -> tuple[Decision, Grant | None]:
        """ALLOW if some rule anywhere grants ``required`` (Consul's anyAllowed)."""
        root = tree.root.prefix
        decision = _enforce(root, required)
        if decision is ALLOW:
            return ALLOW, root
        for node in tree.nodes():
            for grant in (node.prefix, node.exact):
                if grant is not None and grant.access.grants(required):
                    return ALLOW, grant
        return decision, root

    def _all_allowed(self, tree: RuleTree, required: Access) -> tuple[Decision, Grant | None]:
        """DENY if some rule denies ``required``, else what ``prefix ""`` says."""
        root = tree.root.prefix
        decision = _enforce(root, required)
        if decision is DENY:
            return DENY, root
        for node in tree.nodes():
            for grant in (node.prefix, node.exact):
                if grant is not None and not grant.access.grants(required):
                    return DENY, grant
        return decision, root

    def _subtree_allowed(
        self, tree: RuleTree, prefix: str, ok: Callable[[Access], bool]
    ) -> tuple[Decision, Grant | None]:
        """Whether every rule covering names under ``prefix`` passes ``ok``.

        The deepest prefix rule above (or at) ``prefix`` sets the base; any rule
        inside the subtree that fails turns the answer into DENY. Without a
        prefix rule above, the base is DEFAULT (Consul's KeyWritePrefix and
        ServiceReadPrefix).
        """
        base: Decision = DEFAULT
        base_grant: Grant | None = None
        for node in tree.path(prefix):
            if node.prefix is not None:
                base_grant = node.prefix
                base = ALLOW if ok(node.prefix.access) else DENY
        if base is DENY:
            return DENY, base_grant
        for node in tree.subtree(prefix):
            for grant in (node.prefix, node.exact):
                if grant is not None and not ok(grant.access):
                    return DENY, grant
        return base, base_grant

    # -- the checks (Consul's Authorizer interface) ---------------------------
    def acl_read(self) -> Decision:
        return self._scalar("acl", Access.READ)[0]

    def acl_write(self) -> Decision:
        return self._scalar("acl", Access.WRITE)[0]

    def snapshot(self) -> Decision:
        return self._scalar("acl", Access.WRITE)[0]

    def keyring_read(self) -> Decision:
        return self._scalar("keyring", Access.READ)[0]

    def keyring_write(self) -> Decision:
        return self._scalar("keyring", Access.WRITE)[0]

    def operator_read(self) -> Decision:
        return self._scalar("operator", Access.READ)[0]

    def operator_write(self) -> Decision:
        return self._scalar("operator", Access.WRITE)[0]

    def mesh_read(self) -> Decision:
        return self._fallback("mesh", Access.READ)[0]

    def mesh_write(self) -> Decision:
        return self._fallback("mesh", Access.WRITE)[0]

    def peering_read(self) -> Decision:
        return self._fallback("peering", Access.READ)[0]

    def peering_write(self) -> Decision:
        return self._fallback("peering", Access.WRITE)[0]

    def agent_read(self, node: str) -> Decision:
        return _enforce(self._agent.lookup(node), Access.READ)

    def agent_write(self, node: str) -> Decision:
        return _enforce(self._agent.lookup(node), Access.WRITE)

    def event_read(self, name: str) -> Decision:
        return _enforce(self._event.lookup(name), Access.READ)

    def event_write(self, name: str) -> Decision:
        return _enforce(self._event.lookup(name), Access.WRITE)

    def intention_default_allow(self) -> Decision:
        return DEFAULT

    def intention_read(self, service: str) -> Decision:
        return self._intention_read(service)[0]

    def _intention_read(self, service: str) -> tuple[Decision, Grant | None]:
        if service == "*":
            return self._any_allowed(self._intention, Access.READ)
        return self._named(self._intention, service, Access.READ)

    def intention_write(self, service: str) -> Decision:
        return self._intention_write(service)[0]

    def _intention_write(self, service: str) -> tuple[Decision, Grant | None]:
        if service == "*":
            return self._all_allowed(self._intention, Access.WRITE)
        return self._named(self._intention, service, Access.WRITE)

    def key_read(self, key: str) -> Decision:
        grant = self._key.lookup(key)
        return DEFAULT if grant is None else grant.decisions[_READ]

    def key_list(self, key: str) -> Decision:
        grant = self._key.lookup(key)
        return DEFAULT if grant is None else grant.decisions[_LIST]

    def key_write(self, key: str) -> Decision:
        grant = self._key.lookup(key)
        return DEFAULT if grant is None else grant.decisions[_WRITE]

    def key_write_prefix(self, prefix: str) -> Decision:
        return self._key_write_prefix(prefix)[0]

    def _key_write_prefix(self, prefix: str) -> tuple[Decision, Grant | None]:
        return self._subtree_allowed(self._key, prefix, lambda a: a is Access.WRITE)

    def node_read(self, name: str, peer: str = "") -> Decision:
        return self._node_read(name, peer)[0]

    def _node_read(self, name: str, peer: str = "") -> tuple[Decision, Grant | None]:
        if peer:  # imported nodes: any service:write, or read on every node
            found = self._any_allowed(self._service, Access.WRITE)
            return found if found[0] is ALLOW else self._all_allowed(self._node, Access.READ)
        return self._named(self._node, name, Access.READ)

    def node_read_all(self) -> Decision:
        return self._all_allowed(self._node, Access.READ)[0]

    def node_write(self, name: str) -> Decision:
        return _enforce(self._node.lookup(name), Access.WRITE)

    def query_read(self, name: str) -> Decision:
        return _enforce(self._query.lookup(name), Access.READ)

    def query_write(self, name: str) -> Decision:
        return _enforce(self._query.lookup(name), Access.WRITE)

    def service_read(self, name: str, peer: str = "") -> Decision:
        return self._service_read(name, peer)[0]

    def _service_read(self, name: str, peer: str = "") -> tuple[Decision, Grant | None]:
        if peer:  # imported services: any service:write, or read on every service
            found = self._any_allowed(self._service, Access.WRITE)
            return found if found[0] is ALLOW else self._all_allowed(self._service, Access.READ)
        return self._named(self._service, name, Access.READ)

    def service_read_all(self) -> Decision:
        return self._all_allowed(self._service, Access.READ)[0]

    def service_read_prefix(self, prefix: str) -> Decision:
        return self._service_read_prefix(prefix)[0]

    def _service_read_prefix(self, prefix: str) -> tuple[Decision, Grant | None]:
        return self._subtree_allowed(
            self._service, prefix, lambda a: a is Access.READ or a is Access.WRITE
        )

    def service_write(self, name: str) -> Decision:
        return _enforce(self._service.lookup(name), Access.WRITE)

    def service_write_any(self) -> Decision:
        return self._any_allowed(self._service, Access.WRITE)[0]

    def session_read(self, node: str) -> Decision:
        return _enforce(self._session.lookup(node), Access.READ)

    def session_write(self, node: str) -> Decision:
        return _enforce(self._session.lookup(node), Access.WRITE)

    # -- explanation --------------------------------------------------------
    def explain_check(self, check: str, *args: str) -> tuple[Decision, Grant | None]:
        """The decision of ``check`` (a name in :data:`CHECKS`) and the grant behind it."""
        spec = CHECKS[check]
        return spec.explain(self, *args)


@dataclass(frozen=True, slots=True)
class StaticAuthorizer:
    """A fixed answer for every check: Consul's allow-all, deny-all and manage-all."""

    name: str
    default_allow: bool
    allow_manage: bool

    def _answer(self, check: str) -> Decision:
        manage = check in _MANAGEMENT_CHECKS
        return ALLOW if (self.allow_manage if manage else self.default_allow) else DENY

    def explain_check(self, check: str, *args: str) -> tuple[Decision, Grant | None]:
        return self._answer(check), None

    def __str__(self) -> str:
        return f"the {self.name} authorizer"


_MANAGEMENT_CHECKS = frozenset({"acl_read", "acl_write", "snapshot"})

ALLOW_ALL = StaticAuthorizer("allow", default_allow=True, allow_manage=False)
DENY_ALL = StaticAuthorizer("deny", default_allow=False, allow_manage=False)
MANAGE_ALL = StaticAuthorizer("manage", default_allow=True, allow_manage=True)


def root_authorizer(name: str) -> StaticAuthorizer | None:
    """The static authorizer a root name (allow, deny, manage) stands for, else None."""
    return {"allow": ALLOW_ALL, "deny": DENY_ALL, "manage": MANAGE_ALL}.get(name)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a check was allowed or denied: the grant, or the authorizer that defaulted."""

    allowed: bool
    grant: Grant | None
    source: str  # "policy" or the static authorizer that answered ("default policy deny")

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        if self.grant is not None:
            return f"{verdict} by {self.grant}"
        return f"{verdict} by {self.source}"


class ChainedAuthorizer:
    """Authorizers asked in order; the first non-DEFAULT answer wins, else DENY.

    Every check in :data:`CHECKS` is a method answering ALLOW or DENY.
    """

    def __init__(self, chain: Iterable[PolicyAuthorizer | StaticAuthorizer]) -> None:
        self.chain = tuple(chain)
        # each check is bound once, here, so a call costs one closure and no lookups
        for check in CHECKS:
            setattr(self, check, _chained_check(tuple(getattr(a, check) for a in self.chain)))
        if len(self.chain) == 2 and isinstance(self.chain[0], PolicyAuthorizer) and isinstance(
                self.chain[1], StaticAuthorizer):  # a token's usual chain: KV checks go flat
            rules, root = self.chain
            for check, level in (("key_read", _READ), ("key_list", _LIST),
                                 ("key_write", _WRITE)):
                setattr(self, check, _key_check(rules._key, level, root._answer(check)))

    def explain(self, check: str, *args: str) -> Explanation:
        """Which rule (or default) decides ``check(*args)``."""
        if check not in CHECKS:
            raise ValueError(f"unknown ACL check {check!r}")
        for authz in self.chain:
            decision, grant = authz.explain_check(check, *args)
            if decision is not DEFAULT:
                source = "policy" if grant is not None else _static_source(authz)
                return Explanation(decision is ALLOW, grant, source)
        return Explanation(False, None, "no authorizer (deny)")

    def enforce(self, resource: str, access: str, segment: str = "") -> Decision:
        """Consul's generic ``Enforce``: check ``resource:access`` on ``segment``."""
        check = check_for(resource, access)
        return getattr(self, check)(*((segment,) if CHECKS[check].named else ()))


def _static_source(authz: object) -> str:
    if isinstance(authz, StaticAuthorizer):
        return f"default policy {authz.name}"
    return "a rule-less default"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check: its resource word and level for denial messages, arity, and explainer."""

    resource: str
    access: Access
    named: bool
    explain: Callable[..., tuple[Decision, Grant | None]]


def _lookup_explainer(tree: str, required: Access) -> Callable[..., tuple[Decision, Grant | None]]:
    attr = f"_{tree}"

    def explain(p: PolicyAuthorizer, name: str) -> tuple[Decision, Grant | None]:
        grant = getattr(p, attr).lookup(name)
        return _enforce(grant, required), grant

    return explain


def _scalar_explainer(
    resource: str, required: Access
) -> Callable[..., tuple[Decision, Grant | None]]:
    if resource in ("mesh", "peering"):
        return lambda p: p._fallback(resource, required)
    return lambda p: p._scalar(resource, required)


_R, _W, _L = Access.READ, Access.WRITE, Access.LIST

#: every check: name -> (resource word, level shown in a denial, takes a name?, explainer)
CHECKS: dict[str, CheckSpec] = {
    "acl_read": CheckSpec("acl", _R, False, _scalar_explainer("acl", _R)),
    "acl_write": CheckSpec("acl", _W, False, _scalar_explainer("acl", _W)),
    "snapshot": CheckSpec("acl", _W, False, _scalar_explainer("acl", _W)),
    "keyring_read": CheckSpec("keyring", _R, False, _scalar_explainer("keyring", _R)),
    "keyring_write": CheckSpec("keyring", _W, False, _scalar_explainer("keyring", _W)),
    "operator_read": CheckSpec("operator", _R, False, _scalar_explainer("operator", _R)),
    "operator_write": CheckSpec("operator", _W, False, _scalar_explainer("operator", _W)),
    "mesh_read": CheckSpec("mesh", _R, False, _scalar_explainer("mesh", _R)),
    "mesh_write": CheckSpec("mesh", _W, False, _scalar_explainer("mesh", _W)),
    "peering_read": CheckSpec("peering", _R, False, _scalar_explainer("peering", _R)),
    "peering_write": CheckSpec("peering", _W, False, _scalar_explainer("peering", _W)),
    "agent_read": CheckSpec("agent", _R, True, _lookup_explainer("agent", _R)),
    "agent_write": CheckSpec("agent", _W, True, _lookup_explainer("agent", _W)),
    "event_read": CheckSpec("event", _R, True, _lookup_explainer("event", _R)),
    "event_write": CheckSpec("event", _W, True, _lookup_explainer("event", _W)),
    "intention_default_allow": CheckSpec("intention", _R, False, lambda p: (DEFAULT, None)),
    "intention_read": CheckSpec("intention", _R, True, PolicyAuthorizer._intention_read),
    "intention_write": CheckSpec("intention", _W, True, PolicyAuthorizer._intention_write),
    "key_read": CheckSpec("key", _R, True, _lookup_explainer("key", _R)),
    "key_list": CheckSpec("key", _L, True, _lookup_explainer("key", _L)),
    "key_write": CheckSpec("key", _W, True, _lookup_explainer("key", _W)),
    "key_write_prefix": CheckSpec("key", _W, True, PolicyAuthorizer._key_write_prefix),
    "node_read": CheckSpec("node", _R, True, PolicyAuthorizer._node_read),
    "node_read_all": CheckSpec("node", _R, False, lambda p: p._all_allowed(p._node, Access.READ)),
    "node_write": CheckSpec("node", _W, True, _lookup_explainer("node", _W)),
    "query_read": CheckSpec("query", _R, True, _lookup_explainer("query", _R)),
    "query_write": CheckSpec("query", _W, True, _lookup_explainer("query", _W)),
    "service_read": CheckSpec("service", _R, True, PolicyAuthorizer._service_read),
    "service_read_all": CheckSpec(
        "service", _R, False, lambda p: p._all_allowed(p._service, Access.READ)
    ),
    "service_read_prefix": CheckSpec("service", _R, True, PolicyAuthorizer._service_read_prefix),
    "service_write": CheckSpec("service", _W, True, _lookup_explainer("service", _W)),
    "service_write_any": CheckSpec(
        "service", _W, False, lambda p: p._any_allowed(p._service, Access.WRITE)
    ),
    "session_read": CheckSpec("session", _R, True, _lookup_explainer("session", _R)),
    "session_write": CheckSpec("session", _W, True, _lookup_explainer("session", _W)),
}


def _make_static_check(check: str) -> Callable[..., Decision]:
    def method(self: StaticAuthorizer, *args: str) -> Decision:
        return self._answer(check)

    method.__name__ = check
    return method


def _chained_check(methods: tuple[Callable[..., Decision], ...]) -> Callable[..., Decision]:
    if len(methods) == 2:  # a token's usual chain: its policies, then the default
        first, second = methods

        def check_two(*args: str) -> Decision:
            decision = first(*args)
            if decision is DEFAULT:
                decision = second(*args)
            return DENY if decision is DEFAULT else decision

        return check_two

    def check(*args: str) -> Decision:
        for method in methods:
            decision = method(*args)
            if decision is not DEFAULT:
                return decision
        return DENY

    return check


def _key_check(tree: RuleTree, level: int, default: Decision) -> Callable[[str], Decision]:
    """A key check of a rules-then-static chain in one call: the tree's grant decides,
    else the static authorizer's fixed ``default`` (the chained check's answer, flat)."""
    lookup = tree.lookup

    def check(key: str) -> Decision:
        grant = lookup(key)
        return default if grant is None else grant.decisions[level]

    return check


for _check in CHECKS:
    setattr(StaticAuthorizer, _check, _make_static_check(_check))


_ENFORCE: dict[tuple[str, str], str] = {
    ("acl", "read"): "acl_read",
    ("acl", "write"): "acl_write",
    ("agent", "read"): "agent_read",
    ("agent", "write"): "agent_write",
    ("event", "read"): "event_read",
    ("event", "write"): "event_write",
    ("intention", "read"): "intention_read",
    ("intention", "write"): "intention_write",
    ("key", "read"): "key_read",
    ("key", "list"): "key_list",
    ("key", "write"): "key_write",
    ("key", "write-prefix"): "key_write_prefix",
    ("keyring", "read"): "keyring_read",
    ("keyring", "write"): "keyring_write",
    ("mesh", "read"): "mesh_read",
    ("mesh", "write"): "mesh_write",
    ("node", "read"): "node_read",
    ("node", "write"): "node_write",
    ("operator", "read"): "operator_read",
    ("operator", "write"): "operator_write",
    ("query", "read"): "query_read",
    ("query", "write"): "query_write",
    ("service", "read"): "service_read",
    ("service", "write"): "service_write",
    ("session", "read"): "session_read",
    ("session", "write"): "session_write",
    ("peering", "read"): "peering_read",
    ("peering", "write"): "peering_write",
}
_RESOURCES = frozenset(r for r, _ in _ENFORCE)


def check_for(resource: str, access: str) -> str:
    """The check name for ``resource:access`` (``/v1/internal/acl/authorize``), with
    Consul's error texts for an unknown resource or level."""
    check = _ENFORCE.get((resource, access.lower()))
    if check is None:
        if resource not in _RESOURCES:
            raise ValueError(f"Invalid ACL resource requested: {resource!r}".replace("'", '"'))
        raise ValueError(f"Invalid access level for {resource} resource: {access}")
    return check


_UNNAMED_TARGET = {
    "node_read_all": "all nodes",
    "service_read_all": "all services",
    "service_write_any": "any service",
}
ANONYMOUS_TOKEN_ID = "00000000-0000-0000-0000-000000000002"


def permission_denied(check: str, accessor_id: str, name: str = "", token_source: str = "") -> str:
    """Consul's denial text for a failed ``check``, e.g. ``Permission denied: token with
    AccessorID '…' lacks permission 'key:write' on "foo"``.

    ``token_source`` (header, query, agent default, ...) is appended when given,
    which Consul does not do: it tells the user which token was used.
    """
    spec = CHECKS[check]
    target = name if spec.named else _UNNAMED_TARGET.get(check, "")
    anonymous = accessor_id == ANONYMOUS_TOKEN_ID
    who = "anonymous token" if anonymous else f"token with AccessorID '{accessor_id}'"
    text = f"Permission denied: {who} lacks permission '{spec.resource}:{spec.access}'"
    if target:
        text += f' on "{target}"'
    if anonymous:
        text += ". The anonymous token is used implicitly when a request does not specify a token."
    if token_source:
        text += f" (token from {token_source})"
    return text


# -- compiling ---------------------------------------------------------------


def compile_policies(policies: Iterable[tuple[str, ParsedRules]]) -> PolicyAuthorizer:
    """Merge the parsed rules of ``(policy name, rules)`` pairs into one authorizer."""
    named: dict[tuple[str, bool, str], Grant] = {}
    intentions: dict[tuple[bool, str], Grant] = {}
    scalars: dict[str, Grant] = {}
    for policy, parsed in policies:
        for rule in parsed.rules:
            grant = Grant(rule.access, policy, rule)
            if rule.scalar:
                _keep_stronger(scalars, rule.resource, grant)
                continue
            _keep_stronger(named, (rule.resource, rule.prefix, rule.name), grant)
            if rule.intentions is not None:
                _keep_stronger(
                    intentions, (rule.prefix, rule.name), Grant(rule.intentions, policy, rule)
                )

    authz = PolicyAuthorizer()
    authz.scalars = scalars
    for (resource, prefix, name), grant in named.items():
        authz.trees[resource].insert(name, grant, prefix)
        if resource == "service":
            intent = intentions.get((prefix, name))
            if intent is None:  # derived from the merged service policy
                level = Access.READ if grant.access in (Access.READ, Access.WRITE) else Access.DENY
                intent = Grant(level, grant.policy, grant.rule)
            authz.trees["intention"].insert(name, intent, prefix)
    return authz


def _keep_stronger(table: dict, key: object, grant: Grant) -> None:
    current = table.get(key)
    if current is None or grant.access.rank >= current.access.rank:
        table[key] = grant


def new_authorizer(
    policies: Iterable[tuple[str, ParsedRules]], default_policy: str = "deny"
) -> ChainedAuthorizer:
    """A token's authorizer: its merged policies, then the ``default_policy`` root."""
    root = root_authorizer(default_policy)
    if root is None:
        raise ValueError(f"invalid default policy {default_policy!r} (want allow, deny or manage)")
    return ChainedAuthorizer([compile_policies(policies), root])


def down_authorizer(down_policy: str, default_policy: str) -> StaticAuthorizer:
    """What a request gets when no server can resolve its token and nothing is cached:
    ``allow`` and ``deny`` as named, the cache modes fall back to the default policy."""
    if down_policy in ("allow", "deny"):
        return ALLOW_ALL if down_policy == "allow" else DENY_ALL
    if down_policy in ("extend-cache", "async-cache"):
        root = root_authorizer(default_policy)
        if root is not None:
            return root
        raise ValueError(f"invalid default policy {default_policy!r}")
    raise ValueError(f"invalid ACL down policy {down_policy!r}")


def agent_recovery_authorizer(node_name: str) -> ChainedAuthorizer:
    """The agent recovery token's authorizer: write on this agent, read on all nodes,
    nothing else (it works with no server reachable)."""
    rules = (
        Rule("agent", node_name, False, Access.WRITE),
        Rule("node", "", True, Access.READ),
    )
    return ChainedAuthorizer([compile_policies([("agent recovery", ParsedRules(rules))]), DENY_ALL])
