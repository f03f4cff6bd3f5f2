"""Scale benchmark: many watchers and a big catalog (issue #18), etcd beside Proconsul.

    python bench/scale_bench.py waiters [--waiters 10000]   # long-polls woken by one write
    python bench/scale_bench.py catalog [--nodes 5000]      # big catalog reads, registration
    python bench/scale_bench.py restart ...                 # bench/scale_restart.py, if present

Every figure is printed with the 1-minute load average beside it (the box is
shared). ``waiters`` parks half the long-polls on ``/v1/health/service/web`` and
half on a KV key of one durable server, wakes the first half with one catalog
registration and the second with one KV put, and reports per waiter the time
from the write to its reply (p50/p99), the first reply and the writer's own
reply; then the same client does the same against etcd's watch through its JSON
gateway (one watch per connection on two keys, one put each). ``catalog``
registers nodes × 4 services with a passing check each (registration rate), then
drives ``/v1/catalog/services``, ``/v1/health/service/svc-1?passing`` and
``/v1/catalog/nodes`` with wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402

WATCH_KEY = "bench/watch"
SERVICE = "web"
LIMITS = "limits { http_max_conns_per_client = 0 }"  # 0: no per-client cap


def load() -> float:
    return os.getloadavg()[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---- a raw asyncio HTTP client: one request per connection, arrival time of the reply ----

class Waiter(asyncio.Protocol):
    """One connection: sends ``request``; ``created`` resolves on the first bytes of the
    reply for a long-poll, or (``stream``) on the first chunk of a watch stream, and
    ``woken`` on the next bytes after ``arm()``."""

    def __init__(self, request: bytes, stream: bool) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.stream = stream
        self.created = loop.create_future()
        self.woken: asyncio.Future | None = None
        self.at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)
        if not self.stream:
            self.created.set_result(None)  # parked once the server has it

    def arm(self) -> None:
        self.woken = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.stream and not self.created.done():
            self.created.set_result(None)
            return
        if self.woken is not None and not self.woken.done():
            self.at = now
            self.woken.set_result(data)

    def connection_lost(self, exc) -> None:
        for f in (self.created, self.woken):
            if f is not None and not f.done():
                f.set_exception(ConnectionError("closed"))


def http_request(method: str, host: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    return head.encode() + b"\r\n" + body


async def open_waiters(host: str, port: int, requests: list[tuple[bytes, bool]],
                       batch: int = 500) -> list[Waiter]:
    loop = asyncio.get_running_loop()
    waiters: list[Waiter] = []
    for start in range(0, len(requests), batch):
        made = await asyncio.gather(*(loop.create_connection(
            lambda r=r, s=s: Waiter(r, s), host, port) for r, s in requests[start:start + batch]))
        waiters += [p for _, p in made]
    await asyncio.gather(*(w.created for w in waiters))
    return waiters


async def timed_write(host: str, port: int, request: bytes) -> float:
    """Send one write on a fresh connection; seconds until its reply's first bytes."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.monotonic()
    writer.write(request)
    await writer.drain()
    await reader.read(1)
    took = time.monotonic() - start
    writer.close()
    return took


def server_pid_idle(pid: int | None, quiet: float = 0.5, limit: float = 60.0) -> None:
    """Wait until ``pid`` spends under 5% CPU for ``quiet`` seconds (its waiters parked)."""
    if pid is None:
        time.sleep(2)
        return

    def cpu() -> int:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    tick = os.sysconf("SC_CLK_TCK")
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu()
        time.sleep(quiet)
        if (cpu() - before) / tick < 0.05 * quiet:
            return


async def wake_round(host: str, port: int, waiters: list[Waiter], write: bytes) -> dict:
    for w in waiters:
        w.arm()
    start = time.monotonic()
    writer_took = await timed_write(host, port, write)
    await asyncio.wait_for(asyncio.gather(*(w.woken for w in waiters)), 120)
    wakes = [(w.at - start) * 1000 for w in waiters]
    return {"waiters": len(waiters), "p50_ms": statistics.median(wakes),
            "p99_ms": pct(wakes, 0.99), "first_ms": min(wakes), "last_ms": max(wakes),
            "writer_ms": writer_took * 1000, "load": load()}


