"""The nemesis soak: histories of a mixed workload against 3 servers and 2 clients under faults.

Run by hand, as root (iptables), from the repository root::

    .venv/bin/python -m tests.soak.nemesis --histories 100

Each history runs the workload (:mod:`tests.soak.workload`) for ``--duration``
seconds while the nemesis, one fault at a time, picks a server (the leader half
of the time) and kills it with SIGKILL then restarts it, isolates it with
iptables, or pauses it with SIGSTOP, for 1.5–5 s.  Then every fault is healed,
the cluster settles (a leader, every server a voter), and the checkers run
(:mod:`tests.soak.checks`, :mod:`tests.support.linearizability`).  A cluster
serves ``--per-cluster`` histories before a fresh one replaces it.  Anomalies
are written with their history to ``--out``; the exit status is 1 if any.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.soak.checks import (
    double_holders,
    lost_catalog_writes,
    lost_once_writes,
    resurrected_sessions,
)
from tests.soak.cluster import SoakCluster
from tests.soak.firewall import remove_leftovers
from tests.soak.workload import ONCE_PREFIX, History, Workload, request
from tests.support.linearizability import Op, check

FAULTS = ("kill", "partition", "pause")
LOCK_FILE = "/tmp/proconsul-soak.lock"


@dataclass
class Totals:
    histories: int = 0
    anomalies: int = 0           # non-linearizable registers
    lost_writes: int = 0
    double_holders: int = 0
    unsettled: int = 0           # histories after which the cluster did not settle in time
    events: Counter = field(default_factory=Counter)
    ops: Counter = field(default_factory=Counter)
    holds: int = 0
    holds_lost: int = 0
    once_acked: int = 0
    load: list[float] = field(default_factory=list)   # 1-minute load average after each


class Nemesis:
    """Injects one fault at a time into ``cluster`` until a deadline."""

    def __init__(self, cluster: SoakCluster, rng: random.Random,
                 fault_seconds: tuple[float, float] = (1.5, 5.0)) -> None:
        self.cluster, self.rng, self.fault_seconds = cluster, rng, fault_seconds
        self.events: Counter = Counter()

    def run(self, deadline: float) -> None:
        rng = self.rng
        while time.monotonic() + 1 < deadline:
            time.sleep(min(rng.uniform(0.5, 2.5), max(0.0, deadline - time.monotonic())))
            leader = self.cluster.leader()
            victim = leader if leader is not None and rng.random() < 0.5 \
                else rng.randrange(len(self.cluster.specs))
            kind = rng.choice(FAULTS)
            hold = min(rng.uniform(*self.fault_seconds), max(0.5, deadline - time.monotonic()))
            self.events[kind, "leader" if victim == leader else "follower"] += 1
            self.inject(kind, victim, hold)

    def inject(self, kind: str, victim: int, hold: float) -> None:
        cluster = self.cluster
        if kind == "kill":
            cluster.kill(victim)
            time.sleep(hold)
            cluster.restart(victim)
        elif kind == "partition":
            cluster.isolate(victim)
            try:
                time.sleep(hold)
            finally:
                cluster.heal()
        else:
            cluster.pause(victim)
            try:
                time.sleep(hold)
            finally:
                cluster.resume(victim)


def final_reads(cluster: SoakCluster, history: History, name: str, keys: list[str]) -> dict:
    """Consistent reads after healing, from a server: registers, once keys, catalog, sessions."""
    address = cluster.http_addresses()[cluster.leader() or 0]

    def get(path: str):
        for _ in range(50):
            reply = request(address, "GET", path, timeout=10)
            if reply.status == "ok":
                return reply
            time.sleep(0.2)
        raise RuntimeError(f"final read GET {path} kept failing ({reply.code} {reply.body!r})")

    invoke = time.monotonic()
    for key in keys:
        reply = get(f"/v1/kv/{key}?consistent")
        value = None
        if reply.code == 200:
            value = base64.b64decode(reply.json()[0]["Value"] or b"").decode()
        history.kv.append(Op(-1, "read", key, value, invoke, time.monotonic()))
    once = get(f"/v1/kv/{ONCE_PREFIX}?recurse&consistent")
    stored = {e["Key"]: base64.b64decode(e["Value"] or b"").decode()
              for e in (once.json() if once.code == 200 else [])}
    nodes = {n["Node"] for n in get("/v1/catalog/nodes?consistent").json()}
    sessions = {s["ID"] for s in get("/v1/session/list?consistent").json()}
    return {"once": stored, "nodes": nodes, "sessions": sessions}


def run_history(cluster: SoakCluster, n: int, args, rng: random.Random, totals: Totals,
                acked_once: dict[str, str], out: Path) -> None:
    name = f"h{n}-{rng.randrange(10**6)}"
    started = time.monotonic()
    deadline = started + args.duration
    workload = Workload(name, cluster.http_addresses(), deadline, seed=rng.randrange(10**9),
                        timeout=args.timeout, hold_seconds=args.hold_seconds)
    nemesis = Nemesis(cluster, rng, args.fault_seconds)
    workload.start()
    try:
        nemesis.run(deadline)
    finally:
        cluster.heal_all()
        history = workload.join()
    settled = cluster.settle()
    final = final_reads(cluster, history, name, workload.keys)
    acked_once.update(history.once)

    result = check(history.kv)
    lost = (lost_once_writes(acked_once, final["once"])
            + lost_catalog_writes(history.catalog, final["nodes"])
            + resurrected_sessions(history.destroyed, final["sessions"]))
    doubles = double_holders(history.holds)

    totals.histories += 1
    totals.anomalies += not result.ok
    totals.lost_writes += len(lost)
    totals.double_holders += len(doubles)
    totals.unsettled += not settled
    totals.events.update(f"{kind}-{role}" for (kind, role), c in nemesis.events.items()
                         for _ in range(c))
    totals.ops.update(history.counts)
    totals.holds += len(history.holds)
    totals.holds_lost += sum(h.lost for h in history.holds)
    totals.once_acked = len(acked_once)
    totals.load.append(os.getloadavg()[0])
    ok_ops = sum(c for (_, status), c in history.counts.items() if status == "ok")
    print(f"history {n} ({name}): {sum(history.counts.values())} ops ({ok_ops} ok), "
          f"events {dict(nemesis.events)}, linearizable {result.ok}, lost {len(lost)}, "
          f"double holders {len(doubles)}, holds {len(history.holds)}, settled {settled}, "
          f"{time.monotonic() - started:.1f} s, load {totals.load[-1]:.2f}", flush=True)
    if not result.ok or lost or doubles:
        path = out / f"{name}.json"
        path.write_text(json.dumps({
            "linearizability": result.explanation, "lost": lost, "double_holders": doubles,
            "kv": [asdict(op) for op in history.kv],
            "holds": [asdict(h) for h in history.holds],
            "catalog": [asdict(p) for p in history.catalog],
        }, indent=1, default=str))
        print(f"  ANOMALY, history saved to {path}:\n  " + "\n  ".join(
            ([result.explanation] if not result.ok else []) + lost + doubles), flush=True)


def _load_summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    return {"min": min(samples), "mean": round(sum(samples) / len(samples), 2),
            "max": max(samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.nemesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--histories", type=int, default=100)
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of workload each")
    parser.add_argument("--per-cluster", type=int, default=10,
                        help="histories one cluster serves before a fresh one")
    parser.add_argument("--fault-seconds", type=float, nargs=2, default=(1.5, 5.0),
                        metavar=("MIN", "MAX"), help="how long each fault lasts")
    parser.add_argument("--hold-seconds", type=float, nargs=2, default=(0.2, 1.5),
                        metavar=("MIN", "MAX"), help="how long a lock worker holds a lock")
    parser.add_argument("--timeout", type=float, default=3.0, help="HTTP request timeout")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/proconsul-soak"))
    parser.add_argument("--cleanup", action="store_true",
                        help="only remove iptables rules a crashed run left behind")
    args = parser.parse_args(argv)
    lock = open(LOCK_FILE, "w")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another soak is running (it holds {LOCK_FILE}); they would share the "
              f"iptables chain", file=sys.stderr)
        return 2
    remove_leftovers()
    if args.cleanup:
        return 0
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rng = random.Random(seed)
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    totals = Totals()
    print(f"soak: seed {seed}, {args.histories} histories of {args.duration} s", flush=True)
    began = time.monotonic()
    try:
        n = 0
        while n < args.histories:
            cluster = SoakCluster()
            acked_once: dict[str, str] = {}
            try:
                cluster.start()
                for _ in range(min(args.per_cluster, args.histories - n)):
                    n += 1
                    run_history(cluster, n, args, rng, totals, acked_once, args.out)
            finally:
                cluster.stop()
    finally:
        with contextlib.suppress(Exception):
            remove_leftovers()
        summary = dict(asdict(totals), seed=seed, minutes=round((time.monotonic() - began) / 60, 1),
                       events=dict(totals.events),
                       load=_load_summary(totals.load),
                       ops={f"{k}/{s}": c for (k, s), c in sorted(totals.ops.items())})
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
        print("soak summary: " + json.dumps(summary, indent=1), flush=True)
    return 1 if totals.anomalies or totals.lost_writes or totals.double_holders else 0


if __name__ == "__main__":
    sys.exit(main())
