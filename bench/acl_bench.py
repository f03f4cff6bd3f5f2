"""What ACL enforcement costs: KV PUT and stale GET at c=64 on one durable server
with ACLs on (default deny, a token with 50 key_prefix rules) vs ACLs off, in
one run, runs alternating between the two servers.

    python bench/acl_bench.py --duration 10
    python bench/acl_bench.py --quick          # 2 s per run
    python bench/acl_bench.py --micro          # in-process: the server's check per request
    python bench/acl_bench.py --callgrind      # instructions per stale GET, off vs on

Target (issue 14): ACLs cost at most 10 % throughput (ratio on/off >= 0.90).
Beside ops/s, each side's server CPU per request (user+sys from /proc) is
given: on a shared machine its ratio (off/on) moves less than the ops/s one.
``--callgrind`` counts the agent's instructions per stale GET under valgrind
(what it does when idle subtracted), which no other load on the machine moves.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import shutil
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402
from cpu_per_request import AGENT_MAIN, callgrind, callgrind_total, cpu_seconds  # noqa: E402

from proconsul.rpc.pool import MuxPool  # noqa: E402

ROOT = "acl-bench-management-secret"
SCENARIOS = [("put c=64", "put", 64), ("get-stale c=64", "get-stale", 64)]
TARGET_RATIO = 0.90


def rules(count: int = 50) -> str:
    """``count`` key_prefix rules; the benchmark's keys match the last one, so a
    check walks past the others' branches of the prefix tree."""
    lines = [f'key_prefix "other-{i:02d}/" {{ policy = "read" }}' for i in range(count - 1)]
    lines.append(f'key_prefix "{h.KEY_PREFIX.split("/")[0]}/" {{ policy = "write" }}')
    return "\n".join(lines) + "\n"


def make_token(server_rpc: str) -> str:
    """A token whose one policy holds the 50 rules, made with the management token
    through ACL.PolicySet/TokenSet on the server port."""

    async def make() -> str:
        pool = MuxPool()
        try:
            await pool.call(server_rpc, "ACL.PolicySet", {
                "Policy": {"Name": "bench-50", "Rules": rules()}, "Token": ROOT})
            token = await pool.call(server_rpc, "ACL.TokenSet", {
                "ACLToken": {"Policies": [{"Name": "bench-50"}]}, "Create": True,
                "Token": ROOT})
            return token["SecretID"]
        finally:
            await pool.close()

    return asyncio.run(make())


def acl_config(workdir: str) -> str:
    path = Path(workdir) / "acl.json"
    # the default token lets the harness's unauthenticated readiness write through
    path.write_text(json.dumps({"acl": {"enabled": True, "default_policy": "deny",
                                        "tokens": {"initial_management": ROOT, "agent": ROOT,
                                                   "default": ROOT}}}))
    return str(path)


def with_token(reqs: list[h.Req], token: str) -> list[h.Req]:
    return [dataclasses.replace(r, headers=(*r.headers, ("X-Consul-Token", token)))
            for r in reqs]


def micro(rounds: int = 7, number: int = 100_000) -> None:
    """Microseconds of CPU per call, in this process, of what a stale KV GET asks of
    the server's ACL code: resolve the 50-rule token (cached) and check key:read, as
    the general path does and as the KV short way does."""
    from proconsul.agent.http.kv_fast_acl import KeyDecisions
    from proconsul.server.acl.resolver import TokenResolver
    from proconsul.server.acl_enforce import Enforcer
    from proconsul.state.store import Store
    from proconsul.structs.acl import ACLLink, ACLPolicy, ACLToken

    store = Store()
    with store.write(1) as tx:
        store.acl_policy_set(tx, ACLPolicy(ID="p", Name="bench-50", Rules=rules()))
    with store.write(2) as tx:
        store.acl_token_set(tx, ACLToken(AccessorID="a", SecretID="s",
                                         Policies=[ACLLink(ID="p")]))
    enforcer = Enforcer(TokenResolver(store, "dc1", "deny"))
    reads = KeyDecisions(enforcer.resolver, "key_read")
    authz = enforcer.resolve("s").authorizer
    key = h.bench_keys(1)[0]
    figures = {"resolve (cached)": lambda: enforcer.resolve("s"),
               "key_read": lambda: authz.key_read(key),
               "resolve + require key_read": lambda: enforcer.resolve("s").require("key_read", key),
               "short way (remembered answer)": functools.partial(reads.allowed, "s", key)}
    for name, call in figures.items():
        best = min(timeit.repeat(call, number=number, repeat=rounds, timer=time.process_time))
        print(f"{name:<32} {best / number * 1e6:.3f} µs")


class _Counted:
    """One durable server under callgrind; instructions are counted only when asked."""

    def __init__(self, label: str, workdir: Path, extra_args: list[str] | None) -> None:
        self.dumps = workdir / f"callgrind-{label}"
        self.dumps.mkdir()
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={self.dumps}/out", sys.executable, "-c", AGENT_MAIN]
        self.cluster = h.start_proconsul(servers=1, dev=False, label=label, cmd=cmd,
                                         extra_args=extra_args, deadline_s=300)
        self.pid = self.cluster.procs[0].pid

    def instructions(self, run: Callable[[], Any]) -> tuple[int, float, Any]:
        """(instructions, seconds, what ``run()`` returned) while ``run()`` runs."""
        before = set(self.dumps.iterdir())
        callgrind(self.pid, "-i", "on")
        started = time.monotonic()
        result = run()
        callgrind(self.pid, "-i", "off")
        elapsed = time.monotonic() - started
        callgrind(self.pid, "-d")
        (dump,) = set(self.dumps.iterdir()) - before
        return callgrind_total(dump), elapsed, result