async def consul_waiters(url: str, n: int, pid: int | None) -> list[dict]:
    host, port = url.split("//")[1].split(":")
    port = int(port)
    status, _ = h.http_once(f"{url}/v1/kv/{WATCH_KEY}", "PUT", b"0")
    register = json.dumps({"Node": "bench-node-0", "Address": "10.0.0.1", "Service": {
        "Service": SERVICE, "ID": "web-0", "Port": 80}}).encode()
    h.http_once(f"{url}/v1/catalog/register", "PUT", register)
    http = h.Http(url)
    http.request("GET", f"/v1/health/service/{SERVICE}")
    health_index = http.last_headers["X-Consul-Index"]
    http.request("GET", f"/v1/kv/{WATCH_KEY}")
    kv_index = http.last_headers["X-Consul-Index"]
    http.close()
    half = n // 2
    reqs = [(http_request("GET", host, f"/v1/health/service/{SERVICE}?index={health_index}"
                          "&wait=5m"), False)] * half
    reqs += [(http_request("GET", host, f"/v1/kv/{WATCH_KEY}?index={kv_index}&wait=5m"),
              False)] * (n - half)
    waiters = await open_waiters(host, port, reqs)
    await asyncio.to_thread(server_pid_idle, pid)
    register = json.dumps({"Node": "bench-node-1", "Address": "10.0.0.2", "Service": {
        "Service": SERVICE, "ID": "web-1", "Port": 80}}).encode()
    health = await wake_round(host, port, waiters[:half],
                              http_request("PUT", host, "/v1/catalog/register", register))
    await asyncio.to_thread(server_pid_idle, pid)
    kv = await wake_round(host, port, waiters[half:],
                          http_request("PUT", host, f"/v1/kv/{WATCH_KEY}", b"1"))
    for w in waiters:
        w.transport.close()
    return [dict(health, what="health/service/web woken by a registration"),
            dict(kv, what="kv woken by a put")]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def etcd_waiters(url: str, n: int, pid: int | None) -> list[dict]:
    host, port = url.split("//")[1].split(":")
    port = int(port)
    keys = ["svc/" + SERVICE, WATCH_KEY]
    for key in keys:
        h.http_once(f"{url}/v3/kv/put", "POST",
                    json.dumps({"key": _b64(key), "value": _b64("0")}).encode())
    half = n // 2

    def watch(key: str) -> bytes:
        body = json.dumps({"create_request": {"key": _b64(key)}}).encode()
        return http_request("POST", host, "/v3/watch", body)

    reqs = [(watch(keys[0]), True)] * half + [(watch(keys[1]), True)] * (n - half)
    waiters = await open_waiters(host, port, reqs)
    await asyncio.to_thread(server_pid_idle, pid)
    rounds = []
    for what, key, group in (("watch svc/web woken by a put", keys[0], waiters[:half]),
                             ("watch kv woken by a put", keys[1], waiters[half:])):
        put = http_request("POST", host, "/v3/kv/put",
                           json.dumps({"key": _b64(key), "value": _b64("1")}).encode())
        rounds.append(dict(await wake_round(host, port, group, put), what=what))
        await asyncio.to_thread(server_pid_idle, pid)
    for w in waiters:
        w.transport.close()
    return rounds


def print_rounds(label: str, rounds: list[dict]) -> None:
    for r in rounds:
        print(f"  {label:9} {r['what']:45} n={r['waiters']:5}  p50 {r['p50_ms']:7.1f} ms  "
              f"p99 {r['p99_ms']:7.1f} ms  first {r['first_ms']:6.1f} ms  "
              f"writer {r['writer_ms']:6.1f} ms  (load {r['load']:.2f})")


def cmd_waiters(args: argparse.Namespace) -> dict:
    results: dict = {"waiters": args.waiters}
    consul = h.start_proconsul(servers=1, dev=False, extra_args=["-hcl", LIMITS])
    try:
        pid = consul.procs[0].pid if consul.procs else None
        results["proconsul"] = asyncio.run(consul_waiters(consul.url, args.waiters, pid))
    finally:
        consul.stop()
    print_rounds("proconsul", results["proconsul"])
    if not args.no_etcd:
        etcd = h.start_etcd(1)
        try:
            pid = etcd.procs[0].pid if etcd.procs else None
            results["etcd"] = asyncio.run(etcd_waiters(etcd.url, args.waiters, pid))
        finally:
            etcd.stop()
        print_rounds("etcd", results["etcd"])
        for ours, theirs in zip(results["proconsul"], results["etcd"], strict=True):
            print(f"  ratio p99 {ours['p99_ms'] / theirs['p99_ms']:.2f}  "
                  f"p50 {ours['p50_ms'] / theirs['p50_ms']:.2f}  ({ours['what']})")
    return results


