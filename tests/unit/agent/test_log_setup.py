"""Log outputs: the rotating file (Consul's naming and pruning), hclog JSON lines, syslog."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest

from proconsul.agent import log_setup
from proconsul.agent.log_setup import LogFile, log_handlers, setup_logging
from proconsul.structs.errors import ConsulError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotates_by_bytes_into_timestamped_files(tmp_path):
    log_file = LogFile(str(tmp_path / "agent.log"), max_bytes=100)
    for i in range(5):
        log_file.write(f"line {i:02d} " + "x" * 60 + "\n")  # 69 bytes: two per file
    log_file.close()
    rotated = log_file.rotated_files()
    assert len(rotated) == 2
    for path in rotated:
        name = os.path.basename(path)
        assert name.startswith("agent-") and name.endswith(".log")
        assert name[len("agent-"):-len(".log")].isdigit()  # unix nanoseconds, as Consul
        assert os.path.getsize(path) == 138
    assert (tmp_path / "agent.log").read_text().startswith("line 04 ")
    assert [Path(p).read_text()[:7] for p in rotated] == ["line 00", "line 02"]


def test_keeps_only_max_files_rotated_files(tmp_path):
    log_file = LogFile(str(tmp_path / "agent.log"), max_bytes=1, max_files=2)
    for i in range(6):
        log_file.write(f"line {i}\n")
    log_file.close()
    rotated = log_file.rotated_files()
    assert [Path(p).read_text() for p in rotated] == ["line 3\n", "line 4\n"]
    assert (tmp_path / "agent.log").read_text() == "line 5\n"


def test_negative_max_files_keeps_no_rotated_file(tmp_path):
    log_file = LogFile(str(tmp_path / "agent.log"), max_bytes=1, max_files=-1)
    for i in range(3):
        log_file.write(f"line {i}\n")
    log_file.close()
    assert log_file.rotated_files() == []
    assert sorted(os.listdir(tmp_path)) == ["agent.log"]


def test_rotates_by_age(tmp_path):
    clock = Clock()
    log_file = LogFile(str(tmp_path / "agent.log"), duration=60, clock=clock)
    log_file.write("first\n")
    clock.now += 59
    log_file.write("second\n")
    assert log_file.rotated_files() == []
    clock.now += 1
    log_file.write("third\n")
    log_file.close()
    [rotated] = log_file.rotated_files()
    assert Path(rotated).read_text() == "first\nsecond\n"
    assert (tmp_path / "agent.log").read_text() == "third\n"


@pytest.mark.parametrize("as_dir", ["trailing-slash", "existing-dir"])
def test_directory_means_consul_log_inside(tmp_path, as_dir):
    path = str(tmp_path) + "/" if as_dir == "trailing-slash" else str(tmp_path)
    log_file = LogFile(path, max_bytes=1)
    log_file.write("a\n")
    log_file.write("b\n")
    log_file.close()
    assert log_file.path == str(tmp_path / "consul.log")
    [rotated] = log_file.rotated_files()
    assert os.path.basename(rotated).startswith("consul-")
    assert (tmp_path / "consul.log").read_text() == "b\n"


def test_file_without_extension_rotates_to_dot_log(tmp_path):
    log_file = LogFile(str(tmp_path / "agent"), max_bytes=1)
    log_file.write("a\n")
    log_file.write("b\n")
    log_file.close()
    [rotated] = log_file.rotated_files()
    assert os.path.basename(rotated).startswith("agent-") and rotated.endswith(".log")


def _emit(handlers, level=logging.INFO, msg="hello %s", args=("world",), name="agent"):
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    for handler in handlers:
        handler.handle(record)
        handler.flush()


def test_json_lines_have_hclog_shape(tmp_path):
    stream = io.StringIO()
    handlers = log_handlers({"log_json": True, "log_file": str(tmp_path / "a.log")}, stream)
    _emit(handlers)
    _emit(handlers, logging.WARNING, "careful", (), "agent.server")
    for handler in handlers:
        handler.close()
    for text in (stream.getvalue(), (tmp_path / "a.log").read_text()):
        lines = [json.loads(line) for line in text.splitlines()]
        assert [(d["@level"], d["@message"], d["@module"]) for d in lines] == \
            [("info", "hello world", "agent"), ("warn", "careful", "agent.server")]
        assert all(set(d) == {"@level", "@message", "@module", "@timestamp"} for d in lines)


def test_text_lines_have_hclog_shape():
    stream = io.StringIO()
    _emit(log_handlers({}, stream))
    line = stream.getvalue()
    assert line.endswith(" [INFO]  agent: hello world\n")
    assert line[4] == "-" and line[10] == "T"


def test_unwritable_log_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConsulError, match=r"^Failed to setup logging: .*/missing/a.log: "):
        log_handlers({"log_file": str(tmp_path / "missing" / "a.log")})


def test_syslog_without_socket_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(log_setup, "SYSLOG_SOCKETS", ("/nonexistent/log",))
    with pytest.raises(ConsulError, match=r"^Syslog setup failed: no syslog socket"):
        log_handlers({"enable_syslog": True})


def test_unknown_syslog_facility(monkeypatch):
    with pytest.raises(ConsulError, match="unknown syslog_facility 'NOPE'"):
        log_handlers({"enable_syslog": True, "syslog_facility": "NOPE"})


def test_syslog_lines_reach_the_socket(tmp_path, monkeypatch):
    import socket
    path = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setattr(log_setup, "SYSLOG_SOCKETS", (path,))
        handlers = log_handlers({"enable_syslog": True, "syslog_facility": "LOCAL3"},
                                io.StringIO())
        _emit(handlers)
        datagram = server.recv(4096).decode()
        for handler in handlers:
            handler.close()
    # <priority>: LOCAL3 (19) * 8 + info (6)
    assert datagram.startswith("<158>consul: ")
    assert "[INFO]  agent: hello world" in datagram


def test_setup_replaces_root_handlers(tmp_path):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging({"log_file": str(tmp_path / "x.log")}, logging.DEBUG, io.StringIO())
        assert len(root.handlers) == 2 and root.level == logging.DEBUG
        logging.getLogger("agent").debug("to the file")
        assert "to the file" in (tmp_path / "x.log").read_text()
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_a_restart_appends_and_counts_what_is_there(tmp_path):
    path = tmp_path / "agent.log"
    path.write_text("x" * 90 + "\n")
    log_file = LogFile(str(path), max_bytes=100)
    log_file.write("after restart\n")  # 91 bytes so far: no rotation yet
    log_file.write("third\n")
    log_file.close()
    [rotated] = log_file.rotated_files()
    assert Path(rotated).read_text() == "x" * 90 + "\nafter restart\n"
    assert path.read_text() == "third\n"


def test_pruning_never_touches_other_files(tmp_path):
    other = tmp_path / "agent-notes.log"
    other.write_text("mine")
    log_file = LogFile(str(tmp_path / "agent.log"), max_bytes=1, max_files=-1)
    for i in range(3):
        log_file.write(f"line {i}\n")
    log_file.close()
    assert other.read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["agent-notes.log", "agent.log"]


def test_undecodable_text_is_escaped_not_an_error(tmp_path):
    log_file = LogFile(str(tmp_path / "agent.log"))
    log_file.write("key col\udcff\n")  # a surrogate-escaped byte from an invalid UTF-8 key
    log_file.close()
    assert (tmp_path / "agent.log").read_text() == "key col\\udcff\n"


def test_a_failed_rotation_keeps_logging_to_the_same_file(tmp_path, monkeypatch):
    log_file = LogFile(str(tmp_path / "agent.log"), max_bytes=1)
    log_file.write("one\n")
    monkeypatch.setattr(os, "rename", lambda *a: (_ for _ in ()).throw(OSError(28, "full")))
    with pytest.raises(OSError):
        log_file.write("two\n")
    monkeypatch.undo()
    log_file.write("three\n")
    log_file.close()
    assert (tmp_path / "agent.log").read_text() == "one\nthree\n"


def test_undecodable_text_reaches_every_output_escaped(tmp_path):
    stream = io.StringIO()
    handlers = log_handlers({"log_file": str(tmp_path / "a.log")}, stream)
    _emit(handlers, msg="url=/v1/kv/col%s", args=("\udcff",))
    for handler in handlers:
        handler.close()
    for text in (stream.getvalue(), (tmp_path / "a.log").read_text()):
        assert text.endswith("agent: url=/v1/kv/col\\udcff\n")
        text.encode("utf-8")
