"""Raft commit benchmark: the real ``proconsul.raft`` driver, fsync on, one process.

    python bench/raft_bench.py                      # 1 and 3 servers, 1/16/64 proposers
    python bench/raft_bench.py --proposals 500      # quicker
    python bench/raft_bench.py --servers 3 --concurrency 64

Each run builds fresh ``RaftNode`` s with ``RaftStorage`` on disk (a temp dir,
every persisted batch fdatasync'ed before its messages go out), connected by
``InProcessNetwork`` (messages delivered by ``loop.call_soon``, no sockets, no
serialisation), and a no-op state machine. It waits for a leader, warms up,
then ``C`` proposer tasks call ``leader.apply(value)`` until ``N`` proposals
have committed and been applied on the leader. Throughput = N / wall time;
latency = each ``apply`` call, start to result.

All servers share one process, one event loop and the default thread pool
(storage work runs in threads): a 3-server figure counts every follower's
fsync and message handling on the same CPUs as the leader's, and leaves out
the network and the encoding a real cluster pays. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402

from proconsul.raft.config import Configuration, RaftConfig, Server  # noqa: E402
from proconsul.raft.core import Ready  # noqa: E402
from proconsul.raft.messages import Entry, EntryType  # noqa: E402
from proconsul.raft.node import InProcessNetwork, RaftNode  # noqa: E402
from proconsul.raft.storage import RaftStorage  # noqa: E402


class _NoSnapshot:
    def write(self, sink: BinaryIO) -> None:
        sink.write(b"")

    def release(self) -> None:
        pass


class NoopFsm:
    """Applies nothing; counts the entries."""

    def __init__(self) -> None:
        self.applied = 0

    def apply(self, index: int, data: bytes) -> Any:
        self.applied += 1
        return index

    def apply_batch(self, entries: list[Entry]) -> list[Any]:
        return [self.apply(e.index, e.data) if e.type is EntryType.COMMAND else None
                for e in entries]

    def snapshot(self) -> _NoSnapshot:
        return _NoSnapshot()

    def restore(self, source: BinaryIO) -> None:
        source.read()


class CountingStorage(RaftStorage):
    """RaftStorage that counts the batches it persists (each ends in one fdatasync)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory)
        self.batches = 0  # persists that wrote log entries
        self.entries = 0

    def persist(self, ready: Ready) -> None:
        if ready.entries:
            self.batches += 1
            self.entries += len(ready.entries)
        super().persist(ready)


async def one_run(servers: int, concurrency: int, proposals: int, value_size: int,
                  root: Path, config: RaftConfig, warmup: int) -> dict:
    network = InProcessNetwork()
    ids = [f"s{i}" for i in range(servers)]
    configuration = Configuration(tuple(Server(i, f"addr-{i}") for i in ids))
    nodes: list[RaftNode] = []
    storages: list[CountingStorage] = []
    leader_changed = asyncio.Event()
    try:
        for sid in ids:
            storage = CountingStorage(root / sid)
            storage.bootstrap(configuration)
            node = RaftNode(sid, f"addr-{sid}", NoopFsm(), storage,
                            network.transport(f"addr-{sid}"), config)
            node.on_leadership_change(lambda _: leader_changed.set())
            nodes.append(node)
            storages.append(storage)
            await node.start()
        t_elect = time.perf_counter()
        while True:
            leaders = [n for n in nodes if n.is_leader()]
            if len(leaders) == 1:
                leader = leaders[0]
                break
            leader_changed.clear()
            await asyncio.wait_for(leader_changed.wait(), 30)
        elect_s = time.perf_counter() - t_elect
        await leader.barrier(timeout=10)
        value = b"x" * value_size
        for _ in range(warmup):
            await leader.apply(value, timeout=10)
        lead_storage = storages[nodes.index(leader)]
        b0, e0 = lead_storage.batches, lead_storage.entries
        latencies: list[float] = []
        remaining = proposals
        term0 = leader.term()

        async def proposer() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t = time.perf_counter()
                await leader.apply(value, timeout=30)
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(proposer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        batches = lead_storage.batches - b0
        entries = lead_storage.entries - e0
        latencies.sort()
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        return {
            "servers": servers, "concurrency": concurrency, "proposals": len(latencies),
            "seconds": round(elapsed, 4), "ops_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(q[49] * 1e3, 3), "p99_ms": round(q[98] * 1e3, 3),
            "mean_ms": round(statistics.fmean(latencies) * 1e3, 3),
            "max_ms": round(latencies[-1] * 1e3, 3),
            "leader_batches": batches,
            "entries_per_fsync": round(entries / batches, 2) if batches else None,
            "election_s": round(elect_s, 3),
            "leader_changed": leader.term() != term0 or not leader.is_leader(),
        }
    finally:
        for node in nodes:
            await node.shutdown()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", type=int, action="append", choices=[1, 3, 5],
                   help="cluster sizes (repeatable; default 1 and 3)")
    p.add_argument("--concurrency", type=int, action="append",
                   help="concurrent proposers (repeatable; default 1, 16, 64)")
    p.add_argument("--proposals", type=int, default=2000, help="proposals per run (2000)")
    p.add_argument("--warmup", type=int, default=50, help="proposals before timing (50)")
    p.add_argument("--value-size", type=int, default=100, help="bytes per proposal (100)")
    p.add_argument("--raft-multiplier", type=int, default=1,
                   help="timing as -raft-multiplier (1: 1 s heartbeat timeout)")
    p.add_argument("--dir", default=None,
                   help="where the temp data dirs go (default: the system temp dir; it must "
                        "be a real disk for fsync to count -- tmpfs makes fsync free)")
    p.add_argument("--wait-idle", type=float, default=0.0,
                   help="before each run, wait up to this many seconds for idle CPUs (0)")
    p.add_argument("--results-dir", default=str(h.RESULTS_DIR))
    p.add_argument("--no-json", action="store_true")
    a = p.parse_args(argv)
    a.servers = a.servers or [1, 3]
    a.concurrency = a.concurrency or [1, 16, 64]
    return a


