"""/debug/pprof/*: answered with enable_debug (as -dev sets it), unknown paths without it."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time

import pytest

from tests.support.agent_process import start_agent, wait_until

NOT_FOUND = "Invalid URL path: if attempting to use the HTTP API, ensure the path starts " \
            "with '/v1/'\n"


def test_profile_samples_the_loop_while_it_keeps_serving(agent):
    replies = []
    profiler = threading.Thread(
        target=lambda: replies.append(agent.get("/debug/pprof/profile?seconds=1")))
    started = time.monotonic()
    profiler.start()
    served = 0
    while profiler.is_alive():
        assert agent.get("/v1/agent/self").status == 200
        served += 1
    assert served >= 2  # the loop answered other requests during the profile
    [reply] = replies
    assert reply.status == 200
    assert time.monotonic() - started >= 1.0
    assert reply.headers["Content-Disposition"] == 'attachment; filename="profile"'
    header, _, body = reply.text.partition("\n# format: collapsed stacks")
    samples = int(header.split()[4])
    assert 10 <= samples <= 101  # 100 Hz for 1 s, fewer when the machine is loaded
    stacks = body.splitlines()[1:]
    assert sum(int(line.rpartition(" ")[2]) for line in stacks) == samples
    assert any("proconsul/cli/agent_command.py" in line for line in stacks)


@pytest.mark.parametrize(("path", "expected"), [
    ("/debug/pprof/", "goroutine"),
    ("/debug/pprof/heap", "top 40 types by count:"),
    ("/debug/pprof/allocs?gc=1", "objects tracked by the garbage collector"),
    ("/debug/pprof/goroutine", "asyncio tasks: "),
    ("/debug/pprof/threadcreate", "[MainThread]:"),
    ("/debug/pprof/trace?seconds=0.2", "# ms_since_start stack\n"),
    ("/debug/pprof/cmdline", "proconsul\x00agent"),
])
def test_debug_endpoints_answer(agent, path, expected):
    reply = agent.get(path)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert expected in reply.text


def test_goroutine_dump_shows_task_await_chains(agent):
    text = agent.get("/debug/pprof/goroutine").text
    assert "task " in text and "emit_runtime_metrics" in text
    assert "in emit_runtime_metrics" in text and "await asyncio.sleep(period)" in text


def test_unknown_profile(agent):
    reply = agent.get("/debug/pprof/block")
    assert (reply.status, reply.text) == (404, "Unknown profile\n")


def test_without_enable_debug_the_paths_are_unknown():
    agent = start_agent("-hcl", "enable_debug = false")
    try:
        for path in ("/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap",
                     "/debug/pprof/goroutine", "/debug/pprof/trace"):
            reply = agent.get(path)
            assert (reply.status, reply.text) == (404, NOT_FOUND), path
    finally:
        agent.stop()


def test_a_running_profile_does_not_hold_up_shutdown():
    agent = start_agent()
    try:
        def long_profile() -> None:
            with contextlib.suppress(OSError, http.client.HTTPException):  # cut at shutdown
                agent.get("/debug/pprof/profile?seconds=60", timeout=90)

        threading.Thread(target=long_profile, daemon=True).start()
        wait_until(lambda: "[pprof-sampler]" in agent.get("/debug/pprof/goroutine").text,
                   what="the profile to start")
    finally:
        started = time.monotonic()
        agent.stop()
    assert agent.process.returncode == 0
    assert time.monotonic() - started < 8
