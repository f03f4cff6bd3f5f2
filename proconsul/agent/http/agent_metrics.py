"""/v1/agent/metrics, and the per-request timers and debug log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlencode

from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.metrics import Key, sample_key
from proconsul.lib.metrics import registry as metrics

log = logging.getLogger("agent.http")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STREAM_LAG = 0.05  # past an interval's end, so the summary is that (finished) interval

# (method, route) -> the sample keys of consul.api.http (labelled) and consul.http.<...>
_request_keys: dict[tuple[str, str | None], tuple[Key, Key]] = {}


def route_names(pattern: str) -> tuple[str, str]:
    """Consul's names for a route: the path label and the legacy key parts.

    ``/v1/kv/{key}`` → (``v1_kv_``, ``v1.kv._``): a parsed tail becomes ``_``.
    """
    prefix = "/".join("" if "{" in part else part for part in pattern.split("/"))
    parts = prefix[1:].split("/") if prefix != "/" else []
    return prefix[1:].replace("/", "_"), ".".join(p or "_" for p in parts)


def _log_url(request: web.Request) -> str:
    """The request's URL with any ``?token=`` hidden, as Consul logs it."""
    if "token" not in request.query:
        return request.path_qs
    query = urlencode([(k, "<hidden>" if k == "token" else v) for k, v in request.query.items()])
    return f"{request.path}?{query}"


def request_keys(method: str, route: str | None) -> tuple[Key, Key]:
    """The sample keys a request of ``method`` on ``route`` is timed under."""
    keys = _request_keys.get((method, route))
    if keys is None:
        path, parts = route_names(route or "/")
        legacy = f"consul.http.{method}.{parts}" if parts else f"consul.http.{method}"
        keys = _request_keys[method, route] = (
            sample_key("consul.api.http", {"method": method, "path": path}), sample_key(legacy))
    return keys


def observe_request(request: web.Request, start: float) -> None:
    """Time a request as ``consul.api.http`` (labelled) and ``consul.http.<METHOD>.<path>``,
    and log it at debug level ("Request finished") as Consul does."""
    keys = _request_keys.get((request.method, request.route)) or request_keys(
        request.method, request.route)
    elapsed_ms = (metrics.timer() - start) * 1000.0
    metrics.add_samples(keys, elapsed_ms)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("Request finished: method=%s url=%s from=%s latency=%.3fms",
                  request.method, _log_url(request), request.remote, elapsed_ms)


async def agent_metrics(request: web.Request) -> web.Response:
    if request.query.get("format") == "prometheus":
        return web.Response(body=metrics.prometheus().encode(),
                            headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})
    return json_reply(request, metrics.summary())


async def agent_metrics_stream(request: web.Request) -> web.StreamResponse:
    """Consul's ``/v1/agent/metrics/stream``: each interval's summary as a line of JSON
    when the interval ends, until the client goes away."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await response.prepare(request)
        while request.transport is not None and not request.transport.is_closing():
            now = time.time()
            await asyncio.sleep(metrics.interval - now % metrics.interval + STREAM_LAG)
            await response.write(json.dumps(metrics.summary()).encode() + b"\n")
    except ConnectionError:
        pass
    return response


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/metrics", agent_metrics)
    router.add_get("/v1/agent/metrics/stream", agent_metrics_stream)
