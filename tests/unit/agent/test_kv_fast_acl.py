"""The KV short way's remembered ACL answers: used only with the identity they were
made for, bounded in number and key length."""

from __future__ import annotations

from proconsul.agent.http.kv_fast_acl import MAX_KEY, KeyDecisions
from proconsul.lib.acl.authorizer import new_authorizer
from proconsul.lib.acl.rules import parse_rules
from proconsul.server.acl.resolver import ACLNotFound
from proconsul.server.acl_enforce import Identity


class CountingAuthorizer:
    """A compiled authorizer that counts the key checks asked of it."""

    def __init__(self, rules: str) -> None:
        self._authz = new_authorizer([("p", parse_rules(rules))], "deny")
        self.asked: list[str] = []

    def key_read(self, key: str):
        self.asked.append(key)
        return self._authz.key_read(key)


def identity(rules: str) -> Identity:
    return Identity(CountingAuthorizer(rules), "accessor")  # type: ignore[arg-type]


class Resolver:
    """secret -> the Identity a server's resolver would hand back (or its error)."""

    def __init__(self) -> None:
        self.identities: dict[str, Identity] = {}

    def __call__(self, secret: str) -> Identity:
        if secret not in self.identities:
            raise ACLNotFound()
        return self.identities[secret]


def test_an_answer_is_remembered_with_its_identity_only():
    resolver = Resolver()
    reads = KeyDecisions(resolver, "key_read")
    first = resolver.identities["s"] = identity('key_prefix "app/" { policy = "read" }')
    assert [reads.allowed("s", k) for k in ("app/a", "app/a", "b", "b")] == [
        True, True, False, False]
    assert first.authorizer.asked == ["app/a", "b"]
    # the ACL state changed: the resolver compiled a new identity, asked afresh
    second = resolver.identities["s"] = identity('key_prefix "app/" { policy = "deny" }')
    assert not reads.allowed("s", "app/a")
    assert second.authorizer.asked == ["app/a"]
    del resolver.identities["s"]  # deleted or expired
    assert not reads.allowed("s", "app/a") and not reads.allowed("s", "app/a")
    resolver.identities["s"] = first
    assert reads.allowed("s", "app/a")
    assert first.authorizer.asked == ["app/a", "b", "app/a"]


def test_answers_are_bounded_in_number_and_key_length():
    resolver = Resolver()
    reads = KeyDecisions(resolver, "key_read", size=3)
    for secret in ("s1", "s2"):
        resolver.identities[secret] = identity('key_prefix "" { policy = "read" }')
    for _ in range(3):
        for n in range(5):
            for secret in ("s1", "s2"):
                assert reads.allowed(secret, f"k{n}")
                assert sum(len(answers) for _, answers in reads._tokens.values()) <= 3
    long_key = "k" * (MAX_KEY + 1)
    asked = resolver.identities["s1"].authorizer.asked
    before = len(asked)
    assert reads.allowed("s1", long_key) and reads.allowed("s1", long_key)
    assert asked[before:] == [long_key, long_key]
