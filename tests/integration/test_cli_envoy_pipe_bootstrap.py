"""``proconsul connect envoy pipe-bootstrap``: the bootstrap from stdin through a FIFO."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support.cli_process import cli_env, run_cli

BOOTSTRAP = b'{"node": {"id": "web-sidecar-proxy"}, "admin": {}}' * 2000  # > a pipe buffer


def start(path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "proconsul", "connect", "envoy",
                             "pipe-bootstrap", str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(None))


def test_writes_stdin_to_the_reader_of_the_fifo_then_unlinks_it(tmp_path):
    fifo = tmp_path / "envoy-bootstrap.json"
    os.mkfifo(fifo, 0o600)
    shim = start(fifo)
    shim.stdin.write(BOOTSTRAP)
    shim.stdin.close()
    with open(fifo, "rb") as reader:  # as Envoy does: blocks until the shim opens it too
        received = reader.read()
    assert shim.wait(timeout=30) == 0
    assert received == BOOTSTRAP
    assert shim.stderr.read() == b"Bootstrap sent, unlinking named pipe\n"
    assert not fifo.exists()


def test_a_plain_file_is_appended_to_and_removed(tmp_path):
    file = tmp_path / "bootstrap.json"
    file.write_bytes(b"")
    result = run_cli(None, "connect", "envoy", "pipe-bootstrap", str(file), stdin=b"{}")
    assert result.returncode == 0, result.stderr
    assert not file.exists()


def test_gives_up_and_removes_the_fifo_when_no_reader_comes(tmp_path):
    fifo = tmp_path / "never-read.json"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    shim = start(fifo)
    shim.stdin.write(b"{}")
    shim.stdin.close()
    assert shim.wait(timeout=30) == 99
    assert time.monotonic() - started >= 10
    assert not fifo.exists()


def test_errors(tmp_path):
    none = run_cli(None, "connect", "envoy", "pipe-bootstrap")
    assert (none.returncode, none.stderr) == (1, b"Expecting named pipe path as argument\n")
    missing = tmp_path / "no" / "such"
    result = run_cli(None, "connect", "envoy", "pipe-bootstrap", str(missing), stdin=b"{}")
    assert (result.returncode, result.stderr.decode()) == (
        1, f"open {missing}: no such file or directory\n")
    full = run_cli(None, "connect", "envoy", "pipe-bootstrap", "/dev/full", stdin=b"{}")
    assert (full.returncode, full.stderr) == (1, b"write /dev/full: no space left on device\n")
