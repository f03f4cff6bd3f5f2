"""``proconsul join``, ``force-leave`` and ``leave`` against real agents."""

from __future__ import annotations

from tests.support.agent_process import start_agent, wait_until
from tests.support.cli_process import run_cli


def statuses(agent) -> dict[str, int]:
    return {m["Name"]: m["Status"] for m in agent.get("/v1/agent/members").json()}


def test_join_force_leave_and_leave():
    alpha = start_agent("-node", "alpha")
    beta = start_agent("-node", "beta")
    try:
        joined = run_cli(beta, "join", alpha.lan_address)
        assert joined.returncode == 0, joined.stderr
        assert joined.stdout.decode().strip() == \
            "Successfully joined cluster by contacting 1 nodes."
        wait_until(lambda: statuses(alpha).get("beta") == 1, what="beta alive in alpha")
        assert run_cli(beta, "join", "127.0.0.1:1").returncode == 1
        beta.kill()
        wait_until(lambda: statuses(alpha).get("beta") == 4, timeout=30, what="beta failed")
        forced = run_cli(alpha, "force-leave", "beta")
        assert forced.returncode == 0, forced.stderr
        wait_until(lambda: statuses(alpha).get("beta") == 3, what="beta left")
        assert run_cli(alpha, "force-leave", "nobody").returncode == 1
        left = run_cli(alpha, "leave")
        assert left.returncode == 0, left.stderr
        assert "Graceful leave complete" in left.stdout.decode()
        assert alpha.process.wait(15) == 0
    finally:
        alpha.stop()
        beta.stop()
