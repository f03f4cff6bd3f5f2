"""Gossip benchmark: N Proconsul gossip processes vs N serf agents, same script, same run.

    python bench/gossip_bench.py                     # N = 5, 20, 50, both sides
    python bench/gossip_bench.py --sizes 5 --repeat 3
    python bench/gossip_bench.py --side proconsul --sizes 20

For each N and side, N processes listen on 127.A.S.1..N (one port for all;
memberlist's LAN timing on both sides, as Consul's LAN pool), then:

  join     every node but the first joins the first at once; time until every
           node has seen every node join
  event    a user event from node 2 (then 3, 4, ...: --events); time until every
           node has it; the run's figure is the median
  failure  SIGKILL the last node; time until every other node marks it failed

False positives: a node reported failed that was not killed.  Both sides are
observed the same way: serf's log lines (``serf: EventMemberJoin: <name>``,
``agent: Received event: user-event: <name>``) and the Proconsul node's JSON
lines (``python -m proconsul.gossip.node``), timestamped by this script as
they arrive.  Commands cost one write on either side: serf gets them over its
msgpack RPC (what ``serf join``/``serf event`` speak; connections opened
beforehand), Proconsul as JSON lines on the node's stdin.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import harness as h  # noqa: E402

from proconsul.gossip.msgpack import Incomplete, pack, unpack_from  # noqa: E402

METRICS = ("join", "event", "failure")
# serf figures measured earlier on this machine (seconds), for reference.
SERF_REF = {5: {"join": 0.21, "event": 0.10, "failure": 5.6},
            20: {"join": 0.45, "event": 0.32, "failure": 9.2},
            50: {"join": 0.91, "event": 0.52, "failure": 9.3}}
BUSY_WARN = 0.2


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- nodes


@dataclass
class Node:
    name: str
    ip: str
    proc: subprocess.Popen
    ready: bool = False
    status: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (state, when)
    events: dict[str, float] = field(default_factory=dict)  # user event name -> when
    failed_reports: list[str] = field(default_factory=list)  # every "failed" seen, in order
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # serf's [WARN]/[ERR] log lines

    def saw(self, subject: str, state: str, when: float) -> None:
        self.status[subject] = (state, when)
        if state == "failed":
            self.failed_reports.append(subject)


class Side:
    """How to start, drive and read one implementation."""

    label = ""

    def command(self, name: str, ip: str, port: int, rpc_port: int) -> list[str]:
        raise NotImplementedError

    def parse(self, node: Node, line: str, when: float) -> None:
        raise NotImplementedError

    def join(self, nodes: list[Node], target: str) -> None:
        raise NotImplementedError

    def user_event(self, node: Node, name: str) -> None:
        raise NotImplementedError


class SerfRPC:
    """One connection to a serf agent's msgpack RPC (handshake done); ``send``
    costs one write, ``collect`` reads the replies and raises on errors."""

    def __init__(self, addr: tuple[str, int], timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(addr, timeout)
        self.seq = 0
        self.buf = b""
        self.pending = 0  # msgpack values still to read
        self.send("handshake", {"Version": 1})
        self.collect()

    def send(self, command: str, body: dict, reply_values: int = 1) -> None:
        self.sock.sendall(pack({"Command": command, "Seq": self.seq}) + pack(body))
        self.seq += 1
        self.pending += reply_values

    def collect(self) -> None:
        while self.pending:
            try:
                value, end = unpack_from(self.buf, 0)
            except Incomplete:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("serf RPC connection closed") from None
                self.buf += chunk
                continue
            self.buf = self.buf[end:]
            self.pending -= 1
            if isinstance(value, dict) and value.get(b"Error"):
                raise RuntimeError(f"serf RPC: {value[b'Error'].decode(errors='replace')}")

    def close(self) -> None:
        self.sock.close()


class SerfSide(Side):
    label = "serf"
    _member = re.compile(r"serf: EventMember(Join|Failed|Leave|Reap): (\S+)")
    _event = re.compile(r"agent: Received event: user-event: (\S+)")

    def __init__(self, rpc_port: int) -> None:
        self.rpc_port = rpc_port
        self.rpc: dict[str, SerfRPC] = {}

    def command(self, name: str, ip: str, port: int, rpc_port: int) -> list[str]:
        return ["serf", "agent", f"-node={name}", f"-bind={ip}:{port}",
                f"-rpc-addr={ip}:{rpc_port}", "-log-level=info"]

    def parse(self, node: Node, line: str, when: float) -> None:
        if "[WARN]" in line or "[ERR]" in line:
            node.warnings.append(line.strip())
        if "Serf agent running!" in line:
            node.ready = True
        elif m := self._member.search(line):
            state = {"Join": "alive", "Failed": "failed", "Leave": "left", "Reap": "reaped"}
            node.saw(m.group(2), state[m.group(1)], when)
        elif m := self._event.search(line):
            node.events.setdefault(m.group(1), when)

    def connect(self, nodes: list[Node]) -> None:
        for node in nodes:
            self.rpc[node.name] = SerfRPC((node.ip, self.rpc_port))

    def join(self, nodes: list[Node], target: str) -> None:
        for node in nodes:  # reply: header, then {"Num": n}
            self.rpc[node.name].send("join", {"Existing": [target], "Replay": False}, 2)

    def user_event(self, node: Node, name: str) -> None:
        self.rpc[node.name].send("event", {"Name": name, "Payload": b"payload",
                                           "Coalesce": False})

    def collect(self, skip: str = "") -> list[str]:
        """Read the pending RPC replies (``skip``: a killed node); return the errors."""
        problems = []
        for name, rpc in self.rpc.items():
            try:
                if name != skip:
                    rpc.collect()
            except (OSError, RuntimeError) as e:
                problems.append(f"{name}: {e}")
        return problems

    def close(self) -> None:
        for rpc in self.rpc.values():
            rpc.close()
        self.rpc.clear()


class ProconsulSide(Side):
    label = "proconsul"
    _names = {"member-join": "alive", "member-failed": "failed", "member-leave": "left",
              "member-reap": "reaped"}

    def command(self, name: str, ip: str, port: int, rpc_port: int) -> list[str]:
        return [sys.executable, "-m", "proconsul.gossip.node", "--name", name,
                "--bind", f"{ip}:{port}"]

    def parse(self, node: Node, line: str, when: float) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            node.errors.append(line[:200])
            return
        if "ready" in msg:
            node.ready = True
        elif msg.get("event") in self._names:
            for member in msg["members"]:
                node.saw(member, self._names[msg["event"]], when)
        elif msg.get("event") == "user":
            node.events.setdefault(msg["name"], when)
        elif "error" in msg:
            node.errors.append(msg["error"])

    @staticmethod
    def _send(node: Node, cmd: dict) -> None:
        node.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        node.proc.stdin.flush()

    def join(self, nodes: list[Node], target: str) -> None:
        for node in nodes:
            self._send(node, {"cmd": "join", "addrs": [target]})

    def user_event(self, node: Node, name: str) -> None:
        self._send(node, {"cmd": "event", "name": name, "payload": "payload"})


class Reader(threading.Thread):
    """Reads every node's stdout, timestamps each line, updates the nodes, wakes waiters."""

    def __init__(self, side: Side) -> None:
        super().__init__(daemon=True)
        self.side = side
        self.cond = threading.Condition()
        self.sel = selectors.DefaultSelector()
        self._partial: dict[int, bytes] = {}
        self._stopping = False

    def add(self, node: Node) -> None:
        fd = node.proc.stdout.fileno()
        os.set_blocking(fd, False)
        self.sel.register(fd, selectors.EVENT_READ, node)

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        while not self._stopping:
            for key, _ in self.sel.select(0.2):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                when = time.monotonic()
                if not chunk:
                    self.sel.unregister(key.fd)
                    continue
                data = self._partial.pop(key.fd, b"") + chunk
                *lines, rest = data.split(b"\n")
                if rest:
                    self._partial[key.fd] = rest
                with self.cond:
                    for line in lines:
                        self.side.parse(key.data, line.decode(errors="replace"), when)
                    self.cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


