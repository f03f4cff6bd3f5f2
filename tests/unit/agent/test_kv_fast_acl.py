"""The KV short way's remembered ACL answers: dropped on any ACL change and at the
token's expiry, bounded in number and key length."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proconsul.agent.http.kv_fast_acl import MAX_KEY, KeyDecisions
from proconsul.server.acl.resolver import TokenResolver
from proconsul.state.store import Store
from proconsul.structs.acl import ACLLink, ACLPolicy, ACLToken

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Counting(TokenResolver):
    """The server's resolver, counting the resolutions asked of it."""

    asked = 0

    def resolve(self, secret: str):
        self.asked += 1
        return super().resolve(secret)


def setup(clock: Clock, expires: datetime | None = None) -> tuple[Store, Counting]:
    store = Store()
    set_policy(store, 1, "read")
    token = ACLToken(AccessorID="a", SecretID="s", Policies=[ACLLink(ID="p")])
    if expires is not None:
        token.ExpirationTime = expires
    with store.write(2) as tx:
        store.acl_token_set(tx, token)
    return store, Counting(store, "dc1", "deny", primary=False, now=clock)


def set_policy(store: Store, index: int, level: str) -> None:
    with store.write(index) as tx:
        store.acl_policy_set(tx, ACLPolicy(ID="p", Name="app",
                                           Rules=f'key_prefix "app/" {{ policy = "{level}" }}'))


def test_answers_are_remembered_until_the_acl_state_changes():
    clock = Clock()
    store, resolver = setup(clock)
    reads = KeyDecisions(resolver, "key_read", now=clock)
    assert [reads.allowed("s", k) for k in ("app/a", "app/a", "b", "b")] == [
        True, True, False, False]
    assert resolver.asked == 1
    set_policy(store, 3, "deny")
    assert not reads.allowed("s", "app/a") and resolver.asked == 2
    set_policy(store, 4, "write")
    assert reads.allowed("s", "app/a")
    with store.write(5) as tx:
        store.acl_token_delete(tx, ["a"])
    assert not reads.allowed("s", "app/a") and not reads.allowed("s", "app/a")
    assert not reads.allowed("nope", "app/a") and not reads.allowed("deny", "app/a")


def test_answers_end_with_the_token():
    clock = Clock()
    store, resolver = setup(clock, expires=START + timedelta(minutes=1))
    writes = KeyDecisions(resolver, "key_write", now=clock)
    reads = KeyDecisions(resolver, "key_read", now=clock)
    assert reads.allowed("s", "app/a") and not writes.allowed("s", "app/a")
    clock.now = START + timedelta(seconds=59)
    assert reads.allowed("s", "app/a")
    clock.now = START + timedelta(minutes=1)  # expired, not yet reaped: nothing changed
    assert not reads.allowed("s", "app/a") and not reads.allowed("s", "app/a")


def test_answers_are_bounded_in_number_and_key_length():
    clock = Clock()
    store, resolver = setup(clock)
    with store.write(3) as tx:
        store.acl_token_set(tx, ACLToken(AccessorID="a2", SecretID="s2",
                                         Policies=[ACLLink(ID="p")]))
    reads = KeyDecisions(resolver, "key_read", size=3, now=clock)
    for _ in range(3):
        for n in range(5):
            for secret in ("s", "s2"):
                assert reads.allowed(secret, f"app/{n}") and not reads.allowed(secret, f"b{n}")
                assert sum(len(entry[2]) for entry in reads._tokens.values()) <= 3
    long_key = "app/" + "k" * MAX_KEY
    assert reads.allowed("s", long_key) and reads.allowed("s", long_key)
    assert long_key not in reads._tokens["s"][2]
