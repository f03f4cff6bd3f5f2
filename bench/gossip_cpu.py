"""CPU of a gossip pool from /proc: Proconsul revisions and serf side by side, in one run.

    python bench/gossip_cpu.py                                   # this checkout and serf, N = 10
    python bench/gossip_cpu.py --rev 5206127 --rev . --nodes 20 --duration 30

Every side -- serf and one Proconsul pool per ``--rev`` (a ``git archive``
extract run with ``PYTHONPATH`` and ``python -P``; ``.`` this checkout) --
starts ``--nodes`` processes on its own loopback subnet (127.A.S.1..N, one port),
all sides at the same time so they share the machine's load alike; nodes 2..N
join node 1. Once every node has seen every other, two phases of
``--duration`` seconds are measured, the pools' CPU time read from
``/proc/<pid>/task/*/schedstat`` (nanoseconds) before and after:

  steady   nothing but the protocol: each node probes one other per second (a
           ping and its ack, serf's Vivaldi coordinate as the ack's payload), so
           every node sends 2 and receives 2 packets a second, plus a push/pull
           every 30 s (N <= 32)
  events   ``--rate`` user events a second from the nodes in turn, each gossiped
           to every node (compound packets, LZW-compressed)

It prints per side: CPU per node per second in the steady phase, that divided
by the 4 packets a node handles a second (the per-packet figure, timers
included), and the CPU each user event costs the pool over the steady
rate. See bench/README.md ("Gossip: CPU per packet").
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import gossip_bench as gb  # noqa: E402
import harness as h  # noqa: E402
from gossip_packets import extract  # noqa: E402

PACKETS_PER_NODE_SECOND = 4  # a probe sent and answered, a probe received and answered


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", action="append", default=[],
                   help="git revision or '.' for Proconsul (repeatable; default '.')")
    p.add_argument("--no-serf", action="store_true", help="leave serf out")
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    p.add_argument("--rate", type=float, default=5.0, help="user events a second in the events phase")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after the join before measuring")
    p.add_argument("--timeout", type=float, default=60.0)
    return p.parse_args(argv)


class RevSide(gb.ProconsulSide):
    """A Proconsul pool running the code of one revision."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree

    def command(self, name: str, ip: str, port: int, rpc_port: int) -> list[str]:
        return [sys.executable, "-P", "-m", "proconsul.gossip.node", "--name", name,
                "--bind", f"{ip}:{port}"]


class Pool:
    def __init__(self, label: str, side: gb.Side, subnet: str, n: int, env: dict,
                 cwd: Path) -> None:
        self.label, self.side = label, side
        ips = [f"{subnet}.{i + 1}" for i in range(n)]
        self.port = gb.free_port(ips)
        rpc_port = gb.free_port(ips, {self.port})
        if isinstance(side, gb.SerfSide):
            side.rpc_port = rpc_port
        self.reader = gb.Reader(side)
        self.reader.start()
        self.nodes: list[gb.Node] = []
        for i, ip in enumerate(ips):
            name = f"{label[:1]}{i + 1}"
            proc = h.spawn(side.command(name, ip, self.port, rpc_port), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env, cwd=cwd)
            node = gb.Node(name, ip, proc)
            self.nodes.append(node)
            self.reader.add(node)

    def ready(self) -> bool:
        return all(nd.ready for nd in self.nodes)

    def joined(self) -> bool:
        names = {nd.name for nd in self.nodes}
        return all(all(nd.status.get(m, ("",))[0] == "alive" for m in names) for nd in self.nodes)

    def cpu(self) -> float:
        return sum(cpu_seconds(nd.proc.pid) for nd in self.nodes)

    def stop(self) -> None:
        self.reader.stop()
        for nd in self.nodes:
            h.stop(nd.proc)
        if isinstance(self.side, gb.SerfSide):
            self.side.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's threads in nanoseconds from ``schedstat`` (``stat``
    counts 10 ms ticks, too coarse for a node using a few ms a second)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        return gb.cpu_seconds(pid)
    return total / 1e9


