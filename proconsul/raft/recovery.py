"""Manual outage recovery from ``raft/peers.json``, as Consul documents it.

When a quorum is lost for good, the operator writes the surviving servers to
``<data_dir>/raft/peers.json`` on each of them (v3 format:
``[{"id": ..., "address": "ip:port", "non_voter": false}]``) and restarts
them. At start the server appends that configuration to its log -- the
equivalent of hashicorp/raft's ``RecoverCluster`` -- and deletes the file,
so the recovered servers elect a leader among themselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from proconsul.raft.config import Configuration, Server, Suffrage
from proconsul.raft.messages import Entry, EntryType, HardState
from proconsul.raft.storage import RaftStorage

log = logging.getLogger(__name__)

PEERS_FILE = "peers.json"


class PeersFileError(ValueError):
    """``peers.json`` is not a valid v3 peers file."""


class _Peer(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    address: str
    non_voter: bool = False


def read_peers_json(path: str | os.PathLike[str]) -> Configuration:
    """Parse a v3 ``peers.json`` into a configuration."""
    try:
        peers = msgspec.json.decode(Path(path).read_bytes(), type=list[_Peer])
    except msgspec.DecodeError as err:
        raise PeersFileError(f"{path}: {err} (expected the v3 format "
                             '[{"id": ..., "address": "ip:port", "non_voter": false}])') from None
    servers = tuple(
        Server(p.id, p.address, Suffrage.NONVOTER if p.non_voter else Suffrage.VOTER)
        for p in peers
    )
    if len({s.id for s in servers}) != len(servers):
        raise PeersFileError(f"{path}: duplicate server IDs")
    configuration = Configuration(servers)
    if not configuration.voters():
        raise PeersFileError(f"{path}: no voters")
    return configuration


def recover_cluster(storage: RaftStorage, configuration: Configuration) -> int:
    """Force ``configuration`` on a stopped server's storage; returns its log index.

    The configuration is appended after everything stored, in the current
    term, so it overrides every earlier membership once the server starts.
    """
    hard_state = storage.stable.load()
    snapshot = storage.snapshots.latest
    last_index = storage.log.last_index or (snapshot.index if snapshot else 0)
    last_term = storage.log.term(last_index) if storage.log.last_index else (
        snapshot.term if snapshot else 0)
    term = max(hard_state.term, last_term or 0, 1)
    if term != hard_state.term:
        storage.stable.save(HardState(term, None))
    index = last_index + 1
    storage.log.append([Entry(index, term, EntryType.CONFIGURATION, configuration.encode())])
    storage.log.sync()
    return index


def recover_from_peers_file(storage: RaftStorage, raft_dir: str | os.PathLike[str]) -> bool:
    """Apply and delete ``raft_dir/peers.json`` if present; True if it was."""
    path = Path(raft_dir) / PEERS_FILE
    if not path.exists():
        return False
    configuration = read_peers_json(path)
    index = recover_cluster(storage, configuration)
    path.unlink()
    log.warning("raft: recovered cluster configuration from %s at index %d: %s",
                path, index, [f"{s.id}@{s.address}" for s in configuration.servers])
    return True
