"""``python -m proconsul.gossip.node``: two real processes join, exchange an event, leave."""

import asyncio
import json
import os
import sys
from pathlib import Path

from proconsul.gossip.node import parse_address

REPO = Path(__file__).resolve().parents[3]
DEADLINE = 20.0


class NodeProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict] = []

    @classmethod
    async def start(cls, name: str, *args: str) -> "NodeProcess":
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proconsul.gossip.node", "--name", name,
            "--bind", "127.0.0.1:0", *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env)
        return cls(proc)

    async def expect(self, predicate) -> dict:
        """Read JSON lines until one satisfies ``predicate``."""
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), DEADLINE)
            assert raw, "node exited"
            line = json.loads(raw)
            self.lines.append(line)
            if predicate(line):
                return line

    async def send(self, **cmd) -> None:
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()


def joined(name):
    return lambda line: line.get("event") == "member-join" and name in line["members"]


async def test_two_node_processes_join_event_members_leave():
    a = await NodeProcess.start("a")
    b = None
    try:
        ready = await a.expect(lambda line: "ready" in line)
        b = await NodeProcess.start("b", "--join", ready["ready"])
        await b.expect(joined("a"))
        await a.expect(joined("b"))
        await a.send(cmd="event", name="deploy", payload="v2")
        event = await b.expect(lambda line: line.get("event") == "user")
        assert (event["name"], event["payload"]) == ("deploy", "v2")
        await b.send(cmd="members")
        reply = await b.expect(lambda line: "members" in line and "event" not in line)
        assert reply["members"] == {"a": "alive", "b": "alive"}
        await b.send(cmd="nonsense")
        assert "error" in await b.expect(lambda line: "error" in line)
        await b.send(cmd="leave")
        await a.expect(lambda line: line.get("event") == "member-leave")
        assert await asyncio.wait_for(b.proc.wait(), DEADLINE) == 0
    finally:
        for node in (a, b):
            if node is not None and node.proc.returncode is None:
                node.proc.terminate()
                await node.proc.wait()


def test_parse_address():
    assert parse_address("10.0.0.1:8301") == ("10.0.0.1", 8301)
    assert parse_address("10.0.0.1") == ("10.0.0.1", 7946)
    assert parse_address("[::1]:7946") == ("::1", 7946)
