"""The "agent logs" section beside a failed test: a summary line per agent, then short tails."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import agent_process
from tests.support.agent_process import AgentProcess, logs_of_agents_from

STARTUP = ["==> Starting Consul agent...\n", "       Node name: 'server-a'\n",
           "==> Log data will now stream in as it occurs:\n"]


def _agent(host: str, log: list[str], killed: bool) -> AgentProcess:
    agent = AgentProcess(host, 8500, subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"]), log=log)
    if killed:
        agent.kill()
    return agent


@pytest.fixture
def launched():
    saved = agent_process._launched[:]
    agents: list[AgentProcess] = []
    yield agents
    for agent in agents:
        agent.stop()
    agent_process._launched[:] = saved


def test_the_summary_comes_first_then_the_tails_with_what_was_skipped(launched):
    noisy = STARTUP + [f"2026-12-02T10:00:{i:02d}.000Z [INFO]  agent: line {i}\n"
                       for i in range(100)]
    noisy += ["2026-12-02T10:01:00.000Z [WARN]  raft: heartbeat failed\n",
              "2026-12-02T10:01:01.000Z [ERROR] agent: first failure\n",
              "2026-12-02T10:01:02.000Z [WARN]  raft: heartbeat failed\n",
              "2026-12-02T10:01:03.000Z [ERROR] raft: failed to contact quorum\n"]
    quiet = ["2026-12-02T10:00:00.000Z [INFO]  agent: started\n"]
    launched += [_agent("127.0.0.9", noisy, killed=True), _agent("127.0.0.10", quiet, False),
                 _agent("127.0.0.11", quiet, killed=True)]
    agent_process._launched[:] = [("tests/x.py", launched[0]), ("tests/other.py", launched[2]),
                                  ("tests/x.py", launched[1])]

    text = logs_of_agents_from("tests/x.py", lines=3)

    lines = text.splitlines()
    assert lines[0] == ("127.0.0.9:8500 node=server-a exit=-9 warn=2 error=2 last error: "
                        "2026-12-02T10:01:03.000Z [ERROR] raft: failed to contact quorum")
    assert lines[1] == "127.0.0.10:8500 node=? exit=None warn=0 error=0"
    assert lines[2:7] == ["===== agent on 127.0.0.9:8500", f"... {len(noisy) - 3} earlier "
                          "lines skipped", noisy[-3].rstrip(), noisy[-2].rstrip(),
                          noisy[-1].rstrip()]
    assert lines[7:] == ["===== agent on 127.0.0.10:8500", quiet[0].rstrip()]
    assert "127.0.0.11" not in text
