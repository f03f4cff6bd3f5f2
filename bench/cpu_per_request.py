"""CPU per request of one durable Proconsul server, by request kind.

Wall-clock throughput on a shared machine is noisy; the CPU time the agent
process spends per request is not (much). For every revision asked for, this
starts one durable server (``agent -server -bootstrap-expect 1 -data-dir D``,
fsync before replying, like ``kv_bench.py --servers 1``), drives each kind of
request at it with wrk for a few seconds, reads the agent's user+sys CPU from
``/proc/<pid>/stat`` (and its event-loop thread's from
``/proc/<pid>/task/<pid>/stat``) before and after, and prints microseconds of
CPU per completed request (all of it, the user-space part -- what the code can cut; the
rest is the kernel's: socket calls, writes and fdatasync -- and the loop thread's):

    put          PUT /v1/kv/<key> (100-byte value, durable)
    get-stale    GET /v1/kv/<key>?stale
    get          GET /v1/kv/<key> (default consistency)
    register     PUT /v1/catalog/register (a node with one service, 1,000 nodes cycled)
    health       GET /v1/health/service/<name> (3 instances with a passing check each)

It also prints a CPU-speed figure, the seconds this Python takes for a fixed
loop of 10 million additions, so runs on different machines compare.

    python bench/cpu_per_request.py                       # this checkout
    python bench/cpu_per_request.py --rev main --rev .    # main (git archive) and this checkout

``--rev`` is a git revision (extracted with ``git archive`` into a temp dir
and run with this interpreter, ``PYTHONPATH`` pointing at it), ``.`` for
the working tree, or the path of a source tree (e.g. one built with mypyc). Revisions take turns per kind (``--rounds`` times) so a
change in the machine's load hits them alike; the table gives the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
KINDS = ("put", "get-stale", "get", "register", "health")
SERVICE = "bench-svc"
AGENT_MAIN = "import sys; from proconsul.cli.main import main; sys.exit(main())"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", action="append", default=[],
                   help="git revision to measure, or '.' for the working tree (repeatable; "
                        "default '.')")
    p.add_argument("--kind", action="append", choices=KINDS, default=[],
                   help="request kind (repeatable; default all)")
    p.add_argument("--duration", type=int, default=4, help="seconds of load per kind per round")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--rounds", type=int, default=1, help="measurements per kind and revision")
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--callgrind", action="store_true",
                   help="run the agents under valgrind's callgrind and count the instructions "
                        "per request (load-independent; the agent runs ~50x slower)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temp dir (wrk scripts, callgrind dumps for callgrind_annotate)")
    return p.parse_args(argv)


def cpu_seconds(pid: int, tid: int | None = None) -> tuple[float, float]:
    """(user, sys) CPU seconds of a process (or of one of its threads) from /proc."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def prepare_tree(rev: str, tmp: Path) -> Path:
    """The source tree of ``rev``: this checkout for '.', a directory as is (e.g. a
    compiled build), else a ``git archive`` extract of the revision."""
    if rev == ".":
        return REPO
    if os.path.isdir(rev):
        return Path(rev)
    out = tmp / rev.replace("/", "_")
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def register_body(i: int) -> bytes:
    return (f'{{"Node":"bench-node-{i:04d}","Address":"10.1.{i // 256}.{i % 256}",'
            f'"Service":{{"Service":"reg-svc","Port":{8000 + i % 100}}}}}').encode()


def requests_for(kind: str, keys: list[str]) -> list[h.Req]:
    if kind == "put":
        return h.kv_requests("consul", "put", keys)
    if kind in ("get", "get-stale"):
        return h.kv_requests("consul", kind, keys)
    if kind == "register":
        return [h.Req("PUT", "/v1/catalog/register", register_body(i)) for i in range(len(keys))]
    if kind == "health":
        return [h.Req("GET", f"/v1/health/service/{SERVICE}")]
    raise ValueError(kind)


def preload_health(url: str) -> None:
    for i in range(3):
        body = (f'{{"Node":"svc-node-{i}","Address":"10.2.0.{i}","Service":{{"ID":"{SERVICE}-{i}",'
                f'"Service":"{SERVICE}","Port":80}},"Check":{{"CheckID":"c{i}","Name":"alive",'
                f'"Status":"passing","ServiceID":"{SERVICE}-{i}"}}}}').encode()
        status, text = h.http_once(url + "/v1/catalog/register", "PUT", body)
        if status != 200:
            raise RuntimeError(f"catalog register for the health query: {status} {text[:200]!r}")


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True,
                   timeout=120)


