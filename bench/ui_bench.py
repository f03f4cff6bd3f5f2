"""Web UI bench: time to first render of the services view, and the page's JS heap.

Registers ``--services`` services x ``--instances`` instances (each with a passing check)
on a ``-dev`` agent through concurrent ``/v1/catalog/register`` calls, then opens
``/ui/dc1/services`` in headless Chromium (Debian's ``/usr/bin/chromium``, a fresh profile
per run) and reads the page's own mark of its first painted list (``performance.now()``
from navigation start), and the JS heap through the DevTools protocol (used size, after
a forced GC too). Also times ``/v1/internal/ui/services`` on its own. Targets (issue #21):
first render < 1 s and heap < 100 MB with 5,000 x 3.

    python bench/ui_bench.py [--services 5000] [--instances 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness as h  # noqa: E402

from tests.support.browser import chromium  # noqa: E402

RENDERED = "proconsul:services-rendered"
TARGET_RENDER_S, TARGET_HEAP_MB = 1.0, 100.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--services", type=int, default=5000)
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--out", default="bench/results/ui_bench.json")
    return p.parse_args(argv)


async def register(url: str, services: int, instances: int, nodes: int, concurrency: int) -> float:
    """Every instance through the catalog's HTTP API, ``concurrency`` at a time; seconds taken."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for i in range(services):
        for k in range(instances):
            n = (i * instances + k) % nodes
            sid = f"svc-{i:05d}-{k}"
            queue.put_nowait({
                "Node": f"node-{n:04d}", "Address": f"10.1.{n // 250}.{n % 250 + 1}",
                "Service": {"ID": sid, "Service": f"svc-{i:05d}", "Port": 8000 + k,
                            "Tags": ["bench", f"shard-{i % 16}"]},
                "Check": {"CheckID": f"{sid}-check", "Name": "up", "ServiceID": sid,
                          "Status": "passing"}})
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with session.put(f"{url}/v1/catalog/register", json=body) as reply:
                    if reply.status != 200:
                        raise SystemExit(f"register failed: {reply.status} {await reply.text()}")
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


def endpoint_time(url: str) -> tuple[float, int]:
    started = time.monotonic()
    status, body = h.http_once(f"{url}/v1/internal/ui/services", timeout=60)
    if status != 200:
        raise SystemExit(f"/v1/internal/ui/services: {status}")
    return time.monotonic() - started, len(body)


def one_run(url: str, services: int) -> dict:
    with chromium(1280, 800) as found:
        page = found.page
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"{url}/ui/dc1/services")
        page.wait_for_function(f"performance.getEntriesByName('{RENDERED}').length > 0",
                               timeout=60_000)
        render_ms = page.evaluate(f"performance.getEntriesByName('{RENDERED}')[0].startTime")
        rows = page.locator("#service-rows tr").count()
        listed = int(page.inner_text("#service-count").split(" of ")[1].split()[0])
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        cdp.send("HeapProfiler.collectGarbage")
        after_gc = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        if found.problems:
            raise SystemExit(f"page problems: {found.problems}")
    if listed < services:
        raise SystemExit(f"only {listed} services listed of {services}")
    return {"first_render_s": render_ms / 1000, "rows_painted": rows, "services_listed": listed,
            "js_heap_used_mb": metrics["JSHeapUsedSize"] / 2**20,
            "js_heap_used_after_gc_mb": after_gc["JSHeapUsedSize"] / 2**20,
            "js_heap_total_mb": metrics["JSHeapTotalSize"] / 2**20,
            "dom_nodes": int(metrics["Nodes"])}


def main(argv=None) -> int:
    args = parse_args(argv)
    h.install_cleanup()
    # its own server and DNS ports: the defaults may be taken by another agent on the box
    cluster = h.start_proconsul(dev=True, label="ui-bench", extra_args=[
        "-server-port", str(h.free_ports(1)[0]), "-dns-port", "-1"])
    try:
        url = cluster.url
        took = asyncio.run(register(url, args.services, args.instances, args.nodes,
                                    args.concurrency))
        total = args.services * args.instances
        print(f"registered {total} instances in {took:.1f}s ({total / took:.0f}/s)",
              file=sys.stderr)
        endpoint = [endpoint_time(url) for _ in range(3)]
        runs = [one_run(url, args.services) for _ in range(args.runs)]
    finally:
        cluster.stop()
    render = statistics.median(r["first_render_s"] for r in runs)
    heap = max(r["js_heap_used_mb"] for r in runs)
    result = {"services": args.services, "instances": args.instances, "nodes": args.nodes,
              "register_s": took, "endpoint_s": [round(t, 3) for t, _ in endpoint],
              "endpoint_bytes": endpoint[0][1], "runs": runs,
              "first_render_median_s": render, "js_heap_max_mb": heap,
              "targets_met": render < TARGET_RENDER_S and heap < TARGET_HEAP_MB}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"first render {render:.3f}s (target < {TARGET_RENDER_S}s), JS heap {heap:.1f} MB "
          f"(target < {TARGET_HEAP_MB} MB)", file=sys.stderr)
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