def fs_type(path: str) -> str:
    """The filesystem type of ``path`` from /proc/mounts (longest mount-point prefix)."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mnt = parts[1]
            inside = os.path.realpath(path).startswith(mnt.rstrip("/") + "/") or path == mnt
            if inside and len(mnt) > len(best):
                best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def main(argv=None) -> int:
    a = parse_args(argv)
    config = RaftConfig.with_multiplier(a.raft_multiplier)
    base = tempfile.mkdtemp(prefix="bench-raft-", dir=a.dir)
    fstype = fs_type(base)
    rows, runs = [], []
    load_start = h_load()
    try:
        for servers in a.servers:
            for conc in a.concurrency:
                busy = h.cpu_busy(0.5)
                end = time.monotonic() + a.wait_idle
                while busy is not None and busy > 0.2 and time.monotonic() < end:
                    busy = h.cpu_busy(1.0)
                load = h_load()
                root = Path(tempfile.mkdtemp(dir=base))
                r = asyncio.run(one_run(servers, conc, a.proposals, a.value_size, root,
                                        config, a.warmup))
                shutil.rmtree(root, ignore_errors=True)
                r["background_cpu"] = busy
                r["loadavg_before"] = load
                runs.append(r)
                print(f"servers={servers} c={conc}: {r['ops_per_s']:,.0f} commits/s  "
                      f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                      f"{r['entries_per_fsync']} entries/fsync  (idle-time CPU busy "
                      f"{'?' if busy is None else f'{busy:.0%}'}, load {load})",
                      file=sys.stderr, flush=True)
                rows.append([f"{servers}", f"{conc}", f"{r['proposals']}",
                             f"{r['ops_per_s']:,.0f}", h.fmt_ms(r["p50_ms"]),
                             h.fmt_ms(r["p99_ms"]), h.fmt_ms(r["mean_ms"]),
                             f"{r['entries_per_fsync']}",
                             "-" if busy is None else f"{busy:.0%}", load.split("/")[0]])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"Raft commit benchmark: proconsul.raft RaftNode + RaftStorage (fdatasync per "
          f"persisted batch, data on {fstype}) + InProcessNetwork + no-op state machine; "
          f"{a.value_size}-byte proposals, {a.proposals} per run after {a.warmup} warm-up, "
          f"-raft-multiplier {a.raft_multiplier}")
    print("ALL SERVERS RUN IN THIS ONE PROCESS (one event loop, one thread pool, no sockets): "
          "3-server figures include the followers' work on the same CPUs and no network.")
    h.print_table(rows, ["servers", "proposers", "N", "commits/s", "p50 ms", "p99 ms",
                         "mean ms", "entries/fsync", "cpu busy before", "load 1m"])
    print(f"note: entries/fsync = log entries per leader fdatasync during the run; "
          f"{os.cpu_count()} CPUs; load average at start {load_start}, at end {h_load()}")
    if fstype in ("tmpfs", "ramfs"):
        print("WARNING: data on tmpfs: fsync costs nothing here; use --dir on a real disk")
    if not a.no_json:
        path = h.write_json({"benchmark": "raft", "params": vars(a), "fs_type": fstype,
                             "machine": h.machine_info(), "runs": runs,
                             "note": "all servers in one process, InProcessNetwork"},
                            "raft", a.results_dir)
        print(f"\nresults: {path}")
    return 0


def h_load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
