"""Interop with HashiCorp's real ``serf`` agent (Debian package ``serf``).

Each test runs one or two ``serf agent`` processes and one Proconsul serf
pool on distinct 127.0.0.x addresses with free ports, and checks what both
sides report.  Both sides use the "local" timing profile.  Conditions are
polled against a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal

import pytest

from proconsul.gossip.driver import GossipDriver, JoinError
from proconsul.gossip.keyring import Keyring
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import (
    MemberStatus,
    QueryAck,
    QueryDone,
    QueryEvent,
    QueryParams,
    Serf,
    SerfConfig,
    UserEvent,
)
from proconsul.gossip.transport import NetTransport
from tests.support.agent_process import free_port

KEY = bytes(range(32))
OTHER_KEY = bytes(range(32, 64))
_hosts = itertools.count(10)


def next_host() -> str:
    return f"127.0.0.{next(_hosts)}"


def serf_binary() -> str:
    path = shutil.which("serf")
    if path is None:
        pytest.fail("interop tests need HashiCorp's `serf` binary on PATH "
                    "(Debian: apt-get install serf; .ci/run installs it)")
    return path


async def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """Poll ``check()`` (sync or async) until it returns something truthy; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s (last value: {last!r})")


class SerfAgent:
    """One real ``serf agent`` process and its CLI."""

    def __init__(self, tmp_path, name: str, key: bytes | None = None) -> None:
        self.binary = serf_binary()
        self.name = name
        self.host = next_host()
        self.port = free_port(self.host)
        self.rpc = f"{self.host}:{free_port(self.host)}"
        self.key = key
        self.events_file = tmp_path / f"{name}.events"
        self.log_file = tmp_path / f"{name}.log"
        self.handler = tmp_path / f"{name}-handler.sh"
        self.handler.write_text(
            f'printf "%s:" "$SERF_USER_EVENT" >> {self.events_file}\n'
            f"cat >> {self.events_file}\necho >> {self.events_file}\n")
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        args = [self.binary, "agent", f"-node={self.name}", f"-bind={self.host}:{self.port}",
                f"-rpc-addr={self.rpc}", "-profile=local", "-log-level=debug",
                "-tag", "impl=hashicorp", "-tag", f"node={self.name}",
                f"-event-handler=user=/bin/sh {self.handler}"]
        if self.key is not None:
            args.append(f"-encrypt={base64.b64encode(self.key).decode()}")
        with open(self.log_file, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *args, stdout=log, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL)
        await eventually(self._rpc_ready, timeout=10.0)

    async def _rpc_ready(self) -> bool:
        if self.proc.returncode is not None:
            pytest.fail(f"serf agent exited: {self.log_file.read_text()[-2000:]}")
        code, _ = await self.cli("members")
        return code == 0

    async def cli(self, command: str, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.binary, command, f"-rpc-addr={self.rpc}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode, out.decode()

    async def members(self) -> dict[str, dict]:
        code, out = await self.cli("members", "-format=json")
        assert code == 0, out
        return {m["name"]: m for m in json.loads(out)["members"]}

    async def status_of(self, name: str) -> str | None:
        member = (await self.members()).get(name)
        return None if member is None else member["status"]

    def user_events(self) -> list[str]:
        if not self.events_file.exists():
            return []
        return self.events_file.read_text().splitlines()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


class Pool:
    """A Proconsul serf pool on a real socket, recording its events."""

    def __init__(self, name: str, key: bytes | None = None) -> None:
        self.host = next_host()
        ml = MemberlistConfig.local(name, bind_addr=self.host, bind_port=0,
                                    keyring=Keyring([key]) if key else None)
        self.serf = Serf(SerfConfig(memberlist=ml, tags={"impl": "proconsul", "node": name},
                                    leave_propagate_delay=0.5), random.Random(name))
        self.driver = GossipDriver(self.serf, NetTransport(self.host, 0))
        self.events: list = []
        self.driver.subscribe(self.events.append)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.driver.transport.port}"

    def status_of(self, name: str) -> MemberStatus | None:
        member = self.serf.members.get(name)
        return None if member is None else member.status


