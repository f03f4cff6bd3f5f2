"""Runtime gauges, sampled every second like go-metrics' runtime collector."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import socket
import sys
from typing import Any

from proconsul.lib.metrics import Metrics
from proconsul.lib.statsd import FLUSH_INTERVAL, AddressError, UDPSink
from proconsul.lib.taskcount import live_tasks
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent.telemetry")

RUNTIME_PERIOD = 1.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def configure(metrics: Metrics, tree: dict[str, Any]) -> None:
    """``telemetry``: the host name in gauge names unless ``disable_hostname``, the
    ``metrics_prefix``, the prefix filter and the statsd / DogStatsD sinks.

    Raises ConsulError for a sink address that is not ``host:port``, before changing
    anything (so a reload with one keeps the settings in force).
    """
    telemetry = tree.get("telemetry", {})
    try:
        sinks = []
        if telemetry.get("statsd_address"):
            sinks.append(UDPSink(telemetry["statsd_address"]))
        if telemetry.get("dogstatsd_addr"):
            sinks.append(UDPSink(telemetry["dogstatsd_addr"], dogstatsd=True,
                                 tags=tuple(telemetry.get("dogstatsd_tags") or ())))
    except AddressError as err:
        raise ConsulError(f"telemetry: {err}") from None
    metrics.hostname = "" if telemetry.get("disable_hostname", False) else socket.gethostname()
    allowed, blocked = [], []
    for rule in telemetry.get("prefix_filter") or []:
        if not rule:
            log.warning("Cannot have empty filter rule in prefix_filter")
        elif rule[0] in "+-":
            (allowed if rule[0] == "+" else blocked).append(rule[1:])
        else:
            log.warning("Filter rule must begin with either '+' or '-': %r", rule)
    prefix = telemetry.get("metrics_prefix")
    metrics.configure(service="consul" if prefix is None else prefix,
                      filter_default=telemetry.get("filter_default", True),
                      allowed=tuple(allowed), blocked=tuple(blocked))
    for sink in metrics.sinks:
        sink.close()
    metrics.sinks = sinks


async def flush_sinks(metrics: Metrics, period: float = FLUSH_INTERVAL) -> None:
    """Send the sinks' buffered lines every ``period`` seconds, until cancelled."""
    try:
        while True:
            await asyncio.sleep(period)
            for sink in metrics.sinks:
                sink.flush()
    finally:
        for sink in metrics.sinks:
            sink.flush()


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
    metrics.set_gauge("consul.runtime.num_goroutines", live_tasks())
    metrics.set_gauge("consul.runtime.alloc_bytes", rss_bytes())
    metrics.set_gauge("consul.runtime.total_gc_runs",
                      sum(s["collections"] for s in gc.get_stats()))


async def emit_runtime_metrics(metrics: Metrics, period: float = RUNTIME_PERIOD) -> None:
    """Record the runtime gauges now and every ``period`` seconds, until cancelled."""
    while True:
        record_runtime(metrics)
        await asyncio.sleep(period)
