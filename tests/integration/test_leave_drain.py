"""A server's graceful leave dwells for leave_drain_time, as Consul's does."""

from __future__ import annotations

import threading
from datetime import datetime

from proconsul.structs.errors import ERR_SERVER_LEAVING
from tests.support.agent_process import start_agent, wait_until
from tests.support.server_rpc import rpc


def logged_at(lines: list[str], text: str) -> datetime:
    line = next(line for line in lines if text in line)
    return datetime.fromisoformat(line.split()[0])


def test_a_leaving_server_refuses_rpcs_for_the_whole_drain_time() -> None:
    # Idle, nothing to wait for: it still stays, refusing retryably, so the servers that
    # take it for the leader until they elect the next one retry instead of finding
    # the connection closed under a write.
    agent = start_agent("-hcl", 'performance { leave_drain_time = "2s" }')
    try:
        port = agent.get("/v1/agent/self").json()["DebugConfig"]["ServerPort"]
        leave = threading.Thread(target=agent.put, args=("/v1/agent/leave",),
                                 kwargs={"timeout": 60})
        leave.start()
        wait_until(lambda: any("draining RPC traffic" in line for line in agent.log), 20,
                   "the drain to begin")
        header, _ = rpc(agent.host, port, "Status.Ping", {})
        assert header["Error"] == ERR_SERVER_LEAVING
        leave.join(60)
        assert agent.process.wait(30) == 0
    finally:
        agent.stop()
    drained = (logged_at(agent.log, "leaving: done")
               - logged_at(agent.log, "draining RPC traffic")).total_seconds()
    assert drained >= 2.0