@pytest.fixture
async def agents(tmp_path):
    started: list[SerfAgent] = []

    async def make(name: str = "hashi", key: bytes | None = None) -> SerfAgent:
        agent = SerfAgent(tmp_path, name, key)
        started.append(agent)
        await agent.start()
        return agent

    yield make
    for agent in started:
        await agent.stop()


@pytest.fixture
async def pools():
    started: list[Pool] = []

    async def make(name: str = "proconsul", key: bytes | None = None) -> Pool:
        pool = Pool(name, key)
        started.append(pool)
        await pool.driver.start()
        return pool

    yield make
    for pool in started:
        with contextlib.suppress(Exception):
            await pool.driver.stop()


async def both_alive(agent: SerfAgent, pool: Pool) -> bool:
    theirs = await agent.members()
    return (pool.status_of(agent.name) == MemberStatus.ALIVE
            and theirs.get(pool.serf.name, {}).get("status") == "alive")


async def test_serf_agent_joins_our_pool(agents, pools):
    pool = await pools()
    agent = await agents()
    code, out = await agent.cli("join", pool.address)
    assert code == 0, out
    await eventually(lambda: both_alive(agent, pool))
    theirs = await agent.members()
    assert theirs["proconsul"]["tags"] == {"impl": "proconsul", "node": "proconsul"}
    assert theirs["proconsul"]["addr"] == pool.address
    assert pool.serf.members["hashi"].tags == {"impl": "hashicorp", "node": "hashi"}
    assert pool.serf.members["hashi"].port == agent.port


async def test_we_join_serf_agent(agents, pools):
    agent = await agents()
    pool = await pools()
    assert await pool.driver.join([(agent.host, agent.port)]) == 1
    await eventually(lambda: both_alive(agent, pool))
    assert (await agent.members())["proconsul"]["protocol"]["version"] == 4


async def test_large_compressed_push_pull_both_ways(agents, pools):
    """~15 KB of incompressible event payloads forces several LZW table resets each way."""
    rng = random.Random(7)
    agent = await agents()
    for i in range(30):
        payload = base64.b64encode(rng.randbytes(300)).decode()
        code, out = await agent.cli("event", "-coalesce=false", f"hashi-{i}", payload)
        assert code == 0, out
    pool = await pools()
    for i in range(30):
        pool.driver.user_event(f"ours-{i}", base64.b64encode(rng.randbytes(300)))
    # Our join pulls the agent's state (Go's LZW → our decoder) and replays its events.
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: len({e.name for e in pool.events if isinstance(e, UserEvent)
                                  and e.name.startswith("hashi-")}) == 30)
    # The agent joining us reads our state (our LZW → Go's decoder).
    other = await agents("hashi2")
    code, out = await other.cli("join", "-replay", pool.address)
    assert code == 0, out
    await eventually(lambda: sum(line.startswith("ours-") for line in other.user_events()) == 30)


async def test_vivaldi_coordinates_exchanged_on_acks(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: "hashi" in pool.serf.coordinate_cache)

    async def serf_has_our_coordinate() -> str | None:
        code, out = await agent.cli("rtt", "proconsul")
        return out if code == 0 else None
    out = await eventually(serf_has_our_coordinate)
    match = re.search(r"Estimated proconsul <-> hashi rtt: ([0-9.]+) ms", out)
    assert match and 0 < float(match.group(1)) < 100, out


async def test_three_node_pool_through_us(agents, pools):
    pool = await pools()
    first, second = await agents("hashi1"), await agents("hashi2")
    await pool.driver.join([(first.host, first.port)])
    code, out = await second.cli("join", pool.address)
    assert code == 0, out

    async def everyone_alive() -> bool:
        views = [await first.members(), await second.members()]
        names = {"proconsul", "hashi1", "hashi2"}
        return all({n for n, m in v.items() if m["status"] == "alive"} == names for v in views) \
            and all(pool.status_of(n) == MemberStatus.ALIVE for n in names)
    await eventually(everyone_alive)


