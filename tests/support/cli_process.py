"""Run the real ``proconsul`` CLI against an agent process."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.agent_process import AgentProcess


def cli_env(agent: AgentProcess | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    if agent is not None:
        env["CONSUL_HTTP_ADDR"] = f"{agent.host}:{agent.port}"
    env.update(extra)
    return env


def run_cli(agent: AgentProcess | None, *args: str, stdin: bytes = b"",
            timeout: float = 30, **env: str) -> subprocess.CompletedProcess:
    """``proconsul ARGS`` to completion; stdout/stderr are bytes."""
    return subprocess.run([sys.executable, "-m", "proconsul", *args], input=stdin,
                          capture_output=True, timeout=timeout, env=cli_env(agent, **env))


def start_cli(agent: AgentProcess, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "proconsul", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env(agent, **env))