def wait(pools: list[Pool], what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for pool in pools:
        remaining = max(0.1, deadline - time.monotonic())
        if not pool.reader.wait_for(lambda p=pool: check(p), remaining):
            raise RuntimeError(f"{pool.label}: not {what} within {timeout:g} s")


def measure(pools: list[Pool], seconds: float, rate: float) -> dict[str, float]:
    start = {p.label: p.cpu() for p in pools}
    began = time.monotonic()
    sent = 0
    if rate > 0:
        while (now := time.monotonic()) < began + seconds:
            due = int((now - began) * rate) + 1
            while sent < due:
                for pool in pools:
                    sender = pool.nodes[sent % len(pool.nodes)]
                    pool.side.user_event(sender, f"cpu-{sent}")
                sent += 1
            time.sleep(min(0.05, 1 / rate))
    else:
        time.sleep(seconds)
    elapsed = time.monotonic() - began
    used = {p.label: p.cpu() - start[p.label] for p in pools}
    return {"elapsed": elapsed, "events": sent, **used}


def main(argv=None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    revs = a.rev or ["."]
    with tempfile.TemporaryDirectory(prefix="gossip-cpu-") as tmp:
        block = random.randint(100, 250)
        sides: list[tuple[str, gb.Side, dict, Path]] = []
        if not a.no_serf:
            if shutil.which("serf") is None:
                print("serf not found (apt-get install -y serf); use --no-serf", file=sys.stderr)
                return 1
            sides.append(("serf", gb.SerfSide(0), dict(os.environ), Path(tmp)))
        for rev in revs:
            tree = extract(rev, Path(tmp))
            env = dict(os.environ, PYTHONPATH=str(tree))
            sides.append((f"proconsul@{rev}", RevSide(tree), env, tree))
        pools = []
        try:
            for i, (label, side, env, cwd) in enumerate(sides):
                pools.append(Pool(label, side, f"127.{block}.{i + 1}", a.nodes, env, cwd))
            wait(pools, "ready", Pool.ready, a.timeout)
            for pool in pools:
                if isinstance(pool.side, gb.SerfSide):
                    pool.side.connect(pool.nodes)
                target = f"{pool.nodes[0].ip}:{pool.port}"
                pool.side.join(pool.nodes[1:], target)
            wait(pools, "joined", Pool.joined, a.timeout)
            time.sleep(a.settle)
            h.cpu_busy(0.1)
            load_before = os.getloadavg()[0]
            speed = h.cpu_speed()
            steady = measure(pools, a.duration, 0)
            events = measure(pools, a.duration, a.rate)
            load_after = os.getloadavg()[0]
            problems = [f"{p.label} {nd.name}: {e}" for p in pools for nd in p.nodes
                        for e in nd.errors[:2]]
            for pool in pools:
                if isinstance(pool.side, gb.SerfSide):
                    problems += pool.side.collect()
        finally:
            for pool in pools:
                pool.stop()
    n = a.nodes
    print(f"N = {n} nodes a side, {a.duration:g} s a phase, {a.rate:g} events/s; load average "
          f"{load_before:.1f} -> {load_after:.1f}; CPU-speed figure {speed:.2f} s")
    rows = []
    for pool in pools:
        per_node = steady[pool.label] / steady["elapsed"] / n  # CPU s per node-second
        extra = events[pool.label] - per_node * n * events["elapsed"]
        per_event = extra / events["events"] if events["events"] else float("nan")
        rows.append([pool.label, f"{per_node * 1e3:.2f}",
                     f"{per_node / PACKETS_PER_NODE_SECOND * 1e6:.0f}",
                     f"{per_event * 1e3:.2f}", f"{per_event / n * 1e6:.0f}"])
    h.print_table(rows, ["side", "steady ms CPU / node / s", "us / packet",
                         "ms CPU / event (pool)", "us / event / node"])
    for problem in problems:
        print("problem:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