# ----------------------------------------------------------------- one run


def free_port(ips: list[str], avoid: set[int] = frozenset()) -> int:
    """A port free for TCP and UDP on every address in ``ips``."""
    for _ in range(50):
        port = h.free_ports(1)[0]
        if port in avoid:
            continue
        try:
            for ip in ips:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((ip, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all addresses")


def settle_cpu(max_wait: float) -> float | None:
    """Wait until start-up CPU use (Python imports) is over: the machine is idle or
    busy at a steady level (the nodes' own idle gossip); return the last sample."""
    until = time.monotonic() + max_wait
    prev = h.cpu_busy(1.0)
    while prev is not None and prev > BUSY_WARN and time.monotonic() < until:
        cur = h.cpu_busy(1.0)
        if cur is None or abs(cur - prev) < 0.05:
            return cur
        prev = cur
    return prev


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_side(side_name: str, n: int, seq: int, a: argparse.Namespace) -> dict:
    """Start ``n`` nodes of one side, measure join, event and failure; stop them."""
    subnet = f"127.{random.randint(100, 250)}.{1 if side_name == 'serf' else 2}"
    ips = [f"{subnet}.{i + 1}" for i in range(n)]
    port = free_port(ips)
    rpc_port = free_port(ips, {port})
    side: Side = SerfSide(rpc_port) if side_name == "serf" else ProconsulSide()
    result: dict = {"side": side_name, "n": n, "port": port, "subnet": subnet + ".0/24",
                    "problems": []}
    busy = h.wait_idle(a.wait_idle, BUSY_WARN)
    result["busy_before_start"] = busy
    reader = Reader(side)
    reader.start()
    nodes: list[Node] = []
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        for i, ip in enumerate(ips):
            name = f"{side_name[0]}{i + 1}"
            proc = h.spawn(side.command(name, ip, port, rpc_port), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env, cwd=REPO)
            node = Node(name, ip, proc)
            nodes.append(node)
            reader.add(node)
        if not reader.wait_for(lambda: all(nd.ready for nd in nodes), a.start_timeout):
            raise RuntimeError(f"{side_name}: not all {n} nodes ready in {a.start_timeout:g} s")
        if isinstance(side, SerfSide):
            side.connect(nodes)
        result["busy_before_join"] = settle_cpu(a.wait_idle)
        cpu_start = sum(cpu_seconds(nd.proc.pid) for nd in nodes)
        names = [nd.name for nd in nodes]
        result["join"] = measure_join(side, reader, nodes, f"{ips[0]}:{port}", a.timeout)
        if result["join"] is None:
            result["problems"].append(f"join: {missing_joins(reader, nodes)}")
        result["busy_before_event"] = h.cpu_busy(a.settle)
        if isinstance(side, SerfSide):
            result["problems"] += side.collect()
        events = []
        for k in range(a.events):
            events.append(measure_event(side, reader, nodes[1 + k % (n - 1)],
                                        nodes, f"bench-{n}-{seq}-{k}", a.timeout))
            time.sleep(a.event_gap)  # let its retransmissions die down
        result["events"] = events
        result["event"] = median(events) if None not in events else None
        result["busy_before_failure"] = h.cpu_busy(a.settle)
        victim = nodes[-1]
        result["cpu_s"] = sum(cpu_seconds(nd.proc.pid) for nd in nodes) - cpu_start
        result["failure"] = measure_failure(reader, nodes, victim, a.failure_timeout)
        with reader.cond:
            result["false_positives"] = sum(
                1 for nd in nodes if nd is not victim for s in nd.failed_reports if s != victim.name)
            for nd in nodes:
                result["problems"] += [f"{nd.name}: {e}" for e in nd.errors[:3]]
            warnings = [w for nd in nodes for w in nd.warnings]
            result["warnings"] = {"count": len(warnings), "first": warnings[:5]}
        if isinstance(side, SerfSide):
            result["problems"] += side.collect(skip=victim.name)
        result["members"] = names
    except (RuntimeError, OSError) as e:
        result["problems"].append(str(e))
    finally:
        reader.stop()
        for nd in nodes:
            h.stop(nd.proc)
        if isinstance(side, SerfSide):
            side.close()
    return result


def measure_join(side: Side, reader: Reader, nodes: list[Node], target: str,
                 timeout: float) -> float | None:
    names = {nd.name for nd in nodes}

    def done() -> bool:
        return all(all(nd.status.get(m, ("",))[0] == "alive" for m in names) for nd in nodes)

    start = time.monotonic()
    side.join(nodes[1:], target)
    if not reader.wait_for(done, timeout):
        return None
    with reader.cond:
        return max(nd.status[m][1] for nd in nodes for m in names) - start


def missing_joins(reader: Reader, nodes: list[Node]) -> str:
    """Which observers had not reported which members alive (for a timed-out join)."""
    with reader.cond:
        missing = [(nd.name, m.name, nd.status.get(m.name, ("never seen",))[0])
                   for nd in nodes for m in nodes if nd.status.get(m.name, ("",))[0] != "alive"]
    sample = ", ".join(f"{o} sees {s} {state}" for o, s, state in missing[:5])
    return f"{len(missing)} observer/member pairs not alive after the deadline: {sample}"


def measure_event(side: Side, reader: Reader, sender: Node, nodes: list[Node], name: str,
                  timeout: float) -> float | None:
    start = time.monotonic()
    side.user_event(sender, name)
    if not reader.wait_for(lambda: all(name in nd.events for nd in nodes), timeout):
        return None
    with reader.cond:
        return max(nd.events[name] for nd in nodes) - start


def measure_failure(reader: Reader, nodes: list[Node], victim: Node,
                    timeout: float) -> float | None:
    others = [nd for nd in nodes if nd is not victim]

    def done() -> bool:
        return all(nd.status.get(victim.name, ("",))[0] == "failed" for nd in others)

    start = time.monotonic()
    os.kill(victim.proc.pid, signal.SIGKILL)
    if not reader.wait_for(done, timeout):
        return None
    with reader.cond:
        return max(nd.status[victim.name][1] for nd in others) - start


# ------------------------------------------------------------------ report


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def report(runs: list[dict], sizes: list[int], sides: list[str]) -> list[list[str]]:
    rows = []
    for n in sizes:
        per = {s: [r for r in runs if r["n"] == n and r["side"] == s] for s in sides}
        for metric in METRICS:
            p = median([r.get(metric) for r in per.get("proconsul", [])])
            s = median([r.get(metric) for r in per.get("serf", [])])
            failed = [s_ for s_ in sides if any(r.get(metric) is None for r in per[s_])]
            rows.append([f"N={n} {metric}", fmt(p), fmt(s),
                         "-" if p is None or not s else f"{p / s:.2f}",
                         fmt(SERF_REF.get(n, {}).get(metric))
                         + ("" if not failed else f"  (timed out: {', '.join(failed)})")])
        fps = [str(sum(r.get("false_positives", 0) for r in per.get(x, []))) for x in
               ("proconsul", "serf")]
        cpu = [fmt(median([r.get("cpu_s") for r in per.get(x, [])])) for x in
               ("proconsul", "serf")]
        rows.append([f"N={n} false positives", fps[0], fps[1], "", ""])
        rows.append([f"N={n} CPU s, join to kill", cpu[0], cpu[1], "", ""])
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 50])
    p.add_argument("--side", choices=["both", "proconsul", "serf"], default="both")
    p.add_argument("--repeat", type=int, default=1, help="runs per size and side (median)")
    p.add_argument("--wait-idle", type=float, default=30.0,
                   help="before starting each side, wait up to this many seconds for other "
                        "processes to leave the CPUs idle (30)")
    p.add_argument("--settle", type=float, default=2.0, help="pause between phases (2 s)")
    p.add_argument("--events", type=int, default=5,
                   help="user events per run, from nodes 2, 3, ... (median; 5)")
    p.add_argument("--event-gap", type=float, default=1.0,
                   help="pause after each user event (1 s)")
    p.add_argument("--timeout", type=float, default=60.0, help="join/event deadline (60 s)")
    p.add_argument("--failure-timeout", type=float, default=120.0)
    p.add_argument("--start-timeout", type=float, default=120.0)
    p.add_argument("--no-json", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    sides = ["proconsul", "serf"] if a.side == "both" else [a.side]
    if "serf" in sides and not shutil.which("serf"):
        log("serf not found: apt-get install -y serf")
        return 2
    runs: list[dict] = []
    for n in a.sizes:
        for rep in range(a.repeat):
            # Alternate which side goes first, so neither always gets the cooler machine.
            order = sides if rep % 2 == 0 else sides[::-1]
            for side in order:
                log(f"N={n} {side} run {rep + 1}/{a.repeat} ...")
                r = run_side(side, n, len(runs), a)
                runs.append(r)
                log(f"  join {fmt(r.get('join'))} s, event {fmt(r.get('event'))} s, failure "
                    f"{fmt(r.get('failure'))} s, false positives {r.get('false_positives', '?')}, "
                    f"CPU {fmt(r.get('cpu_s'))} s, log warnings "
                    f"{r.get('warnings', {}).get('count', 0)}"
                    + (f"; problems: {r['problems']}" if r["problems"] else ""))
    print(f"\nGossip benchmark: seconds until every node saw it (median of {a.repeat}); "
          "ratio = Proconsul/serf; serf (ref) = serf measured earlier on this machine")
    h.print_table(report(runs, a.sizes, sides),
                  ["N / metric", "Proconsul", "serf", "ratio", "serf (ref)"])
    busy = [r.get(k) for r in runs for k in ("busy_before_start",) if r.get(k) is not None]
    if busy and max(busy) > BUSY_WARN:
        print(f"note: up to {max(busy):.0%} of the CPUs were busy before a start (other "
              "processes); treat the figures as noisy")
    if not a.no_json:
        path = h.write_json({"machine": h.machine_info(), "args": vars(a), "runs": runs},
                            "gossip")
        print(f"results: {path}")
    return 1 if any(r["problems"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