def callgrind_total(dump: Path) -> int:
    """Instructions executed (Ir) in one callgrind dump."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


class Target:
    """One durable server running one revision's code."""

    def __init__(self, rev: str, tree: Path, a: argparse.Namespace, keys: list[str],
                 label: str, tmp: Path):
        self.rev = rev
        self.dumps = tmp / f"callgrind-{label}" if a.callgrind else None
        cmd = [sys.executable, "-P", "-c", AGENT_MAIN]  # -P: no cwd on sys.path
        if self.dumps is not None:
            self.dumps.mkdir()
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={self.dumps}/out", *cmd]
        env_path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(tree)
        try:
            self.cluster = h.start_proconsul(servers=1, dev=False, label=label, cmd=cmd,
                                             deadline_s=a.start_timeout)
        finally:
            if env_path is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = env_path
        self.idle_rate = 0.0
        self.url = self.cluster.url
        self.pid = self.cluster.procs[0].pid
        h.preload_kv(self.cluster, keys)
        preload_health(self.url)

    def measure(self, kind: str, script: Path, a: argparse.Namespace) -> dict:
        if self.dumps is not None:
            callgrind(self.pid, "-i", "on")
            started = time.monotonic()
        proc0, loop0 = cpu_seconds(self.pid), cpu_seconds(self.pid, self.pid)
        res, _raw = h.run_wrk(self.url, script, a.connections, a.duration,
                              timeout_s=30 if a.callgrind else None)
        proc1, loop1 = cpu_seconds(self.pid), cpu_seconds(self.pid, self.pid)
        if res.problems():
            raise RuntimeError(f"{self.rev} {kind}: {'; '.join(res.problems())}")
        n = res.requests
        out = {"requests": n, "ops_s": res.ok_rps,
               "cpu_us": (sum(proc1) - sum(proc0)) / n * 1e6,
               "user_us": (proc1[0] - proc0[0]) / n * 1e6,
               "loop_us": (sum(loop1) - sum(loop0)) / n * 1e6}
        if self.dumps is not None:
            callgrind(self.pid, "-i", "off")
            elapsed = time.monotonic() - started
            busy = self._dump() - self.idle_rate * elapsed  # less what it does when idle
            out["kinstr"] = busy / n / 1e3
        return out

    def measure_idle(self, seconds: float) -> None:
        """Instructions per second of the agent with no requests (timers, gossip, raft)."""
        callgrind(self.pid, "-i", "on")
        started = time.monotonic()
        time.sleep(seconds)
        callgrind(self.pid, "-i", "off")
        self.idle_rate = self._dump() / (time.monotonic() - started)

    def _dump(self) -> int:
        """Instructions counted since the last dump (callgrind writes a new file)."""
        assert self.dumps is not None
        before = set(self.dumps.iterdir())
        callgrind(self.pid, "-d")
        (dump,) = set(self.dumps.iterdir()) - before
        return callgrind_total(dump)


def main(argv=None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    revs = a.rev or ["."]
    kinds = a.kind or list(KINDS)
    keys = h.bench_keys(a.keys)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    print(f"{h.cpu_speed_note(h.cpu_speed())}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    results: dict[str, dict[str, list[dict]]] = {r: {k: [] for k in kinds} for r in revs}
    targets: list[Target] = []
    try:
        scripts = {k: h.write_script(requests_for(k, keys), tmp / f"{k}.lua") for k in kinds}
        targets = [Target(r, prepare_tree(r, tmp), a, keys, f"cpu-{i}", tmp)
                   for i, r in enumerate(revs)]
        if a.callgrind:
            for t in targets:
                t.measure_idle(a.duration)
                print(f"{t.rev}: {t.idle_rate / 1e6:.1f} M instructions/s when idle "
                      "(subtracted)", flush=True)
        for kind in kinds:
            for _ in range(a.rounds):
                for t in targets:
                    results[t.rev][kind].append(t.measure(kind, scripts[kind], a))
    finally:
        h.finish_runs([t.cluster for t in targets], tmp, a.keep,
                      " (wrk scripts, callgrind dumps)")

    headers = ["kind"]
    for r in revs:
        headers += [f"{r} CPU µs/req", "user µs", "loop µs", "ops/s"]
        if a.callgrind:
            headers.append("k instr/req")
    if len(revs) == 2:
        headers.append("after/before")
    rows = []
    for kind in kinds:
        row = [kind]
        meds = []
        for r in revs:
            runs = results[r][kind]
            med = statistics.median(x["cpu_us"] for x in runs)
            meds.append(med)
            row += [f"{med:.1f}", f"{statistics.median(x['user_us'] for x in runs):.1f}",
                    f"{statistics.median(x['loop_us'] for x in runs):.1f}",
                    f"{statistics.median(x['ops_s'] for x in runs):,.0f}"]
            if a.callgrind:
                instr = statistics.median(x["kinstr"] for x in runs)
                row.append(f"{instr:.1f}")
                meds[-1] = instr  # the ratio compares instructions, which load does not change
        if len(revs) == 2:
            row.append(f"{meds[1] / meds[0]:.2f}")
        rows.append(row)
    print(f"\none durable server, wrk -c{a.connections}, {a.duration} s x {a.rounds} round(s) "
          f"per kind; load average now {os.getloadavg()[0]:.2f}")
    h.print_table(rows, headers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
