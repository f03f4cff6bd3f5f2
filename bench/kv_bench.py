"""KV load benchmark: Proconsul vs etcd, side by side in one run.

    python bench/kv_bench.py --duration 10      # full run (~3 minutes)
    python bench/kv_bench.py --quick            # 2 s per run, smoke test
    python bench/kv_bench.py --self-test        # etcd in both columns (checks the harness)

See bench/README.md. 100-byte values over 1,000 keys; PUT at c=1/16/64, GET
(default consistency) and stale GET at c=16/64; wrk drives the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402

BUSY_WARN = 0.2  # warn when this much CPU is busy while the servers idle

# (name, op, connections)
SCENARIOS = [
    ("put c=1", "put", 1),
    ("put c=16", "put", 16),
    ("put c=64", "put", 64),
    ("get c=16", "get", 16),
    ("get c=64", "get", 64),
    ("get-stale c=16", "get-stale", 16),
    ("get-stale c=64", "get-stale", 64),
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Scenarios: " + ", ".join(s[0] for s in SCENARIOS))
    p.add_argument("--duration", type=int, default=10,
                   help="whole seconds per wrk run (10)")
    p.add_argument("--quick", action="store_true", help="2 s per run (smoke test)")
    p.add_argument("--self-test", action="store_true",
                   help="put a second etcd in the Proconsul column (verifies the harness)")
    p.add_argument("--suite", choices=["durable"],
                   help="durable: (a) 1 server vs 1 etcd, (b) 3 servers (leader) vs 3 etcd "
                        "members, (c) the same 3 servers through a client agent; one run, "
                        "three tables and the targets")
    p.add_argument("--proconsul-url", help="use a Proconsul (Consul API) already running here")
    p.add_argument("--proconsul-kind", choices=h.KINDS, default="consul",
                   help="API spoken at --proconsul-url (default consul)")
    p.add_argument("--proconsul-cmd",
                   help="proconsul program (agent args appended), or a full command line "
                        "containing {http_port}")
    p.add_argument("--proconsul-arg", action="append", default=[],
                   help="extra argument for the proconsul agent (repeatable)")
    p.add_argument("--servers", type=int, default=0, choices=[0, 1, 3],
                   help="durable Proconsul servers (-server -data-dir, fsync on) instead of "
                        "the default -dev agent (0); etcd gets as many members. With 3 the "
                        "load goes to the leader's HTTP address (etcd: member 0)")
    p.add_argument("--via-client", action="store_true",
                   help="with --servers 1|3: add a client agent and send the load through it")
    p.add_argument("--etcd-url", help="use an etcd already running here")
    p.add_argument("--scenario", action="append", default=[],
                   help="run only these scenarios (repeatable; e.g. 'put c=16' or 'put')")
    p.add_argument("--scenarios", default="",
                   help="comma-separated scenarios or ops, e.g. 'put,get-stale c=64'")
    p.add_argument("--keys", type=int, default=h.NUM_KEYS, help="distinct keys (1000)")
    p.add_argument("--value-size", type=int, default=h.VALUE_SIZE, help="value bytes (100)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (1)")
    p.add_argument("--wrk-timeout", type=int, default=None,
                   help="wrk --timeout, whole seconds (wrk's default: 2)")
    p.add_argument("--pause", type=float, default=1.0,
                   help="seconds between runs, spent measuring background CPU (1)")
    p.add_argument("--wait-idle", type=float, default=0.0,
                   help="before each run, wait up to this many seconds for the other "
                        "processes to leave the CPUs idle (0)")
    p.add_argument("--start-timeout", type=float, default=30.0, help="readiness deadline (30)")
    p.add_argument("--results-dir", default=str(h.RESULTS_DIR))
    p.add_argument("--no-json", action="store_true", help="do not write the JSON results")
    p.add_argument("--keep-workdir", action="store_true", help="keep data dirs and logs")
    a = p.parse_args(argv)
    if a.quick:
        a.duration = 2
    if a.duration < 1:
        p.error("--duration must be at least 1 (wrk takes whole seconds)")
    if a.self_test and (a.proconsul_url or a.proconsul_cmd):
        p.error("--self-test replaces the Proconsul side")
    if a.via_client and not a.servers:
        p.error("--via-client needs --servers 1 or 3 (a -dev agent is a server)")
    if a.suite and (a.self_test or a.proconsul_url or a.etcd_url or a.servers or a.via_client):
        p.error("--suite starts its own clusters")
    a.scenario = a.scenario + [s.strip() for s in a.scenarios.split(",") if s.strip()]
    return a


def select_scenarios(wanted: list[str]) -> list[tuple[str, str, int]]:
    if not wanted:
        return SCENARIOS
    chosen = [s for s in SCENARIOS if s[0] in wanted or s[1] in wanted]
    unknown = [w for w in wanted if not any(w in (s[0], s[1]) for s in SCENARIOS)]
    if not chosen or unknown:
        raise SystemExit(f"no scenario matches {unknown or wanted}; "
                         f"have: {[s[0] for s in SCENARIOS]}")
    return chosen


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def start_targets(a: argparse.Namespace, targets: list[h.Cluster]) -> None:
    """Append the Proconsul-column target, then the etcd one (so both get cleaned up)."""
    if a.self_test:
        left = h.start_etcd(1, label="etcd-b", deadline_s=a.start_timeout)
        left.info["note"] += " (self-test: etcd in the Proconsul column)"
    elif a.proconsul_url:
        left = h.attach(a.proconsul_url, a.proconsul_kind, "proconsul", a.start_timeout)
    else:
        try:
            left = h.start_proconsul(servers=a.servers or 1, dev=not a.servers,
                                     clients=1 if a.via_client else 0,
                                     cmd=a.proconsul_cmd, extra_args=a.proconsul_arg,
                                     deadline_s=a.start_timeout)
        except h.StartError as e:
            raise h.StartError(f"{e}\nhint: is Proconsul installed (pip install -e .)? Or use "
                               "--proconsul-cmd, --proconsul-url, or --self-test.") from e
    targets.append(left)
    log(f"{left.label}: {left.kind} API at {left.url} ({left.info.get('command', 'attached')})")
    if a.etcd_url:
        right = h.attach(a.etcd_url, "etcd", "etcd", a.start_timeout)
    else:
        right = h.start_etcd(max(a.servers, 1), label="etcd", deadline_s=a.start_timeout)
    targets.append(right)
    log(f"{right.label}: etcd {right.info.get('version', '?')} at {right.url} "
        f"({right.info.get('command', 'attached')})")


def durability_notes(targets: list[h.Cluster]) -> list[str]:
    notes = []
    for t in targets:
        d = t.info.get("durable")
        what = ("durable: fsyncs before replying" if d else
                "in memory (-dev), not durable" if d is False else "durability unknown (attached)")
        if t.info.get("servers", 1) > 1 or t.info.get("members", 1) > 1:
            what += f", {t.info.get('servers') or t.info.get('members')} members"
        notes.append(f"{t.label}: {what}, load sent to {t.url}")
    if any(t.info.get("dev") for t in targets):
        notes.append("-dev is in-memory while etcd is durable: not a like-for-like comparison "
                     "(use --servers 1|3 or --suite durable)")
    return notes


def _idle_wait(a: argparse.Namespace) -> float | None:
    busy = h.cpu_busy(max(a.pause, 0.5))  # the servers idle meanwhile
    waited_until = time.monotonic() + a.wait_idle
    while busy is not None and busy > BUSY_WARN and time.monotonic() < waited_until:
        busy = h.cpu_busy(1.0)
    if busy is not None and busy > BUSY_WARN:
        log(f"warning: {busy:.0%} of the CPUs busy before this run: something "
            "else is running, figures will be low and noisy")
    return busy


def measure(a: argparse.Namespace, left: h.Cluster, right: h.Cluster,
            scenarios: list[tuple[str, str, int]], keys: list[str], scripts_dir: Path,
            errors: list[str], background: list[float], tag: str = "") -> list[dict]:
    """Each scenario against ``left`` then ``right`` (their ``url``); one dict per scenario."""
    targets = [left, right]
    scripts = {}
    for t in targets:
        for op in {s[1] for s in scenarios}:
            if (t.kind, op) not in scripts:
                reqs = h.kv_requests(t.kind, op, keys, a.value_size)
                scripts[t.kind, op] = h.write_script(reqs, scripts_dir / f"{t.kind}-{op}.lua")
    results = []
    total = len(scenarios) * len(targets)
    n = 0
    for name, op, conns in scenarios:
        sc = {"name": name, "op": op, "connections": conns, "results": {}}
        results.append(sc)
        for t in targets:
            n += 1
            busy = _idle_wait(a)
            if busy is not None:
                background.append(busy)
            load = loadavg()
            where = f"{tag}{name} on {t.label}"
            try:
                res, raw = h.run_wrk(t.url + "/", scripts[t.kind, op], conns, a.duration,
                                     threads=a.wrk_threads, timeout_s=a.wrk_timeout)
            except h.WrkError as e:
                errors.append(f"{where}: {e}")
                sc["results"][t.label] = {"error": str(e)}
                log(f"{f'[{n}/{total}]':>7} {name:<15} {t.label:<10} ERROR "
                    f"{str(e).splitlines()[0]}")
                continue
            d = res.to_dict()
            d["background_cpu"] = busy
            d["loadavg_before"] = load
            d["url"] = t.url
            sc["results"][t.label] = d
            problems = res.problems()
            if problems:
                errors.append(f"{where}: " + "; ".join(problems))
                d["raw"] = raw
            log(f"{f'[{n}/{total}]':>7} {tag}{name:<15} {t.label:<10} {res.ok_rps:>10,.0f} ops/s"
                f"  p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms  (idle-time CPU busy "
                f"{'?' if busy is None else f'{busy:.0%}'}, load {load})"
                + (f"  ERRORS: {'; '.join(problems)}" if problems else ""))
        sc["ratio"] = h.ratio(sc["results"].get(left.label), sc["results"].get(right.label))
    return results


def cleanup(a: argparse.Namespace, targets: list[h.Cluster]) -> None:
    for t in targets:
        t.stop()
    for t in targets:
        if t.workdir and not a.keep_workdir:
            shutil.rmtree(t.workdir, ignore_errors=True)
        elif t.workdir:
            log(f"{t.label}: kept {t.workdir}")


def print_part(a: argparse.Namespace, title: str, left: h.Cluster, right: h.Cluster,
               results: list[dict], notes: list[str], keys: list[str]) -> None:
    print()
    print(f"{title}: {a.value_size}-byte values, {len(keys)} keys, {a.duration:g} s per run, "
          f"wrk -t{a.wrk_threads}; ops/s = successful responses per second; "
          f"ratio = {left.label}/{right.label} ops/s")
    if results:
        headers, rows = h.comparison_rows(results, left.label, right.label)
        h.print_table(rows, headers)
    for note in notes:
        print(f"note: {note}")


def print_errors(errors: list[str]) -> None:
    if errors:
        print(f"\n{len(errors)} problem(s) ('!' or ERR in the table):")
        for e in errors:
            print("  - " + e.splitlines()[0])


def run(a: argparse.Namespace) -> int:
    h.install_cleanup()
    if not shutil.which("wrk"):
        log("wrk not found: apt-get install -y wrk")
        return 2
    if a.suite:
        return run_suite(a)
    scenarios = select_scenarios(a.scenario)
    keys = h.bench_keys(a.keys)
    scripts_dir = Path(tempfile.mkdtemp(prefix="bench-kv-lua-"))
    targets: list[h.Cluster] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    errors: list[str] = []
    results: list[dict] = []
    background: list[float] = []  # CPU busy fraction measured before each run
    load_start = loadavg()
    speed = h.cpu_speed()
    try:
        start_targets(a, targets)
        left, right = targets
        for t in targets:
            secs = h.preload_kv(t, keys, a.value_size)
            log(f"{t.label}: preloaded {len(keys)} keys in {secs:.1f}s (read-back ok)")
        results = measure(a, left, right, scenarios, keys, scripts_dir, errors, background)
    except KeyboardInterrupt:
        log("interrupted")
        errors.append("interrupted")
    except (h.StartError, RuntimeError, OSError) as e:
        log(f"error: {e}")
        errors.append(str(e))
    finally:
        cleanup(a, targets)
        h.stop_all()
        shutil.rmtree(scripts_dir, ignore_errors=True)

    if len(targets) < 2:
        return 1
    left, right = targets
    notes = durability_notes(targets)
    notes.append(h.cpu_speed_note(speed))
    notes.append(f"load average (1/5/15 min) at start {load_start}, at end {loadavg()}; "
                 f"{os.cpu_count()} CPUs")
    if background and max(background) > BUSY_WARN:
        notes.append(f"the machine was not idle: up to {max(background):.0%} of the CPUs were "
                     "busy between runs (other processes); treat the figures as noisy")
    print_part(a, "KV benchmark", left, right, results, notes, keys)
    print_errors(errors)
    if not a.no_json and results:
        data = {
            "benchmark": "kv",
            "started": started,
            "params": {"duration_s": a.duration, "value_size": a.value_size, "keys": len(keys),
                       "wrk_threads": a.wrk_threads, "wrk_timeout_s": a.wrk_timeout,
                       "self_test": a.self_test, "servers": a.servers,
                       "via_client": a.via_client},
            "machine": h.machine_info(),
            "cpu_speed_s": speed,
            "wrk": h.wrk_version(),
            "targets": {"left": left.describe(), "right": right.describe()},
            "notes": notes,
            "scenarios": results,
            "background_cpu_max": max(background) if background else None,
            "errors": errors,
            "complete": not errors and len(results) == len(scenarios),
        }
        path = h.write_json(data, "kv", a.results_dir)
        print(f"\nresults: {path}")
    return 1 if errors else 0


# --------------------------------------------------------------------------
# --suite durable: the comparisons the issues ask for, in one run
# --------------------------------------------------------------------------

# part -> (title, scenario names, {scenario: minimum Proconsul/etcd ratio})
SUITE = [
    ("a", "(a) 1 durable Proconsul server vs 1 etcd node",
     ["put c=1", "put c=16", "put c=64", "get-stale c=64"],
     {"put c=64": 1.5, "get-stale c=64": 2.0}),
    ("b", "(b) 3 durable Proconsul servers (load to the leader) vs 3 etcd members (member 0)",
     ["put c=64", "get-stale c=64"], {"put c=64": 1.0}),
    ("c", "(c) the same 3 servers through a client agent vs 3 etcd members (member 0)",
     ["put c=64", "get-stale c=64"], {"put c=64": 1.0, "get-stale c=64": 1.5}),
]


def _view(cluster: h.Cluster, url: str) -> h.Cluster:
    """The same cluster, load sent to ``url``; stopping the view stops nothing."""
    return dataclasses.replace(cluster, urls=[url], procs=[], logs=[], workdir=None,
                               info={**cluster.info, "load_url": url})


def run_suite(a: argparse.Namespace) -> int:
    keys = h.bench_keys(a.keys)
    scripts_dir = Path(tempfile.mkdtemp(prefix="bench-kv-lua-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    errors: list[str] = []
    background: list[float] = []
    parts: dict[str, dict] = {}
    targets: list[h.Cluster] = []
    load_start = loadavg()
    speed = h.cpu_speed()

    def start_pair(servers: int, clients: int) -> tuple[h.Cluster, h.Cluster]:
        p = h.start_proconsul(servers=servers, dev=False, clients=clients,
                              cmd=a.proconsul_cmd, extra_args=a.proconsul_arg,
                              deadline_s=a.start_timeout)
        targets.append(p)
        e = h.start_etcd(servers, label="etcd", deadline_s=a.start_timeout)
        targets.append(e)
        log(f"proconsul x{servers} (+{clients} client): {p.urls}; leader "
            f"{p.info.get('leader_url')}; etcd x{servers}: {e.urls}")
        return p, e

    def part(key: str, left: h.Cluster, right: h.Cluster) -> None:
        _, title, names, _ = next(s for s in SUITE if s[0] == key)
        load0 = loadavg()
        res = measure(a, left, right, select_scenarios(names), keys, scripts_dir, errors,
                      background, tag=f"({key}) ")
        parts[key] = {"title": title, "left": left.describe(), "right": right.describe(),
                      "scenarios": res, "loadavg_start": load0, "loadavg_end": loadavg()}

    try:
        # (a)
        p1, e1 = start_pair(1, 0)
        for t in (p1, e1):
            secs = h.preload_kv(t, keys, a.value_size)
            log(f"{t.label} x1: preloaded {len(keys)} keys in {secs:.1f}s")
        part("a", p1, e1)
        cleanup(a, targets)
        targets.clear()
        # (b) and (c): one 3-server cluster with a client agent, one 3-member etcd
        p3, e3 = start_pair(3, 1)
        leader = p3.info.get("leader_url")
        if not leader:
            raise RuntimeError("no Proconsul leader found")
        via_leader, via_client = _view(p3, leader), _view(p3, p3.urls[0])
        e3_m0 = _view(e3, e3.urls[0])
        for t in (via_leader, e3_m0):
            secs = h.preload_kv(t, keys, a.value_size)
            log(f"{t.label} x3: preloaded {len(keys)} keys in {secs:.1f}s")
        part("b", via_leader, e3_m0)
        part("c", via_client, e3_m0)
        after = h.leader_url(p3)
        parts["c"]["leader_after"] = after
        if after != leader:
            errors.append(f"the Proconsul leader changed during the run: {leader} -> {after}")
    except KeyboardInterrupt:
        log("interrupted")
        errors.append("interrupted")
    except (h.StartError, RuntimeError, OSError) as e:
        log(f"error: {e}")
        errors.append(str(e))
    finally:
        cleanup(a, targets)
        h.stop_all()
        shutil.rmtree(scripts_dir, ignore_errors=True)

    verdicts = []
    for key, title, _names, goals in SUITE:
        pt = parts.get(key)
        if not pt:
            continue
        notes = [f"load average (1/5/15 min) {pt['loadavg_start']} before, "
                 f"{pt['loadavg_end']} after; {os.cpu_count()} CPUs; Proconsul load URL "
                 f"{pt['left']['urls'][0]}, etcd {pt['right']['urls'][0]}"]
        for sc in pt["scenarios"]:
            goal = goals.get(sc["name"])
            if goal is not None:
                r = sc.get("ratio")
                ok = r is not None and r >= goal
                sc["target"] = goal
                sc["met"] = ok
                v = (f"({key}) {sc['name']}: ratio {'-' if r is None else f'{r:.2f}'} "
                     f"target >= {goal:g} -> {'MET' if ok else 'MISSED'}")
                verdicts.append(v)
        print_part(a, title, _Label("proconsul"), _Label("etcd"), pt["scenarios"], notes, keys)
    if background:
        print(f"\nidle-time CPU busy before the runs: max {max(background):.0%}, "
              f"mean {sum(background) / len(background):.0%}; load average at start "
              f"{load_start}, at end {loadavg()}")
    print(f"\n{h.cpu_speed_note(speed)}")
    print("targets:")
    for v in verdicts:
        print("  " + v)
    print_errors(errors)
    if not a.no_json and parts:
        data = {"benchmark": "kv-durable-suite", "started": started,
                "params": {"duration_s": a.duration, "value_size": a.value_size,
                           "keys": len(keys), "wrk_threads": a.wrk_threads,
                           "wrk_timeout_s": a.wrk_timeout, "wait_idle_s": a.wait_idle},
                "machine": h.machine_info(), "cpu_speed_s": speed, "wrk": h.wrk_version(),
                "parts": parts,
                "verdicts": verdicts, "background_cpu": background, "errors": errors}
        path = h.write_json(data, "kv-suite", a.results_dir)
        print(f"\nresults: {path}")
    return 1 if errors else 0


@dataclasses.dataclass
class _Label:
    label: str


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
