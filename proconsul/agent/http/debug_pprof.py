"""/debug/pprof/*: with ``enable_debug``, Python equivalents of Go's pprof handlers.

Consul registers these only when ``enable_debug`` is set (or ACLs are on, which
Proconsul does not have yet); otherwise the paths are unknown (404). The profile
and trace sample the event loop's stack from a worker thread, so the loop keeps
serving while they run.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading

from proconsul.agent import profiling
from proconsul.lib import httpserver as web

MAX_SAMPLERS = 2  # profiles and traces at once; more wait their turn

PROFILES = {
    "allocs": "A summary of the objects the garbage collector tracks (same as heap)",
    "goroutine": "Stack traces of every thread and every asyncio task",
    "heap": "A summary of the objects the garbage collector tracks, and allocation sites "
            "with PYTHONTRACEMALLOC=1",
    "threadcreate": "Stack traces of every thread and every asyncio task (same as goroutine)",
}
EXTRA = {
    "cmdline": "The command line of this process",
    "profile": "CPU profile: the event loop's stack sampled for ?seconds= (default 30), as "
               "collapsed stacks",
    "trace": "The event loop's stack, in time order, for ?seconds= (default 1)",
}


def _seconds(request: web.Request, default: float, parse) -> float:
    """Go's pprof rule: a value that does not parse or is not positive means the default."""
    try:
        value = parse(request.query.get("seconds", ""))
    except ValueError:
        return default
    return value if value > 0 else default


async def _sample(request: web.Request, function, *args) -> str:
    """Run a sampler in its own daemon thread (not the loop's default executor, which DNS
    lookups share, and never holding up the process's exit), a few at a time."""
    loop = asyncio.get_running_loop()
    gate = request.app.setdefault("pprof_samplers", asyncio.Semaphore(MAX_SAMPLERS))
    async with gate:
        done: asyncio.Future[str] = loop.create_future()

        def settle(result: str | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        def run() -> None:
            try:
                result, error = function(*args), None
            except Exception as err:  # handed to the request, which reports it
                result, error = None, err
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=run, name="pprof-sampler", daemon=True).start()
        return await done


def _text(text: str, name: str | None = None) -> web.Response:
    headers = {"X-Content-Type-Options": "nosniff"}
    if name is not None:
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.Response(text=text, headers=headers)


async def index(request: web.Request) -> web.Response:
    entries = {**PROFILES, **EXTRA}
    lines = ["/debug/pprof/", "", "Profiles (Python equivalents of Go's pprof):", ""]
    lines += [f"  {name:<13} {entries[name]}" for name in sorted(entries)]
    return _text("\n".join(lines) + "\n")


async def profile(request: web.Request) -> web.Response:
    seconds = _seconds(request, 30, int)
    loop_thread = threading.get_ident()
    text = await _sample(request, profiling.cpu_profile, loop_thread, seconds)
    return _text(text, "profile")


async def trace(request: web.Request) -> web.Response:
    seconds = _seconds(request, 1, float)
    loop_thread = threading.get_ident()
    text = await _sample(request, profiling.trace, loop_thread, seconds)
    return _text(text, "trace")


async def cmdline(request: web.Request) -> web.Response:
    return _text("\x00".join(sys.orig_argv))


async def named(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name in ("heap", "allocs"):
        collect = request.query.get("gc", "") not in ("", "0")
        return _text(profiling.heap_summary(collect=collect), name)
    if name in ("goroutine", "threadcreate"):
        return _text(profiling.stack_dump(), name)
    return web.Response(status=404, text="Unknown profile\n",
                        headers={"X-Content-Type-Options": "nosniff"})


def add_routes(router: web.Router) -> None:
    router.add_get("/debug/pprof/", index)
    router.add_get("/debug/pprof/profile", profile)
    router.add_get("/debug/pprof/trace", trace)
    router.add_get("/debug/pprof/cmdline", cmdline)
    router.add_get("/debug/pprof/{name}", named)
