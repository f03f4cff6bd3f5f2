"""KV load benchmark: Proconsul vs etcd, side by side in one run.

    python bench/kv_bench.py --duration 10      # full run (~3 minutes)
    python bench/kv_bench.py --quick            # 2 s per run, smoke test
    python bench/kv_bench.py --self-test        # etcd in both columns (checks the harness)

See bench/README.md. 100-byte values over 1,000 keys; PUT at c=1/16/64, GET
(default consistency) and stale GET at c=16/64; wrk drives the load.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--proconsul-url", help="use a Proconsul (Consul API) already running here")
    p.add_argument("--proconsul-kind", choices=h.KINDS, default="consul",
                   help="API spoken at --proconsul-url (default consul)")
    p.add_argument("--proconsul-cmd",
                   help="proconsul program (agent args appended), or a full command line "
                        "containing {http_port}")
    p.add_argument("--proconsul-arg", action="append", default=[],
                   help="extra argument for the proconsul agent (repeatable)")
    p.add_argument("--servers", type=int, default=0,
                   help="durable Proconsul servers (-server -data-dir, fsync on) instead of -dev")
    p.add_argument("--etcd-url", help="use an etcd already running here")
    p.add_argument("--scenario", action="append", default=[],
                   help="run only these scenarios (repeatable; e.g. 'put c=16' or 'put')")
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
    return a


def select_scenarios(wanted: list[str]) -> list[tuple[str, str, int]]:
    if not wanted:
        return SCENARIOS
    chosen = [s for s in SCENARIOS if s[0] in wanted or s[1] in wanted]
    if not chosen:
        raise SystemExit(f"no scenario matches {wanted}; have: {[s[0] for s in SCENARIOS]}")
    return chosen


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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
        notes.append(f"{t.label}: {what}")
    if any(t.info.get("dev") for t in targets):
        notes.append("-dev is in-memory while etcd is durable: this is not yet a like-for-like "
                     "comparison; the durable one (3 servers vs 3 members) comes later.")
    return notes


def run(a: argparse.Namespace) -> int:
    h.install_cleanup()
    if not shutil.which("wrk"):
        log("wrk not found: apt-get install -y wrk")
        return 2
    scenarios = select_scenarios(a.scenario)
    keys = h.bench_keys(a.keys)
    scripts_dir = Path(tempfile.mkdtemp(prefix="bench-kv-lua-"))
    targets: list[h.Cluster] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    errors: list[str] = []
    results: list[dict] = []
    background: list[float] = []  # CPU busy fraction measured before each run
    try:
        start_targets(a, targets)
        left, right = targets
        for t in targets:
            secs = h.preload_kv(t, keys, a.value_size)
            log(f"{t.label}: preloaded {len(keys)} keys in {secs:.1f}s (read-back ok)")
        scripts = {}
        for t in targets:
            for op in {s[1] for s in scenarios}:
                if (t.kind, op) not in scripts:
                    reqs = h.kv_requests(t.kind, op, keys, a.value_size)
                    scripts[t.kind, op] = h.write_script(reqs, scripts_dir / f"{t.kind}-{op}.lua")
        total = len(scenarios) * len(targets)
        n = 0
        for name, op, conns in scenarios:
            sc = {"name": name, "op": op, "connections": conns, "results": {}}
            for t in targets:
                n += 1
                busy = h.cpu_busy(max(a.pause, 0.5))  # the servers idle meanwhile
                waited_until = time.monotonic() + a.wait_idle
                while busy is not None and busy > BUSY_WARN and time.monotonic() < waited_until:
                    busy = h.cpu_busy(1.0)
                if busy is not None:
                    background.append(busy)
                    if busy > BUSY_WARN:
                        log(f"warning: {busy:.0%} of the CPUs busy before this run: something "
                            "else is running, figures will be low and noisy")
                try:
                    res, raw = h.run_wrk(t.url + "/", scripts[t.kind, op], conns, a.duration,
                                         threads=a.wrk_threads, timeout_s=a.wrk_timeout)
                except h.WrkError as e:
                    errors.append(f"{name} on {t.label}: {e}")
                    sc["results"][t.label] = {"error": str(e)}
                    log(f"{f'[{n}/{total}]':>7} {name:<15} {t.label:<10} ERROR "
                        f"{str(e).splitlines()[0]}")
                    continue
                d = res.to_dict()
                d["background_cpu"] = busy
                sc["results"][t.label] = d
                problems = res.problems()
                if problems:
                    errors.append(f"{name} on {t.label}: " + "; ".join(problems))
                    d["raw"] = raw
                log(f"{f'[{n}/{total}]':>7} {name:<15} {t.label:<10} {res.ok_rps:>10,.0f} ops/s"
                    f"  p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms"
                    + (f"  ERRORS: {'; '.join(problems)}" if problems else ""))
            sc["ratio"] = h.ratio(sc["results"].get(left.label), sc["results"].get(right.label))
            results.append(sc)
    except KeyboardInterrupt:
        log("interrupted")
        errors.append("interrupted")
    except (h.StartError, RuntimeError, OSError) as e:
        log(f"error: {e}")
        errors.append(str(e))
    finally:
        for t in targets:
            t.stop()
        h.stop_all()
        shutil.rmtree(scripts_dir, ignore_errors=True)
        for t in targets:
            if t.workdir and not a.keep_workdir:
                shutil.rmtree(t.workdir, ignore_errors=True)
            elif t.workdir:
                log(f"{t.label}: kept {t.workdir}")

    if len(targets) < 2:
        return 1
    left, right = targets
    notes = durability_notes(targets)
    if background and max(background) > BUSY_WARN:
        notes.append(f"the machine was not idle: up to {max(background):.0%} of the CPUs were "
                     "busy between runs (other processes); treat the figures as noisy")
    print()
    print(f"KV benchmark: {a.value_size}-byte values, {len(keys)} keys, {a.duration:g} s per run, "
          f"wrk -t{a.wrk_threads}; ops/s = successful responses per second; "
          f"ratio = {left.label}/{right.label} ops/s")
    if results:
        headers, rows = h.comparison_rows(results, left.label, right.label)
        h.print_table(rows, headers)
    for note in notes:
        print(f"note: {note}")
    if errors:
        print(f"\n{len(errors)} problem(s) ('!' or ERR in the table):")
        for e in errors:
            print("  - " + e.splitlines()[0])
    if not a.no_json and results:
        data = {
            "benchmark": "kv",
            "started": started,
            "params": {"duration_s": a.duration, "value_size": a.value_size, "keys": len(keys),
                       "wrk_threads": a.wrk_threads, "wrk_timeout_s": a.wrk_timeout,
                       "self_test": a.self_test},
            "machine": h.machine_info(),
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


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
