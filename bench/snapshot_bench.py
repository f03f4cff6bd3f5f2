"""Snapshot save and restore throughput (MB/s) and the server's peak RSS, on one durable server.

The state is built fast and without a raft log holding it: this process fills
an in-memory state store with ``--size-mb`` of KV values (256 KiB each, half
random bytes and half repeated text, so gzip has some work), writes it as a
snapshot archive, then

1. restore: starts a fresh durable server (``-server -bootstrap -data-dir``)
   and ``PUT /v1/snapshot``s the archive (the disaster-recovery case: an empty
   cluster takes the backup);
2. save: ``GET /v1/snapshot`` from that server, now holding the whole state,
   streamed into a file.

Throughput is the state size (``state.bin``) over the wall time of the HTTP
call; beside it, the server's CPU time in the phase (all threads), which on a
shared machine says what the server needs when others take the cores. Peak RSS is the server's ``VmHWM`` from ``/proc``, reset (``clear_refs``)
before each phase, next to its RSS before the phase. Targets (issue 17):
>= 50 MB/s, peak RSS < state size + 200 MB.

    python bench/snapshot_bench.py --size-mb 1024
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import install_cleanup, start_proconsul  # noqa: E402

from proconsul.fsm.fsm import FSM  # noqa: E402
from proconsul.lib.snapshot_archive import write_archive  # noqa: E402
from proconsul.raft.config import Configuration, Server  # noqa: E402
from proconsul.raft.messages import SnapshotMeta  # noqa: E402
from proconsul.server.snapshot import consul_meta  # noqa: E402
from proconsul.state.store import Store  # noqa: E402
from proconsul.structs.kv import DirEntry  # noqa: E402

VALUE_SIZE = 256 << 10
MB = 1 << 20


def build_archive(size_mb: int, directory: str) -> tuple[Path, int, int]:
    """An archive of ``size_mb`` MB of KV values; returns its path, state size, key count."""
    store = Store()
    keys = size_mb * MB // VALUE_SIZE
    text = (b"proconsul snapshot bench " * (VALUE_SIZE // 50))[: VALUE_SIZE // 2]
    for i in range(keys):
        with store.write(i + 1) as tx:
            value = os.urandom(VALUE_SIZE // 2) + text
            store.kv_set(tx, DirEntry(Key=f"bench/{i // 100:04d}/{i:08d}", Value=value))
    fsm = FSM(store)
    fsm.last_applied = keys
    state_path = Path(directory, "state.bin")
    with open(state_path, "wb") as state:
        fsm.snapshot().write(state)
    state_size = state_path.stat().st_size
    del store, fsm
    meta = SnapshotMeta(keys, 1, Configuration((Server("bench", "127.0.0.1:8300"),)), 1,
                        state_size)
    archive = Path(directory, "build.snap")
    with open(state_path, "rb") as state, open(archive, "wb") as sink:
        write_archive(sink, consul_meta(meta, state_size), state, state_size)
    state_path.unlink()
    return archive, state_size, keys


def memory(pid: int) -> tuple[int, int]:
    """(RSS, peak RSS since the last reset) of ``pid`` in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def request(url: str, method: str, path: str, body=None, headers=None, sink=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600, blocksize=MB)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        if reply.status != 200:
            raise RuntimeError(f"{method} {path}: {reply.status} {reply.read()[:300]!r}")
        size = 0
        while data := reply.read(MB):
            size += len(data)
            if sink is not None:
                sink.write(data)
        return size
    finally:
        conn.close()


def phase(name: str, pid: int, state_size: int, run) -> dict:
    before, _ = memory(pid)
    reset_peak(pid)
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    run()
    took = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu
    _, peak = memory(pid)
    result = {"phase": name, "seconds": took, "mb_s": state_size / MB / took,
              "server_cpu_s": cpu, "mb_per_cpu_s": state_size / MB / cpu,
              "rss_before_mb": before / MB, "peak_rss_mb": peak / MB,
              "peak_over_state_mb": (peak - state_size) / MB}
    print(f"{name:8} {took:7.1f} s  {result['mb_s']:6.1f} MB/s  (server CPU {cpu:5.1f} s: "
          f"{result['mb_per_cpu_s']:5.0f} MB per CPU-second)  RSS before "
          f"{before / MB:5.0f} MB  peak {peak / MB:5.0f} MB "
          f"(state + {result['peak_over_state_mb']:.0f} MB)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    install_cleanup()
    workdir = tempfile.mkdtemp(prefix="bench-snapshot-")
    start = time.perf_counter()
    archive, state_size, keys = build_archive(args.size_mb, workdir)
    print(f"state {state_size / MB:.0f} MB ({keys} keys of {VALUE_SIZE >> 10} KiB), archive "
          f"{archive.stat().st_size / MB:.0f} MB, built in {time.perf_counter() - start:.0f} s",
          flush=True)
    cluster = start_proconsul(servers=1, dev=False, label="snap", raft_multiplier=5,
                              workdir=os.path.join(workdir, "servers"))
    try:
        url, pid = cluster.url, cluster.procs[0].pid
        print(f"server pid {pid}, RSS {memory(pid)[0] / MB:.0f} MB before the restore", flush=True)

        def restore() -> None:
            with open(archive, "rb") as body:
                request(url, "PUT", "/v1/snapshot", body,
                        {"Content-Length": str(archive.stat().st_size)})

        saved = Path(workdir, "saved.snap")

        def save() -> None:
            with open(saved, "wb") as sink:
                request(url, "GET", "/v1/snapshot", sink=sink)

        results = [phase("restore", pid, state_size, restore), phase("save", pid, state_size, save)]
        print(f"saved archive {saved.stat().st_size / MB:.0f} MB")
        ok = all(r["mb_s"] >= 50 and r["peak_over_state_mb"] < 200 for r in results)
        print("targets (>= 50 MB/s, peak RSS < state + 200 MB):", "met" if ok else "NOT met")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