async def test_kill9_serf_agent_is_failed(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))
    agent.kill9()
    await eventually(lambda: pool.status_of("hashi") == MemberStatus.FAILED, timeout=20.0)


async def test_our_crash_is_failed_in_serf(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))
    await pool.driver.stop()
    await eventually(lambda: _status_is(agent, "proconsul", "failed"), timeout=20.0)


async def _status_is(agent: SerfAgent, name: str, status: str) -> bool:
    return await agent.status_of(name) == status


async def test_serf_graceful_leave_is_left(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))
    code, out = await agent.cli("leave")
    assert code == 0, out
    await eventually(lambda: pool.status_of("hashi") == MemberStatus.LEFT)


async def test_our_graceful_leave_is_left(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))
    await pool.driver.leave()
    await eventually(lambda: _status_is(agent, "proconsul", "left"))


async def test_user_events_both_ways(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))

    pool.driver.user_event("from-proconsul", b"payload-1")
    await eventually(lambda: "from-proconsul:payload-1" in agent.user_events())

    code, out = await agent.cli("event", "-coalesce=false", "from-serf", "payload-2")
    assert code == 0, out
    received = await eventually(lambda: [e for e in pool.events if isinstance(e, UserEvent)
                                         and e.name == "from-serf"])
    assert [(e.payload, e.coalesce) for e in received] == [(b"payload-2", False)]


async def test_queries_both_ways(agents, pools):
    agent = await agents()
    pool = await pools()
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))

    def answer(event) -> None:
        if isinstance(event, QueryEvent) and event.name == "whoami":
            pool.driver.respond(event, b"proconsul-here")
    pool.driver.subscribe(answer)
    code, out = await agent.cli("query", "-format=json", "-timeout=3s", "whoami", "")
    assert code == 0, out
    assert json.loads(out)["Responses"]["proconsul"] == "proconsul-here"

    query_id = pool.driver.query("_serf_ping", b"", QueryParams(timeout=3.0, request_ack=True))
    await eventually(lambda: {e.from_node for e in pool.events if isinstance(e, QueryAck)
                              and e.query_id == query_id} == {"hashi", "proconsul"})

    query_id = pool.driver.query("color", b"", QueryParams(
        timeout=1.0, request_ack=True, filter_tags={"impl": "^hashi"}))
    await eventually(lambda: any(isinstance(e, QueryDone) and e.query_id == query_id
                                 for e in pool.events))
    assert [e.from_node for e in pool.events
            if isinstance(e, QueryAck) and e.query_id == query_id] == ["hashi"]
    code, out = await agent.cli("query", "-format=json", "-timeout=3s", "-tag=impl=^pro",
                                "whoami", "")
    assert code == 0 and list(json.loads(out)["Responses"]) == ["proconsul"], out


async def test_encrypted_pool_with_same_key(agents, pools):
    agent = await agents(key=KEY)
    pool = await pools(key=KEY)
    await pool.driver.join([(agent.host, agent.port)])
    await eventually(lambda: both_alive(agent, pool))
    pool.driver.user_event("secret", b"s3cr3t")
    await eventually(lambda: "secret:s3cr3t" in agent.user_events())
    code, out = await agent.cli("keys", "-list")
    assert code == 0 and base64.b64encode(KEY).decode() in out, out


async def test_wrong_key_is_rejected_without_crashing(agents, pools):
    agent = await agents(key=KEY)
    pool = await pools(key=OTHER_KEY)
    with pytest.raises(JoinError):
        await pool.driver.join([(agent.host, agent.port)])
    code, out = await agent.cli("join", pool.address)
    assert code != 0, out
    assert set(await agent.members()) == {"hashi"}
    assert set(pool.serf.members) == {"proconsul"}
    assert agent.proc.returncode is None and pool.driver.timers_running
    # Our pool still works with a peer that has the right key.
    good = await agents("hashi-good", key=OTHER_KEY)
    await pool.driver.join([(good.host, good.port)])
    await eventually(lambda: both_alive(good, pool))


def test_serf_binary_present():
    assert os.access(serf_binary(), os.X_OK)
