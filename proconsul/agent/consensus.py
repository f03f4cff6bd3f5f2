"""The server's consensus: durable Raft under ``data_dir/raft``, or in memory for ``-dev``.

Also what Consul does around it at start: keep the node ID in
``data_dir/node-id``, recover from ``raft/peers.json``, and bootstrap the
cluster -- alone with ``-bootstrap`` (or ``-bootstrap-expect=1``), or with
exactly the servers gossip shows once ``-bootstrap-expect`` of them are alive.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from proconsul.agent.config import AgentConfig
from proconsul.gossip.serf import Member, MemberStatus
from proconsul.raft.config import Configuration, RaftConfig, Server
from proconsul.raft.interface import StateMachine
from proconsul.raft.node import RaftNode
from proconsul.raft.recovery import recover_from_peers_file
from proconsul.raft.storage import RaftStorage
from proconsul.raft.tcp_transport import TcpTransport
from proconsul.rpc.mux import ConnType
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent.raft")


def load_node_id(config: AgentConfig) -> str:
    """The node ID kept in ``data_dir/node-id``: written once, reused on restart."""
    path = Path(config.data_dir) / "node-id"
    if path.exists():
        stored = path.read_text().strip()
        if config.node_id and config.node_id != stored:
            log.warning("node-id %s overrides %s stored in %s", config.node_id, stored, path)
            path.write_text(config.node_id)
            return config.node_id
        return stored
    node_id = config.node_id or config.new_node_id()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(node_id)
    return node_id


def raft_address(config: AgentConfig) -> str:
    return f"{config.advertise_addr}:{config.server_port}"


class DurableRaft:
    """A server's Raft node with its storage, TCP transport and bootstrap logic.

    Raft shares the server port: peers dial it and open with the Raft
    connection type; the port hands inbound ones to ``transport.serve_stream``.
    """

    def __init__(self, config: AgentConfig, fsm: StateMachine,
                 tls: ssl.SSLContext | None = None, server_name: str | None = None) -> None:
        if not config.data_dir:
            raise ConsulError("data_dir is required for a server that is not in -dev mode")
        self.config = config
        raft_dir = Path(config.data_dir) / "raft"
        self.storage = RaftStorage(raft_dir, config.raft_segment_bytes)
        try:
            recover_from_peers_file(self.storage, raft_dir)
        except ValueError as err:
            raise ConsulError(f"Failed to recover from peers.json: {err}") from None
        self.transport = TcpTransport(preamble=bytes([ConnType.RAFT]),
                                      source_host=config.source_host, tls=tls,
                                      tls_preamble=bytes([ConnType.TLS]),
                                      server_name=server_name)
        timing = RaftConfig.with_multiplier(config.raft_multiplier,
                                            trailing_logs=config.raft_trailing_logs)
        self.node = RaftNode(config.node_id, raft_address(config), fsm, self.storage,
                             self.transport, timing,
                             snapshot_threshold=config.raft_snapshot_threshold)
        self._bootstrapped = False
        self._running = False

    async def start(self) -> None:
        await self.node.start()
        self._running = True
        cfg = self.config
        if cfg.bootstrap or cfg.bootstrap_expect == 1:
            self._bootstrap(Configuration((Server(cfg.node_id, raft_address(cfg)),)))
        self._bootstrapped = self._bootstrapped or self.node.has_configuration()

    async def stop(self) -> None:
        self._running = False
        await self.node.shutdown()

    def members_changed(self, members: list[Member]) -> None:
        """With ``-bootstrap-expect=N``: bootstrap once N alive servers of this DC are known."""
        expect = self.config.bootstrap_expect
        if self._bootstrapped or not self._running or expect < 2:
            return
        if self.node.has_configuration():
            self._bootstrapped = True
            return
        servers = sorted(
            {Server(m.tags["id"], f"{m.addr}:{m.tags['port']}") for m in members
             if m.status == MemberStatus.ALIVE and m.tags.get("role") == "consul"
             and m.tags.get("dc") == self.config.datacenter
             and "id" in m.tags and "port" in m.tags},
            key=lambda s: s.id)
        if len(servers) >= expect:
            self._bootstrap(Configuration(tuple(servers)))

    def _bootstrap(self, configuration: Configuration) -> None:
        if self.node.bootstrap(configuration):
            log.info("raft: bootstrapped cluster with %s",
                     [f"{s.id}@{s.address}" for s in configuration.servers])
        self._bootstrapped = True
