"""peers.json parsing, RecoverCluster on stored state, and bootstrapping only pristine servers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from proconsul.raft.config import Configuration, RaftConfig, Server, Suffrage
from proconsul.raft.core import RaftCore
from proconsul.raft.messages import Entry, HardState
from proconsul.raft.recovery import PeersFileError, read_peers_json, recover_from_peers_file
from proconsul.raft.storage import RaftStorage


def test_peers_json_v3_is_parsed_and_other_shapes_refused(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    path.write_text(json.dumps([{"id": "a", "address": "10.0.0.1:8300", "non_voter": False},
                                {"id": "b", "address": "10.0.0.2:8300", "non_voter": True}]))
    assert read_peers_json(path) == Configuration((
        Server("a", "10.0.0.1:8300"), Server("b", "10.0.0.2:8300", Suffrage.NONVOTER)))
    for bad in (["10.0.0.1:8300"],  # the pre-v3 format
                [{"id": "a", "address": "x:1"}, {"id": "a", "address": "y:1"}],
                [{"id": "a", "address": "x:1", "non_voter": True}]):
        path.write_text(json.dumps(bad))
        with pytest.raises(PeersFileError):
            read_peers_json(path)


def test_recovery_appends_the_configuration_after_the_stored_log(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path)
    old = Configuration((Server("a", "a:1"), Server("b", "b:1"), Server("c", "c:1")))
    storage.bootstrap(old)
    storage.stable.save(HardState(4, "b"))
    storage.log.append([Entry(2, 3, data=b"x"), Entry(3, 4, data=b"y")])
    (tmp_path / "peers.json").write_text(json.dumps([{"id": "a", "address": "a:2"}]))
    assert recover_from_peers_file(storage, tmp_path)
    assert not (tmp_path / "peers.json").exists()
    assert not recover_from_peers_file(storage, tmp_path)
    storage.close()

    reopened = RaftStorage(tmp_path)
    assert reopened.log.last_index == 4 and reopened.log.term(4) == 4
    core = RaftCore("a", "a:2", RaftConfig(), random.Random(1),
                    hard_state=reopened.stable.load(), entries=reopened.log.entries())
    assert core.configuration == Configuration((Server("a", "a:2"),))
    core.tick(10.0)  # alone in the recovered configuration, it campaigns and wins
    assert core.is_leader


def test_bootstrap_only_on_a_pristine_server() -> None:
    configuration = Configuration((Server("a", "a:1"),))
    fresh = RaftCore("a", "a:1", RaftConfig(), random.Random(1))
    assert fresh.bootstrap(configuration)
    assert not fresh.bootstrap(configuration)
    ready = fresh.ready()
    assert ready.hard_state == HardState(1, None) and [e.index for e in ready.entries] == [1]
    used = RaftCore("a", "a:1", RaftConfig(), random.Random(1), hard_state=HardState(2, None))
    assert not used.bootstrap(configuration)
