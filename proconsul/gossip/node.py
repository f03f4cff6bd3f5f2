"""A serf gossip node as a process, for benchmarks and manual tests.

    python -m proconsul.gossip.node --name n1 --bind 127.0.0.5:7946 [--join 127.0.0.1:7946]

It runs ``Serf`` (memberlist LAN profile, as Consul's LAN pool) in a
``GossipDriver`` on a ``NetTransport`` and talks JSON lines:

- stdout: ``{"ready": "host:port"}`` once listening, then one line per serf
  event: ``{"event": "member-join"|"member-leave"|"member-failed"|
  "member-update"|"member-reap", "members": [names]}`` or ``{"event": "user",
  "name": ..., "payload": ..., "ltime": n}``; plus the replies to commands.
- stdin: one command per line: ``{"cmd": "join", "addrs": ["host:port", ...]}``
  (reply ``{"joined": n}`` or ``{"error": ...}``), ``{"cmd": "event", "name":
  ..., "payload": ...}``, ``{"cmd": "members"}`` (reply ``{"members": {name:
  status}}``), ``{"cmd": "leave"}`` (leave gracefully, then exit).

End of stdin, SIGTERM or SIGINT stop the node without leaving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from proconsul.gossip.driver import GossipDriver, JoinError
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import MemberEvent, Serf, SerfConfig, SerfEvent, UserEvent
from proconsul.gossip.transport import Address, NetTransport

EVENT_NAMES = {0: "member-join", 1: "member-leave", 2: "member-failed", 3: "member-update",
               4: "member-reap"}


def parse_address(text: str, default_port: int = 7946) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    return host.strip("[]"), int(port)


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def event_line(event: SerfEvent) -> dict | None:
    if isinstance(event, MemberEvent):
        return {"event": EVENT_NAMES[int(event.type)], "members": [m.name for m in event.members]}
    if isinstance(event, UserEvent):
        return {"event": "user", "name": event.name,
                "payload": event.payload.decode("utf-8", "replace"), "ltime": event.ltime}
    return None


def on_event(event: SerfEvent) -> None:
    line = event_line(event)
    if line is not None:
        emit(line)


async def handle(driver: GossipDriver, line: str) -> bool:
    """Run one command; False means stop."""
    try:
        cmd = json.loads(line)
        name = cmd["cmd"]
    except (ValueError, KeyError, TypeError):
        emit({"error": f"bad command {line.strip()!r}"})
        return True
    if name == "join":
        try:
            emit({"joined": await driver.join([parse_address(a) for a in cmd["addrs"]])})
        except JoinError as exc:
            emit({"error": str(exc)})
    elif name == "event":
        driver.user_event(cmd["name"], cmd.get("payload", "").encode(), cmd.get("coalesce", False))
    elif name == "members":
        emit({"members": {m.name: m.status.name.lower() for m in driver.members()}})
    elif name == "leave":
        await driver.leave()
        return False
    else:
        emit({"error": f"unknown command {name!r}"})
    return True


async def run(args: argparse.Namespace) -> None:
    host, port = parse_address(args.bind)
    config = SerfConfig(memberlist=MemberlistConfig.lan(args.name, bind_addr=host,
                                                        bind_port=port),
                        tags=dict(t.split("=", 1) for t in args.tag))
    driver = GossipDriver(Serf(config), NetTransport(host, port))
    driver.subscribe(on_event)
    await driver.start()
    emit({"ready": f"{host}:{driver.transport.port}"})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.join:
        await handle(driver, json.dumps({"cmd": "join", "addrs": args.join}))
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while line := await reader.readline():
            if not await handle(driver, line.decode()):
                break
        stop.set()

    task = asyncio.create_task(commands())
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await driver.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--bind", default="0.0.0.0:7946", help="host:port for UDP and TCP")
    p.add_argument("--join", action="append", default=[], help="host:port to join (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="key=value (repeatable)")
    args = p.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