def callgrind_figures(workdir: Path, duration: int, rounds: int) -> None:
    """Thousands of instructions per stale GET with ACLs off and on (idle subtracted)."""
    keys = h.bench_keys(200)
    sides: dict[str, list[float]] = {"off": [], "on": []}
    servers = []
    try:
        for side in ("off", "on"):
            extra = ["-config-file", acl_config(str(workdir))] if side == "on" else None
            server = _Counted(f"cg-{side}", workdir, extra)
            servers.append(server)
            h.preload_kv(server.cluster, keys)
            reqs = h.kv_requests("consul", "get-stale", keys)
            if side == "on":
                reqs = with_token(reqs, make_token(server.cluster.info["server_rpc"][0]))
            script = h.write_script(reqs, workdir / f"cg-{side}.lua")
            idle, seconds, _ = server.instructions(lambda: time.sleep(duration))
            idle_rate = idle / seconds
            for i in range(rounds + 1):  # the first run warms up
                total, seconds, (res, _) = server.instructions(functools.partial(
                    h.run_wrk, server.cluster.url + "/", script, 4, duration,
                    timeout_s=duration * 5))
                if i:
                    sides[side].append((total - idle_rate * seconds) / res.requests / 1e3)
            print(f"get-stale ACLs {side:<3} " + "  ".join(f"{k:.1f}" for k in sides[side])
                  + " k instructions/request", file=sys.stderr)
    finally:
        for server in servers:
            server.cluster.stop()
    off, on = (sum(sides[s]) / len(sides[s]) for s in ("off", "on"))
    print(f"\nget-stale under callgrind, {rounds} x {duration} s per side: ACLs off "
          f"{off:.1f} k instructions/request, on {on:.1f}; off/on {off / on:.3f} "
          f"(target >= {TARGET_RATIO})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="whole seconds per wrk run (10)")
    p.add_argument("--quick", action="store_true", help="2 s per run")
    p.add_argument("--rounds", type=int, default=2, help="on/off alternations per scenario (2)")
    p.add_argument("--management", action="store_true",
                   help="use the management token instead of the 50-rule one")
    p.add_argument("--micro", action="store_true",
                   help="only the in-process figures of the server's per-request ACL work")
    p.add_argument("--callgrind", action="store_true",
                   help="only instructions per stale GET under valgrind, off vs on")
    a = p.parse_args(argv)
    if a.micro:
        micro()
        return 0
    duration = 2 if a.quick else a.duration
    h.install_cleanup()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="bench-acl-")
    if a.callgrind:
        try:
            callgrind_figures(Path(workdir), duration, a.rounds)
        finally:
            h.stop_all()
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    keys = h.bench_keys()
    clusters: list[h.Cluster] = []
    try:
        off = h.start_proconsul(servers=1, dev=False, label="acl-off")
        clusters.append(off)
        on = h.start_proconsul(servers=1, dev=False, label="acl-on",
                               extra_args=["-config-file", acl_config(workdir)])
        clusters.append(on)
        token = ROOT if a.management else make_token(on.info["server_rpc"][0])
        for cluster in clusters:
            h.preload_kv(cluster, keys)
        results = []
        for name, op, conns in SCENARIOS:
            reqs = h.kv_requests("consul", op, keys)
            scripts = {
                "off": h.write_script(reqs, Path(workdir) / f"{op}-off.lua"),
                "on": h.write_script(with_token(reqs, token), Path(workdir) / f"{op}-on.lua")}
            rps: dict[str, list[float]] = {"on": [], "off": []}
            cpu: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(a.rounds):
                for side, cluster in (("off", off), ("on", on)):
                    pid = cluster.procs[0].pid
                    cpu0 = cpu_seconds(pid)
                    res, _ = h.run_wrk(cluster.url + "/", scripts[side], conns, duration)
                    cpu_us = (cpu_seconds(pid) - cpu0) / max(res.requests, 1) * 1e6
                    problems = res.problems()
                    if problems:
                        raise RuntimeError(f"{name} ACLs {side}: {'; '.join(problems)}")
                    rps[side].append(res.ok_rps)
                    cpu[side].append(cpu_us)
                    print(f"{name:<15} ACLs {side:<3} {res.ok_rps:>9,.0f} ops/s  "
                          f"{cpu_us:6.1f} µs CPU/req  "
                          f"p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms", file=sys.stderr)
            on_rps, off_rps = sum(rps["on"]) / a.rounds, sum(rps["off"]) / a.rounds
            on_cpu, off_cpu = sum(cpu["on"]) / a.rounds, sum(cpu["off"]) / a.rounds
            results.append([name, h.fmt_ops(off_rps), h.fmt_ops(on_rps),
                            f"{on_rps / off_rps:.2f}" if off_rps else "-",
                            f"{off_cpu:.1f}", f"{on_cpu:.1f}",
                            f"{off_cpu / on_cpu:.2f}" if on_cpu else "-"])
        print(f"\nACL cost: 1 durable server each, {duration} s x {a.rounds} runs per side, "
              f"token: {'management' if a.management else '50 key_prefix rules'}, "
              f"default_policy deny; target ratio >= "
              f"{TARGET_RATIO}")
        h.print_table(results, ["scenario", "ACLs off ops/s", "ACLs on ops/s", "on/off",
                                "off µs CPU/req", "on µs CPU/req", "CPU off/on"])
        return 0
    finally:
        for cluster in clusters:
            cluster.stop()
        h.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