# ---- catalog -----------------------------------------------------------------------------

SERVICES_PER_NODE = 4


async def register_all(url: str, nodes: int, concurrency: int) -> dict:
    host, port = url.split("//")[1].split(":")
    queue: asyncio.Queue = asyncio.Queue()
    for n in range(nodes):
        for s in range(SERVICES_PER_NODE):
            body = json.dumps({
                "Node": f"node-{n}", "Address": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                "Service": {"Service": f"svc-{s}", "ID": f"svc-{s}", "Port": 8000 + s,
                            "Tags": ["v1", f"t{s}"]},
                "Check": {"CheckID": f"svc-{s}-ok", "Name": "ok", "Status": "passing",
                          "ServiceID": f"svc-{s}"}}).encode()
            queue.put_nowait(http_request("PUT", host, "/v1/catalog/register", body))
    total = queue.qsize()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while not queue.empty():
            writer.write(queue.get_nowait())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"registration failed: {head!r}")
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.monotonic() - start
    return {"registrations": total, "seconds": took, "per_s": total / took, "load": load()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_catalog(args: argparse.Namespace) -> dict:
    results: dict = {"nodes": args.nodes}
    consul = h.start_proconsul(servers=1, dev=False, extra_args=["-hcl", LIMITS])
    try:
        reg = asyncio.run(register_all(consul.url, args.nodes, args.concurrency))
        results["register"] = reg
        print(f"  registration        {reg['per_s']:8.0f} /s  ({reg['registrations']} in "
              f"{reg['seconds']:.1f} s, c={args.concurrency})  (load {reg['load']:.2f})")
        results["reads"] = []
        for path, c in (("/v1/catalog/services", 16), ("/v1/health/service/svc-1?passing", 16),
                        ("/v1/catalog/nodes", 16)):
            script = Path(consul.workdir or "/tmp") / "scale_read.lua"
            h.write_script([h.Req("GET", path)], script)
            before, cpu = load(), cpu_seconds(consul.procs[0].pid)
            res, _ = h.run_wrk(consul.url, script, c, args.duration, timeout_s=10)
            cpu_ms = (cpu_seconds(consul.procs[0].pid) - cpu) * 1000 / max(1, res.requests)
            row = {"path": path, "connections": c, "rps": res.ok_rps, "p50_ms": res.p50_ms,
                   "p99_ms": res.p99_ms, "errors": res.errors, "server_cpu_ms": cpu_ms,
                   "load_before": before, "load": load()}
            results["reads"].append(row)
            print(f"  {path:38} {res.ok_rps:8.0f} req/s  p50 {res.p50_ms:7.1f} ms  "
                  f"p99 {res.p99_ms:7.1f} ms  server CPU {cpu_ms:5.2f} ms/req  "
                  f"errors {res.errors}  (load {row['load']:.2f})")
    finally:
        consul.stop()
    return results


def cmd_restart(argv: list[str]) -> int:
    path = Path(__file__).with_name("scale_restart.py")
    if not path.exists():
        print("bench/scale_restart.py is not there yet", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("scale_restart", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["restart"]:
        return cmd_restart(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("waiters", help="long-polls woken by one write, etcd beside")
    w.add_argument("--waiters", type=int, default=10_000)
    w.add_argument("--no-etcd", action="store_true")
    c = sub.add_parser("catalog", help="big catalog reads and registration rate")
    c.add_argument("--nodes", type=int, default=5000)
    c.add_argument("--concurrency", type=int, default=64)
    c.add_argument("--duration", type=int, default=10, help="wrk seconds per read")
    sub.add_parser("restart", help="durable restart (bench/scale_restart.py)")
    args = parser.parse_args(argv)
    h.install_cleanup()
    print(f"scale bench {args.command}: load {load():.2f}  {h.machine_info()}")
    results = cmd_waiters(args) if args.command == "waiters" else cmd_catalog(args)
    print("results:", h.write_json({"command": args.command, **results},
                                   f"scale_{args.command}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
