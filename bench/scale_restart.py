"""Durable restart: one server holding 100k keys is killed (-9) and started again.

Proconsul (``agent -server -bootstrap-expect 1 -data-dir D``, Consul's default
raft multiplier unless ``--raft-multiplier``) and a single-member etcd 3.4 get
the same ``--keys`` keys (``bench/k0000``.., ``--value-size`` bytes each),
written one PUT per key by ``--writers`` concurrent connections (so the raft
log holds one entry per key, as a real workload leaves it). Then each is
killed with SIGKILL and started again with the same command line, and the
bench polls until the last key written reads back with its value through the
default-consistency read (Proconsul ``GET /v1/kv/<key>``, etcd a linearizable
``/v3/kv/range``).

Figures per run: seconds from the restart to the last key readable and the CPU
seconds the new process used until then (which a loaded machine does not inflate); for
Proconsul also the server's peak RSS during recovery (``VmHWM`` read the moment
the key is readable; the process is new, so its high-water mark is the
recovery's) against its steady state (``VmRSS`` once it has idled
``--settle`` seconds afterwards) and the RSS of the process before the kill.
Python bytecode is cached as for an installed package (``--no-bytecode-cache``
to compile every module at each start, as ``PYTHONDONTWRITEBYTECODE=1`` makes
it). The 1-minute load average is printed beside each figure. Targets (issue 18):
restart <= 2 s and <= 2x etcd, peak RSS <= steady state + 30 MB.

    python bench/scale_restart.py                  # 100k keys, 3 restarts each
    python bench/scale_restart.py --keys 20000 --runs 1 --no-etcd
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402

MB = 1 << 20
RSS_TARGET_MB = 30.0
RESTART_TARGET_S = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scale_restart", description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=100_000, help="keys written before the kill")
    p.add_argument("--value-size", type=int, default=h.VALUE_SIZE, help="value bytes (100)")
    p.add_argument("--writers", type=int, default=32, help="concurrent writing connections")
    p.add_argument("--runs", type=int, default=3, help="kill -9 and restart this many times")
    p.add_argument("--settle", type=float, default=2.0,
                   help="idle seconds after recovery before the steady-state RSS")
    p.add_argument("--deadline", type=float, default=60.0, help="give up a restart after this")
    p.add_argument("--raft-multiplier", type=int, default=None,
                   help="passed to the server (default: none, Consul's default of 5)")
    p.add_argument("--proconsul-cmd", default=None,
                   help="the proconsul program (default: beside this python, else on PATH)")
    p.add_argument("--no-bytecode-cache", action="store_true",
                   help="keep PYTHONDONTWRITEBYTECODE if set, so each start compiles every "
                        "module from source (an installed package has its bytecode compiled)")
    p.add_argument("--no-etcd", action="store_true", help="Proconsul alone")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    return p.parse_args(argv)


def load() -> float:
    return os.getloadavg()[0]


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_keys(cluster: h.Cluster, keys: list[str], value_size: int, writers: int) -> float:
    """PUT every key once over ``writers`` keep-alive connections; returns the seconds taken."""
    requests = h.kv_requests(cluster.kind, "put", keys, value_size)
    errors: list[str] = []

    def writer(part: list[h.Req]) -> None:
        conn = h.Http(cluster.url, timeout=30)
        try:
            for req in part:
                status, body = conn.request(req.method, req.path, req.body, dict(req.headers))
                if status != 200:
                    errors.append(f"{req.method} {req.path}: HTTP {status} {body[:200]!r}")
                    return
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=writer, args=(requests[i::writers],))
               for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{cluster.label}: preload failed: {errors[0]}")
    # The last key of the list was not necessarily written last: write it once more now,
    # so "the last key written" is one key known to both systems.
    last = requests[-1]
    status, body = h.http_once(cluster.url + last.path, last.method, last.body,
                               dict(last.headers), timeout=30)
    if status != 200:
        raise RuntimeError(f"{cluster.label}: rewrite of the last key: HTTP {status} {body!r}")
    return time.monotonic() - started


def readable(cluster: h.Cluster, key: str, value: bytes) -> bool:
    req = h.kv_get(cluster.kind, key)
    try:
        status, body = h.http_once(cluster.url + req.path, req.method, req.body or None,
                                   dict(req.headers), timeout=2.0)
    except OSError:
        return False
    return status == 200 and h.decode_kv_get(cluster.kind, status, body) == value


def restart(cluster: h.Cluster, key: str, value: bytes, deadline: float) -> dict:
    """Kill -9 the cluster's one process, start it again; time to ``key`` readable."""
    old = cluster.procs[0]
    before = memory(old.pid) if cluster.kind == "consul" else {}
    os.killpg(old.pid, signal.SIGKILL)
    old.wait()
    h.stop(old)
    argv = old.args if isinstance(old.args, list) else shlex.split(old.args)
    started = time.monotonic()
    proc = h.spawn(argv, log_path=cluster.logs[0])
    cluster.procs[0] = proc
    polls = 0
    while not readable(cluster, key, value):
        polls += 1
        if proc.poll() is not None:
            raise RuntimeError(f"{cluster.label} exited with {proc.returncode} while "
                               f"recovering:\n{h.tail(cluster.logs[0])}")
        if time.monotonic() - started > deadline:
            raise RuntimeError(f"{cluster.label}: {key} not readable after {deadline:.0f} s")
        time.sleep(0.005)
    seconds = time.monotonic() - started
    result = {"seconds": round(seconds, 3), "polls": polls, "load1": round(load(), 2)}
    # CPU the new process used to get there: unlike the wall time, not inflated by load.
    result["cpu_seconds"] = round(cpu_seconds(proc.pid), 2)
    if cluster.kind == "consul":
        result["peak_rss_mb"] = round(memory(proc.pid)["VmHWM"], 1)
        result["rss_before_kill_mb"] = round(before.get("VmRSS", 0.0), 1)
    return result


