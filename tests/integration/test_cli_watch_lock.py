"""``proconsul watch`` and ``proconsul lock`` against a real agent."""

import json
import os
import signal
import subprocess
import sys

from tests.support.agent_process import wait_until
from tests.support.cli_process import cli_env, run_cli, start_cli


def test_watch_without_handler_prints_once_and_exits(agent, unique):
    agent.put(f"/v1/kv/{unique}/k", b"value")
    result = run_cli(agent, "watch", "-type=key", f"-key={unique}/k")
    assert result.returncode == 0
    pair = json.loads(result.stdout)
    assert pair["Key"] == f"{unique}/k" and pair["Value"] == "dmFsdWU="
    assert result.stdout.decode().startswith('{\n    "Key": ')


def test_watch_on_missing_key_waits_for_it(agent, unique):
    watcher = start_cli(agent, "watch", "-type=key", f"-key={unique}/later")
    try:
        agent.put(f"/v1/kv/{unique}/later", b"now")
        stdout, _ = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert watcher.returncode == 0
    assert json.loads(stdout)["Key"] == f"{unique}/later"


def test_watch_handler_gets_json_on_stdin_for_each_change(agent, unique, tmp_path):
    log = tmp_path / "seen"
    handler = (f"{sys.executable} -c \"import sys, os; "
               f"open('{log}', 'a').write(os.environ['CONSUL_INDEX'] + ' ' + "
               f"sys.stdin.read())\"")
    agent.put(f"/v1/kv/{unique}/a", b"1")
    watcher = start_cli(agent, "watch", "-type=keyprefix", f"-prefix={unique}/", handler)
    try:
        wait_until(lambda: log.exists() and log.read_text().count("\n") >= 1,
                   what="the first handler run")
        agent.put(f"/v1/kv/{unique}/b", b"2")
        wait_until(lambda: log.read_text().count("\n") >= 2, what="the second handler run")
    finally:
        watcher.send_signal(signal.SIGINT)
        try:  # 10 s were too few twice in 2 full runs at load 15-25 (passed 30 of 30 alone)
            _, stderr = watcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            watcher.kill()
            raise AssertionError(f"watch ignored SIGINT: {watcher.communicate()[1]!r}") from None
    assert watcher.returncode == 0, stderr
    first, second = log.read_text().splitlines()
    index, payload = second.split(" ", 1)
    assert int(index) >= int(first.split(" ", 1)[0])
    assert [p["Key"] for p in json.loads(first.split(" ", 1)[1])] == [f"{unique}/a"]
    assert [p["Key"] for p in json.loads(payload)] == [f"{unique}/a", f"{unique}/b"]


def _started(*args: str, agent, ready, stdout=subprocess.PIPE) -> subprocess.Popen:
    """``proconsul ARGS`` started with SIGINT ignored, as an xdist worker or a shell's
    background job starts its children; returns once ``ready()`` holds."""
    proc = subprocess.Popen([sys.executable, "-m", "proconsul", *args], stdout=stdout,
                            stderr=subprocess.PIPE, env=cli_env(agent), start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_until(ready, what=f"{args[0]} running")
    except BaseException:
        _kill_group(proc)
        raise
    return proc


def _kill_group(proc: subprocess.Popen) -> None:
    """The command and its children (a lock's child holds the pipes open)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _interrupted(proc: subprocess.Popen) -> int:
    try:
        proc.send_signal(signal.SIGINT)
        return proc.wait(60)
    finally:
        _kill_group(proc)


def test_watch_stops_on_sigint_even_if_started_with_it_ignored(agent, unique, tmp_path):
    """Three full runs had a watch ignore SIGINT for 60 s: its xdist worker passed on an
    ignored SIGINT, which a Python child keeps (Go's signal.Notify does not)."""
    ran = tmp_path / "ran"
    watcher = _started("watch", "-type=keyprefix", f"-prefix={unique}/", f"touch {ran}",
                       agent=agent, ready=ran.exists)
    assert _interrupted(watcher) == 0


def test_lock_and_monitor_stop_on_sigint_even_if_started_with_it_ignored(
        agent, unique, tmp_path):
    def held() -> bool:
        return agent.get(f"/v1/kv/{unique}/.lock").status == 200

    locker = _started("lock", unique, "sleep 300", agent=agent, ready=held)
    assert _interrupted(locker) == 0
    wait_until(lambda: not held(), what="the lock released")

    streamed = tmp_path / "monitor.out"

    def streaming() -> bool:  # each request logs a debug line the monitor streams
        agent.get("/v1/agent/self")
        return streamed.stat().st_size > 0

    with streamed.open("wb") as out:
        monitor = _started("monitor", "-log-level=debug", agent=agent, ready=streaming,
                           stdout=out)
        assert _interrupted(monitor) == 0


def test_watch_usage_errors(agent):
    assert run_cli(agent, "watch").stderr == b"Watch type must be specified\n"
    bad = run_cli(agent, "watch", "-type=bogus")
    assert bad.returncode == 1 and b"Unsupported watch type: bogus" in bad.stderr
    assert b"Must specify a single key" in run_cli(agent, "watch", "-type=key").stderr


def test_lock_runs_child_while_held_and_releases(agent, unique):
    result = run_cli(agent, "lock", "-child-exit-code", unique,
                     "echo held=$CONSUL_LOCK_HELD; exit 3")
    assert result.stdout == b"held=true\n"
    assert result.returncode == 2
    assert agent.get(f"/v1/kv/{unique}/.lock").status == 404  # released and cleaned up
    assert not [s for s in agent.get("/v1/session/list").json()
                if s["Name"].endswith(f"at '{unique}'")]  # its session was destroyed


def test_lock_timeout_when_held_elsewhere(agent, unique):
    session = agent.put("/v1/session/create", {}).json()["ID"]
    flags = 0x2DDCCBC058A50C18
    assert agent.put(f"/v1/kv/{unique}/.lock?acquire={session}&flags={flags}", b"").json()
    result = run_cli(agent, "lock", "-timeout=500ms", unique, "echo should-not-run")
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr == b"Shutdown triggered or timeout during lock acquisition\n"


def test_semaphore_admits_n_holders(agent, unique, tmp_path):
    gate = tmp_path / "gate"
    holder = start_cli(agent, "lock", "-n=2", unique,
                       f"touch {tmp_path}/first; while [ ! -e {gate} ]; do sleep 0.05; done")
    try:
        wait_until(lambda: (tmp_path / "first").exists(), what="the first holder")
        second = run_cli(agent, "lock", "-n=2", "-timeout=5s", unique, "echo second")
        assert second.returncode == 0 and second.stdout == b"second\n"
        state = json.loads(agent.get(f"/v1/kv/{unique}/.lock?raw").body)
        assert state["Limit"] == 2 and len(state["Holders"]) == 1
        conflict = run_cli(agent, "lock", "-n=3", "-timeout=1s", unique, "true")
        assert conflict.returncode == 1 and b"semaphore limit conflict" in conflict.stderr
    finally:
        gate.touch()
        holder.wait(15)
    assert holder.returncode == 0


def test_lock_usage_errors(agent):
    assert run_cli(agent, "lock", "p").stderr == b"Key prefix and child command must be specified\n"
    assert run_cli(agent, "lock", "-n=0", "p", "true").stderr == \
        b"Lock holder limit must be positive\n"
