"""Runtime gauges, sampled every second like go-metrics' runtime collector."""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import socket
import sys
from typing import Any

from proconsul.lib.metrics import Metrics

RUNTIME_PERIOD = 1.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def configure(metrics: Metrics, tree: dict[str, Any]) -> None:
    """``telemetry``: gauge names carry the host name unless ``disable_hostname``."""
    disabled = tree.get("telemetry", {}).get("disable_hostname", False)
    metrics.hostname = "" if disabled else socket.gethostname()


def rss_bytes() -> int:
    """Resident set size: /proc/self/statm where present, else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def record_runtime(metrics: Metrics) -> None:
    """Consul's runtime gauges, with asyncio tasks standing in for goroutines."""
    metrics.set_gauge("consul.runtime.num_goroutines", len(asyncio.all_tasks()))
    metrics.set_gauge("consul.runtime.alloc_bytes", rss_bytes())
    metrics.set_gauge("consul.runtime.total_gc_runs",
                      sum(s["collections"] for s in gc.get_stats()))


async def emit_runtime_metrics(metrics: Metrics, period: float = RUNTIME_PERIOD) -> None:
    """Record the runtime gauges now and every ``period`` seconds, until cancelled."""
    while True:
        record_runtime(metrics)
        await asyncio.sleep(period)