def settle_rss(cluster: h.Cluster, seconds: float) -> float:
    time.sleep(seconds)
    return round(memory(cluster.procs[0].pid)["VmRSS"], 1)


def run_system(cluster: h.Cluster, a: argparse.Namespace) -> dict:
    keys = h.bench_keys(a.keys)
    value = h.bench_value(len(keys) - 1, a.value_size)
    print(f"{cluster.label}: writing {len(keys):,} keys ...", flush=True)
    took = write_keys(cluster, keys, a.value_size, a.writers)
    print(f"{cluster.label}: written in {took:.1f} s ({len(keys) / took:,.0f}/s), "
          f"load {load():.2f}", flush=True)
    runs = []
    for run in range(a.runs):
        result = restart(cluster, keys[-1], value, a.deadline)
        if cluster.kind == "consul":
            result["steady_rss_mb"] = settle_rss(cluster, a.settle)
            result["peak_over_steady_mb"] = round(result["peak_rss_mb"]
                                                  - result["steady_rss_mb"], 1)
        extra = "".join(f", {k} {result[k]}" for k in
                        ("cpu_seconds", "peak_rss_mb", "steady_rss_mb", "peak_over_steady_mb",
                         "rss_before_kill_mb") if k in result)
        print(f"{cluster.label} restart {run + 1}: last key readable after "
              f"{result['seconds']:.2f} s (load {result['load1']:.2f}){extra}", flush=True)
        runs.append(result)
    return {"write_seconds": round(took, 2), "runs": runs,
            "median_seconds": statistics.median(r["seconds"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    if not a.no_bytecode_cache:
        # Like an installed package (pip compiles its bytecode): the first start writes the
        # .pyc files, restarts load them. Kept out of the source tree.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.setdefault("PYTHONPYCACHEPREFIX",
                              os.path.join(tempfile.gettempdir(), "proconsul-bench-pycache"))
    clusters: list[h.Cluster] = []
    results: dict = {"machine": h.machine_info(), "keys": a.keys, "value_size": a.value_size,
                     "raft_multiplier": a.raft_multiplier,
                     "bytecode_cache": os.environ.get("PYTHONPYCACHEPREFIX")
                     if not a.no_bytecode_cache else None}
    try:
        proconsul = h.start_proconsul(servers=1, dev=False, cmd=a.proconsul_cmd,
                                      raft_multiplier=a.raft_multiplier, deadline_s=60)
        clusters.append(proconsul)
        results["proconsul"] = run_system(proconsul, a)
        results["proconsul"]["command"] = proconsul.info["command"]
        if not a.no_etcd:
            etcd = h.start_etcd(1)
            clusters.append(etcd)
            results["etcd"] = run_system(etcd, a)
            results["etcd"]["command"] = etcd.info["command"]
            results["etcd"]["version"] = etcd.info["version"]
    finally:
        for cluster in clusters:
            cluster.stop()
            if cluster.workdir:
                shutil.rmtree(cluster.workdir, ignore_errors=True)
    ok = report(results)
    if not a.no_json:
        print(f"results: {h.write_json(results, 'scale-restart')}")
    return 0 if ok else 1


def report(results: dict) -> bool:
    """Print the summary table and the targets; True if every target was met."""
    ours = results["proconsul"]
    etcd = results.get("etcd")
    rows = []
    for i, run in enumerate(ours["runs"]):
        theirs = etcd["runs"][i] if etcd and i < len(etcd["runs"]) else None
        rows.append([f"restart {i + 1}", f"{run['seconds']:.2f}", f"{run['cpu_seconds']:.2f}",
                     f"{run['load1']:.2f}", f"{run['peak_rss_mb']:.0f}",
                     f"{run['steady_rss_mb']:.0f}", f"{run['peak_over_steady_mb']:+.0f}",
                     f"{theirs['seconds']:.2f}" if theirs else "-",
                     f"{theirs['cpu_seconds']:.2f}" if theirs else "-",
                     f"{theirs['load1']:.2f}" if theirs else "-"])
    h.print_table(rows, ["run", "proconsul s", "cpu s", "load1", "peak MB", "steady MB",
                         "peak-steady", "etcd s", "cpu s", "load1"])
    worst_over = max(r["peak_over_steady_mb"] for r in ours["runs"])
    checks = [(f"restart median {ours['median_seconds']:.2f} s <= {RESTART_TARGET_S} s",
               ours["median_seconds"] <= RESTART_TARGET_S),
              (f"peak RSS <= steady + {RSS_TARGET_MB:.0f} MB (worst {worst_over:+.1f} MB)",
               worst_over <= RSS_TARGET_MB)]
    if etcd:
        ratio = ours["median_seconds"] / etcd["median_seconds"]
        results["ratio"] = round(ratio, 2)
        checks.append((f"restart <= 2x etcd (etcd median {etcd['median_seconds']:.2f} s, "
                       f"ratio {ratio:.2f})", ratio <= 2.0))
    for text, met in checks:
        print(f"{'MET   ' if met else 'MISSED'} {text}")
    results["targets"] = {text: met for text, met in checks}
    return all(met for _, met in checks)


if __name__ == "__main__":
    sys.exit(main())
