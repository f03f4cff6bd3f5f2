"""Router: the servers a client agent calls, in order, and how the order changes."""

from __future__ import annotations

import random

from proconsul.agent.router import Router
from proconsul.gossip.serf import Member, MemberStatus


def member(name: str, addr: str, *, role: str = "consul", dc: str = "dc1",
           status: MemberStatus = MemberStatus.ALIVE, port: str = "8300") -> Member:
    return Member(name, addr, 8301, {"role": role, "dc": dc, "port": port}, status)


class Pings:
    def __init__(self, down: set[str] = frozenset()) -> None:
        self.down = set(down)
        self.asked: list[str] = []

    async def __call__(self, address: str) -> bool:
        self.asked.append(address)
        return address not in self.down


def router(pings: Pings | None = None, **kw) -> Router:
    return Router("dc1", pings or Pings(), rng=random.Random(7), **kw)


SERVERS = [member(f"s{i}", f"10.0.0.{i}") for i in range(3)]


def test_only_alive_servers_of_the_datacenter_are_used() -> None:
    r = router()
    r.update([*SERVERS, member("c", "10.0.1.1", role="node"),
              member("far", "10.0.2.1", dc="dc2"),
              member("dead", "10.0.3.1", status=MemberStatus.FAILED)])
    assert sorted(r.servers()) == [f"10.0.0.{i}:8300" for i in range(3)]
    r.update(SERVERS[1:])
    assert sorted(r.servers()) == ["10.0.0.1:8300", "10.0.0.2:8300"]


def test_new_servers_land_at_random_places_so_clients_spread() -> None:
    firsts = set()
    for seed in range(20):
        r = Router("dc1", Pings(), rng=random.Random(seed))
        for i in range(len(SERVERS)):
            r.update(SERVERS[: i + 1])
        firsts.add(r.find())
    assert len(firsts) > 1


def test_a_failed_server_moves_to_the_end_but_a_single_one_stays() -> None:
    r = router()
    r.update(SERVERS)
    first = r.find()
    r.notify_failed(first)
    assert r.find() != first and r.servers()[-1] == first
    r.notify_failed("10.9.9.9:8300")  # not the current server: nothing changes
    single = router()
    single.update(SERVERS[:1])
    single.notify_failed("10.0.0.0:8300")
    assert single.find() == "10.0.0.0:8300"


async def test_rebalance_skips_servers_that_do_not_answer() -> None:
    pings = Pings(down={"10.0.0.0:8300", "10.0.0.1:8300"})
    r = router(pings)
    r.update(SERVERS)
    await r.rebalance()
    assert r.find() == "10.0.0.2:8300"
    assert sorted(r.servers()) == sorted(f"10.0.0.{i}:8300" for i in range(3))


async def test_rebalance_keeps_a_lone_server_that_does_not_answer() -> None:
    pings = Pings(down={"10.0.0.0:8300"})
    r = router(pings)
    r.update(SERVERS[:1])
    await r.rebalance()
    assert r.servers() == ["10.0.0.0:8300"]


async def test_rebalance_never_pings_its_own_address() -> None:
    pings = Pings()
    r = router(pings, self_address="10.0.0.1:8300")
    r.update(SERVERS)
    for _ in range(10):
        await r.rebalance()
    assert "10.0.0.1:8300" not in pings.asked
