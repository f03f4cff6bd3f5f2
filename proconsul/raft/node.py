"""The asyncio driver: runs a :class:`~proconsul.raft.core.RaftCore` for real.

It feeds the core the loop's clock and incoming messages, appends the commands
submitted since its last turn as one batch, persists each
:class:`~proconsul.raft.core.Ready` in the node's storage thread (one fsync
per batch, so concurrent proposals share it), then sends its messages, applies committed
entries to the :class:`~proconsul.raft.interface.StateMachine` in one call and
resolves the callers waiting on them. It has no task of its own: a turn is a loop
callback, and the storage thread reports each stored Ready straight into the loop.
:class:`RaftNode` implements :class:`~proconsul.raft.interface.Consensus`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import msgspec

from proconsul.lib.deadlines import Deadlines
from proconsul.lib.duration import format_seconds
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.metrics import sample_key
from proconsul.raft.config import Configuration, RaftConfig, Suffrage
from proconsul.raft.core import LeadershipTransferInProgressError, RaftCore, Ready, Role
from proconsul.raft.interface import ConsensusError, NoLeaderError, NotLeaderError, StateMachine
from proconsul.raft.messages import Entry, EntryType, Message, SnapshotMeta
from proconsul.raft.storage import RaftStorage
from proconsul.raft.storage_thread import StorageThread, settle

log = logging.getLogger(__name__)

_NOT_PENDING: tuple[int, None] = (0, None)
_COMMIT_TIME = (sample_key("consul.raft.commitTime"),)
_LEADER = Role.LEADER  # looked up once: Python 3.11's EnumType.__getattr__ makes Role.X slow


class _Batch(msgspec.Struct, gc=False):
    """Commands proposed in one turn: entries ``first ..`` in ``term``, one caller's
    future each, and when they were appended (their commitTime starts there). A struct:
    built without a Python-level ``__init__``, and futures never refer back to it."""

    first: int
    term: int
    waiters: list[asyncio.Future[Any]]
    dispatched: float


@dataclass(frozen=True)
class ServerView:
    """One configured server as this node sees it (see ``interface.ServerStatus``)."""

    id: str
    address: str
    voter: bool
    last_contact: float
    last_index: int


class LeadershipLostError(ConsensusError):
    """Leadership was lost before the entry was applied; it may or may not commit."""

    def __init__(self) -> None:
        super().__init__("leadership lost while committing log")


class Transport(Protocol):
    """Carries Raft messages between servers, best effort and without blocking."""

    def start(self, handler: Callable[[Message], None]) -> None:
        """Deliver every message received from now on to ``handler``."""

    def send(self, address: str, message: Message) -> None: ...

    async def close(self) -> None: ...


class InProcessNetwork:
    """Connects :class:`InProcessTransport` instances in one event loop, for tests."""

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[Message], None]] = {}
        self.isolated: set[str] = set()

    def transport(self, address: str) -> InProcessTransport:
        return InProcessTransport(self, address)

    def _register(self, address: str, handler: Callable[[Message], None]) -> None:
        self._handlers[address] = handler

    def _unregister(self, address: str) -> None:
        self._handlers.pop(address, None)

    def _deliver(self, source: str, address: str, message: Message) -> None:
        handler = self._handlers.get(address)
        if handler is not None and not ({source, address} & self.isolated):
            asyncio.get_running_loop().call_soon(handler, message)


class InProcessTransport:
    """One server's end of an :class:`InProcessNetwork`."""

    def __init__(self, network: InProcessNetwork, address: str) -> None:
        self._network = network
        self.address = address

    def start(self, handler: Callable[[Message], None]) -> None:
        self._network._register(self.address, handler)

    def send(self, address: str, message: Message) -> None:
        self._network._deliver(self.address, address, message)

    async def close(self) -> None:
        self._network._unregister(self.address)


class RaftNode:
    """One Raft server: core + storage + transport + state machine."""

    def __init__(
        self,
        server_id: str,
        address: str,
        fsm: StateMachine,
        storage: RaftStorage,
        transport: Transport,
        config: RaftConfig | None = None,
        *,
        snapshot_threshold: int = 16384,
        rng: random.Random | None = None,
    ) -> None:
        self.id = server_id
        self.address = address
        self._fsm = fsm
        self._storage = storage
        self._transport = transport
        self._config = config or RaftConfig.with_multiplier(5)
        self._snapshot_threshold = snapshot_threshold
        self._rng = rng or random.Random()
        self._core: RaftCore | None = None
        self._applied_index = 0
        self._running = False  # started and not shutting down
        self._turn_due = False  # a turn is scheduled (loop.call_soon)
        self._tick_due = True  # the core's next deadline has come: the turn ticks it
        # The core had input other than commands (a message, a tick, a call) since it was
        # last asked: it may have something ready, and its next deadline may be earlier.
        # After ready() it has nothing more until some input comes, and commands alone
        # never bring a deadline forward, so a turn for commands asks neither.
        self._stirred = True
        self._deadline_stale = True
        self._storing: Ready | None = None  # handed to the storage thread, not yet reported
        self._maintenance: asyncio.Task[None] | None = None  # a snapshot or restore under way
        self._stopped: asyncio.Future[None] | None = None  # shutdown waits for _storing on it
        self._timer: asyncio.TimerHandle | None = None  # takes a turn at _timer_at
        self._timer_at = math.inf
        self._storage_thread: StorageThread | None = None
        self._durable_term = 0  # the term of the last hard state on disk
        # Commands submitted since the run loop last looked, and their callers, in order:
        # appended to the log together at its next turn.
        self._incoming: list[bytes] = []
        self._incoming_waiters: list[asyncio.Future[Any]] = []
        self._batches: deque[_Batch] = deque()  # appended, not yet applied, in index order
        # index -> (term, caller): barriers and membership changes
        self._proposals: dict[int, tuple[int, asyncio.Future[Any]]] = {}
        self._learned: tuple[Any, ...] = ()  # what _learn_addresses last looked at
        self._reads: dict[int, asyncio.Future[int]] = {}
        self._read_ids = itertools.count(1)
        self._addresses: dict[str, str] = {}
        self._observers: list[Callable[[bool], None]] = []
        self._known_leader: str | None = None
        self._was_leader = False
        self._role: Role | None = None  # the last role seen, for the raft.state.* counters
        self._started_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None  # looked up once: on Python 3.11
        # each asyncio.get_running_loop() is a getpid() system call
        self._deadlines: Deadlines | None = None
        self._user_restores: list[tuple[int, asyncio.Future[int]]] = []  # (size, caller)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load the stored state, restore the state machine and start running."""
        loop = self._loop = asyncio.get_running_loop()
        self._deadlines = Deadlines(loop)
        self._started_at = loop.time()
        storage = self._storage
        snapshot = storage.snapshots.latest
        if snapshot is not None:
            self._restore_fsm()
            self._applied_index = snapshot.index
        hard_state = storage.stable.load()
        self._durable_term = hard_state.term
        self._core = RaftCore(
            self.id,
            self.address,
            self._config,
            self._rng,
            hard_state=hard_state,
            snapshot=snapshot,
            entries=storage.log.entries(),
            snapshot_reader=storage.snapshots.read,
            now=loop.time(),
        )
        self._storage_thread = StorageThread(f"raft-storage-{self.id}")
        self._transport.start(self._receive)
        self._running = True
        self._wake()

    async def shutdown(self) -> None:
        """Stop after the storage work under way; pending callers get an error."""
        if self._running:
            self._running = False
            if self._maintenance is not None:
                await self._maintenance
            if self._storing is not None:
                assert self._loop is not None
                self._stopped = self._loop.create_future()
                await self._stopped
            self._stop_timer()
        await self._transport.close()
        self._fail_pending(ConsensusError("raft is shutdown"))
        if self._deadlines is not None:
            self._deadlines.cancel()
        if self._storage_thread is None:
            self._storage.close()
        else:
            await self._storage_thread.call(self._storage.close)
            self._storage_thread.stop()
            self._storage_thread = None

    # ------------------------------------------------------------------ Consensus

    async def apply(self, data: bytes, timeout: float | None = None) -> Any:
        return await self.submit(data, timeout)

    def submit(self, data: bytes, timeout: float | None = None) -> asyncio.Future[Any]:
        """The command joins this turn's batch: the run loop appends every command
        submitted since its last turn in one go, in order, and stores them with one
        fsync. Refused at once unless this server leads. (A future that times out or
        is cancelled is forgotten once its entry is applied or leadership ends.)"""
        core = self._core
        if core is None or not self._running:
            raise ConsensusError("raft is not running")
        if core.role is not _LEADER:
            self._check_leader(core)
        if core.transfer_target is not None:
            raise LeadershipTransferInProgressError()
        future: asyncio.Future[Any] = self._loop.create_future()  # type: ignore[union-attr]
        self._incoming.append(data)
        self._incoming_waiters.append(future)
        if timeout is not None:
            self._deadlines.add(future, timeout)  # type: ignore[union-attr]
        if not self._turn_due:  # _wake(), but the core is not stirred by a command
            self._turn_due = True
            self._loop.call_soon(self._turn)  # type: ignore[union-attr]
        return future

    async def barrier(self, timeout: float | None = None) -> None:
        index, term = self._propose(b"", EntryType.BARRIER)
        await self._wait_applied(index, term, timeout)

    async def verify_leader(self) -> None:
        core = self._running_core()
        request_id = next(self._read_ids)
        self._check_leader(core)
        core.read_index(request_id)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reads[request_id] = future
        self._wake()
        await future

    async def restore(self, write: Callable[[BinaryIO], None],
                      timeout: float | None = None) -> int:
        """Leader only: replace the whole state with the snapshot ``write(file)`` produces.

        ``write`` runs in a worker thread into a file of its own; if it raises,
        nothing has changed. Then, in the run loop between two batches, the core
        adopts the snapshot at a fresh index, storage makes it the latest snapshot
        and empties the log, and the state machine restores from it. Followers
        receive it by InstallSnapshot. Returns the snapshot's index.
        """
        self._check_leader(self._running_core())
        snapshots = self._storage.snapshots
        # Not in the storage thread: a big snapshot must not hold up the log's fsyncs.
        size = await asyncio.to_thread(snapshots.write_user, write)
        assert self._loop is not None and self._deadlines is not None
        future: asyncio.Future[int] = self._loop.create_future()
        self._user_restores.append((size, future))
        if timeout is not None:
            self._deadlines.add(future, timeout)
        self._wake()
        return await future

    def applied_snapshot_meta(self) -> SnapshotMeta:
        """The raft index, term and configuration of the state applied right now
        (size 0), to label a snapshot of the state machine taken at this moment."""
        return self._running_core().snapshot_meta(self._applied_index, 0)

    def is_leader(self) -> bool:
        core = self._core  # core.is_leader, inlined: asked before each short-way write
        return core is not None and core.role is _LEADER

    def leader_address(self) -> str | None:
        return self._core.leader_address if self._core is not None else None

    def peers(self) -> list[str]:
        if self._core is None:
            return []
        configuration = self._core.configuration
        return [configuration.get(v).address for v in configuration.voters()]

    def last_contact(self) -> float:
        core = self._core
        if core is None or core.is_leader:
            return 0.0
        # Never heard from a leader: count from the start, as a finite stand-in for "ever".
        last = max(core.last_leader_contact, self._started_at)
        return max(0.0, asyncio.get_running_loop().time() - last)

    def last_index(self) -> int:
        return self._core.log.last_index if self._core is not None else 0

    def term(self) -> int:
        return self._core.term if self._core is not None else 0

    def stats(self) -> dict[str, str]:
        """hashicorp/raft's ``Stats()``: what ``/v1/agent/self`` and ``info`` show as raft."""
        core = self._core
        if core is None:
            return {"state": "Shutdown"}
        configuration = core.configuration
        latest = self._storage.snapshots.latest
        if core.is_leader:
            contact = "0"
        elif core.last_leader_contact == float("-inf"):
            contact = "never"
        else:
            contact = format_seconds(self.last_contact())
        servers = " ".join(
            f"{{Suffrage:{'Voter' if s.suffrage == Suffrage.VOTER else 'Nonvoter'} "
            f"ID:{s.id} Address:{s.address}}}" for s in configuration.servers)
        voters = configuration.voters()
        role = "Candidate" if core.role is Role.PRE_CANDIDATE else core.role.value.title()
        return {
            "applied_index": str(self._applied_index), "commit_index": str(core.commit_index),
            "fsm_pending": "0", "last_contact": contact,
            "last_log_index": str(core.log.last_index), "last_log_term": str(core.log.last_term),
            "last_snapshot_index": str(latest.index if latest else 0),
            "last_snapshot_term": str(latest.term if latest else 0),
            "latest_configuration": f"[{servers}]",
            "latest_configuration_index": str(core.configuration_index),
            "num_peers": str(len(voters) - (self.id in voters)),
            "protocol_version": "3", "protocol_version_max": "3", "protocol_version_min": "0",
            "snapshot_version_max": "1", "snapshot_version_min": "0",
            "state": role, "term": str(core.term),
        }

    def servers(self) -> list[ServerView]:
        """The configuration with the leader's view of contact and log progress."""
        core = self._core
        if core is None:
            return []
        now = asyncio.get_running_loop().time()
        progress = core.follower_progress() if core.is_leader else {}
        views = []
        for server in core.configuration.servers:
            match, heard = progress.get(server.id, (0, now))
            if server.id == self.id:
                match, heard = core.log.last_index, now
            views.append(ServerView(server.id, server.address,
                                    server.suffrage == Suffrage.VOTER,
                                    max(0.0, now - heard), match))
        return views

    def on_leadership_change(self, callback: Callable[[bool], None]) -> None:
        self._observers.append(callback)

    def has_configuration(self) -> bool:
        """Whether this server knows a cluster configuration (is bootstrapped or joined)."""
        return self._core is not None and bool(self._core.configuration.servers)

    def bootstrap(self, configuration: Configuration) -> bool:
        """Start a new cluster with ``configuration``; False if this server has state."""
        done = self._running_core().bootstrap(configuration)
        self._wake()
        return done

    # ------------------------------------------------------------------ membership

    async def add_voter(self, server_id: str, address: str, timeout: float | None = None) -> None:
        await self._change(lambda core: core.add_voter(server_id, address), timeout)

    async def add_nonvoter(
        self, server_id: str, address: str, timeout: float | None = None
    ) -> None:
        await self._change(lambda core: core.add_nonvoter(server_id, address), timeout)

    async def demote_voter(self, server_id: str, timeout: float | None = None) -> None:
        await self._change(lambda core: core.demote_voter(server_id), timeout)

    async def remove_server(self, server_id: str, timeout: float | None = None) -> None:
        await self._change(lambda core: core.remove_server(server_id), timeout)

    async def transfer_leadership(self, server_id: str | None = None) -> str:
        core = self._running_core()
        self._check_leader(core)
        self._dispatch(core)  # appended before the transfer: the target must catch up on them
        target = core.transfer_leadership(server_id)
        self._wake()
        return target

    # ------------------------------------------------------------------ internals

    def _running_core(self) -> RaftCore:
        if self._core is None or not self._running:
            raise ConsensusError("raft is not running")
        return self._core

    @staticmethod
    def _check_leader(core: RaftCore) -> None:
        if not core.is_leader:
            if core.leader_address is None:
                raise NoLeaderError()
            raise NotLeaderError(core.leader_address)

    def _propose(self, data: bytes, entry_type: EntryType) -> tuple[int, int]:
        core = self._running_core()
        self._check_leader(core)
        self._dispatch(core)  # commands submitted before keep their place in the log
        return core.propose(data, entry_type)

    def _dispatch(self, core: RaftCore) -> None:
        """Append the commands submitted since the last turn, as one batch."""
        if not self._incoming:
            return
        commands, waiters = self._incoming, self._incoming_waiters
        self._incoming, self._incoming_waiters = [], []
        try:
            first = core.propose_commands(commands, self._loop.time())  # type: ignore[union-attr]
        except ConsensusError as error:  # leadership ended or a transfer began meanwhile
            for waiter in waiters:
                settle(waiter, None, error)
            return
        self._batches.append(_Batch(first, core.term, waiters, metrics.timer()))

    async def _change(self, change: Callable[[RaftCore], int], timeout: float | None) -> None:
        core = self._running_core()
        self._check_leader(core)
        self._dispatch(core)
        index = change(core)
        await self._wait_applied(index, core.term, timeout)

    async def _wait_applied(self, index: int, term: int, timeout: float | None) -> Any:
        assert self._loop is not None and self._deadlines is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._proposals[index] = (term, future)
        self._wake()
        if timeout is not None:
            self._deadlines.add(future, timeout)
        try:
            return await future
        finally:
            if self._proposals.get(index, _NOT_PENDING)[1] is future:
                del self._proposals[index]

    def _wake(self) -> None:
        """The core had input: have a turn taken soon that looks at all it has ready."""
        self._stirred = self._deadline_stale = True
        if not self._turn_due:
            self._turn_due = True
            self._loop.call_soon(self._turn)  # type: ignore[union-attr]

    def _arm_timer(self, deadline: float) -> None:
        """Have a ticking turn taken at ``deadline`` (loop time), earlier than
        :attr:`_timer_at`.

        The timer stays armed across turns and is replaced only by an earlier
        deadline: deadlines mostly move later, and a timer that fires early costs
        one turn that finds nothing due, where re-arming costs every turn."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)  # type: ignore[union-attr]
        self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        core = self._core
        if self._storing is not None and self._running and core is not None:
            # Turns wait for the storage write, the core's clock does not: heartbeats
            # and their answers go out meanwhile; the rest waits for the next turn.
            core.tick(self._loop.time())  # type: ignore[union-attr]
            self._send_liveness(core)
            self._stirred = self._deadline_stale = True
            self._arm_timer(core.next_deadline())
            return
        self._tick_due = True
        self._wake()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf

    def _receive(self, message: Message) -> None:
        core = self._core
        if core is None or self._loop is None:
            return
        core.step(message, self._loop.time())
        self._wake()
        if self._storing is not None:
            self._send_liveness(core)

    def _send_liveness(self, core: RaftCore) -> None:
        """While a Ready is being stored: send the heartbeats and the
        answers to them that need nothing from that write (see ``take_liveness``)."""
        messages = core.take_liveness(self._durable_term)
        if messages:
            self._learn_addresses(core)
            for message in messages:
                address = self._addresses.get(message.dst)
                if address is not None:
                    self._transport.send(address, message)

    # The driver has no task of its own: a turn is a loop callback, and the storage
    # thread reports each stored Ready straight into the loop, where the turn goes on.
    # One Ready at a time is being stored; turns wait while one is, or while a snapshot
    # or a restore (_maintenance, the one coroutine) runs.

    def _turn(self) -> None:
        """Tick the core if its deadline has come, then act on what is ready.

        Only deadlines need ticks: a turn for a command, a message or a call needs none
        (the core's clock moves with each message and proposal). The commands submitted
        since the last turn become one batch; each Ready is acted on at once, or handed
        to the storage thread first if it has something to store (then :meth:`_stored`
        goes on from here). With nothing left, a snapshot or restore that is due
        starts, or the timer is armed for the core's next deadline."""
        self._turn_due = False
        if not self._running or self._storing is not None or self._maintenance is not None:
            return  # the stored Ready's report or the maintenance's end goes on
        core = self._core
        assert core is not None and self._loop is not None
        try:
            if self._tick_due:
                self._tick_due = False
                core.tick(self._loop.time())
            while True:
                if self._incoming:  # what arrived while the last batch was stored joins
                    self._dispatch(core)
                elif not self._stirred:
                    break
                else:
                    self._stirred = False
                    if not core.has_ready():
                        break
                ready = core.ready()
                if (ready.entries or ready.hard_state is not None or ready.snapshot_chunks
                        or ready.snapshot is not None):  # steps 1-2 have something to store
                    self._storing = ready
                    self._storage_thread.run(  # type: ignore[union-attr]
                        self._storage.persist, (ready,), self._stored)
                    if self._timer is None:  # heartbeats go on while it is stored
                        self._arm_timer(core.next_deadline())
                    return
                self._handle(core, ready)
            if self._user_restores or (
                    self._applied_index - core.log.snapshot_index >= self._snapshot_threshold):
                self._maintenance = self._loop.create_task(self._maintain(core))
                return
            if not self._deadline_stale:
                return
            self._deadline_stale = False
            deadline = core.next_deadline()
            if deadline > self._loop.time():
                if deadline < self._timer_at:
                    self._arm_timer(deadline)
            else:
                self._tick_due = True
                self._wake()
        except Exception as error:
            self._crash(error)

    def _stored(self, _result: None, error: BaseException | None) -> None:
        """The storage thread's report on :attr:`_storing`: act on it, then go on."""
        ready, self._storing = self._storing, None
        core = self._core
        assert ready is not None and core is not None
        try:
            if error is not None:
                raise error
            if ready.hard_state is not None:
                self._durable_term = ready.hard_state.term
            if (ready.messages or ready.snapshot is not None or ready.read_states
                    or ready.soft_state is not None):
                self._handle(core, ready)
            elif ready.committed:  # a lone voter's writes: nothing else to do
                self._apply(ready.committed)
        except Exception as failure:
            self._crash(failure)
        else:  # goes on with what came meanwhile, if anything did (_turn's own tests)
            if (self._incoming or self._stirred or self._tick_due or self._deadline_stale
                    or self._user_restores or self._applied_index - core.log.snapshot_index
                    >= self._snapshot_threshold):
                self._turn()
        if self._stopped is not None:  # shutdown waits for this report
            self._stopped.set_result(None)
            self._stopped = None

    async def _maintain(self, core: RaftCore) -> None:
        """Between two turns: install the operators' snapshots, then snapshot the state
        machine if the log has grown enough since the last one."""
        try:
            while self._user_restores and self._running:
                await self._restore_user_snapshot(core, *self._user_restores.pop(0))
            if self._running and (self._applied_index - core.log.snapshot_index
                                  >= self._snapshot_threshold):
                await self._snapshot(core)
        except Exception as error:
            self._crash(error)
        finally:
            self._maintenance = None
        if self._running:
            self._wake()

    def _crash(self, error: Exception) -> None:
        """Stop at once. A restart in the middle of a Ready could skip committed entries,
        so this node stays down until the process restarts; its callers get an error."""
        log.error("raft loop stopped by an error; this server no longer takes part in "
                  "consensus: %s: %s", type(error).__name__, error, exc_info=error)
        self._running = False
        self._stop_timer()
        self._fail_pending(ConsensusError("raft loop stopped by an error"))

    def _handle(self, core: RaftCore, ready: Ready) -> None:
        """Steps 3-5 of a stored Ready: send, restore, apply, answer the reads."""
        if ready.messages:
            self._learn_addresses(core)
            for message in ready.messages:
                address = self._addresses.get(message.dst)
                if address is not None:
                    self._transport.send(address, message)
        if ready.snapshot is not None:
            self._restore(ready.snapshot)
        if ready.committed:
            self._apply(ready.committed)
        for read in ready.read_states:
            future = self._reads.pop(read.request_id, None)
            if future is not None and not future.done():
                if read.index is None:
                    future.set_exception(NotLeaderError(core.leader_address))
                else:
                    future.set_result(read.index)
        if ready.soft_state is not None:
            self._deadline_stale = True
            if ready.soft_state.role is not self._role:
                self._role = ready.soft_state.role
                if self._role is not Role.PRE_CANDIDATE:
                    metrics.incr_counter(f"consul.raft.state.{self._role.value}")
            self._log_leader(ready.soft_state.leader_id)
            self._on_soft_state(ready.soft_state.role is Role.LEADER)

    def _log_leader(self, leader_id: str | None) -> None:
        """Consul's INFO line on each change of known leader (the payload is its ID)."""
        if leader_id != self._known_leader:
            self._known_leader = leader_id
            if leader_id is not None:
                log.info("New leader elected: payload=%s", leader_id)

    def _learn_addresses(self, core: RaftCore) -> None:
        seen = (core.configuration, core.leader_id, core.leader_address)
        if seen == self._learned:
            return
        self._learned = seen
        for server in core.configuration.servers:
            self._addresses[server.id] = server.address
        if core.leader_id is not None and core.leader_address is not None:
            self._addresses[core.leader_id] = core.leader_address

    def _apply(self, entries: list[Entry]) -> None:
        """Apply committed entries in one state machine call, then answer their callers."""
        results = self._fsm.apply_batch(entries)
        self._applied_index = entries[-1].index
        batches, proposals = self._batches, self._proposals
        if not (batches or proposals):
            return
        now = metrics.timer()
        if batches and not proposals:
            batch = batches[0]
            waiters = batch.waiters
            if (batch.first == entries[0].index and len(waiters) == len(entries)
                    and batch.term == entries[0].term == entries[-1].term):
                # The usual case: these entries are exactly the oldest batch (terms only
                # grow along the log, so the first's and last's say all of theirs).
                batches.popleft()
                commit_ms = (now - batch.dispatched) * 1000.0
                # one waiter and one result per entry (checked above); no strict=: a keyword
                # makes zip() build a kwargs dict (~1.5k instructions a write)
                for future, result in zip(waiters, results):  # noqa: B905
                    if not future.done():
                        metrics.add_samples(_COMMIT_TIME, commit_ms)
                        future.set_result(result)
                return
        for entry, result in zip(entries, results, strict=True):
            index = entry.index
            while batches and index >= batches[0].first + len(batches[0].waiters):
                for future in batches.popleft().waiters:  # passed by: never applied here
                    settle(future, None, LeadershipLostError())
            if batches and index >= batches[0].first:
                batch = batches[0]
                waiters = batch.waiters
                offset = index - batch.first
                if offset == len(waiters) - 1:
                    batches.popleft()
                future = waiters[offset]
                if batch.term != entry.term:
                    settle(future, None, LeadershipLostError())
                elif not future.done():
                    metrics.add_samples(_COMMIT_TIME, (now - batch.dispatched) * 1000.0)
                    future.set_result(result)
            elif proposals:
                pending = proposals.pop(index, None)
                if pending is not None:
                    settle(pending[1], result if pending[0] == entry.term else None,
                            None if pending[0] == entry.term else LeadershipLostError())

    def _restore_fsm(self) -> None:
        with self._storage.snapshots.open_latest() as source:
            self._fsm.restore(source)

    def _resume_after_restore(self) -> None:
        """A big restore holds the loop for seconds; don't let that alone cost leadership."""
        assert self._core is not None and self._loop is not None
        self._core.resume_after_pause(self._loop.time())

    def _restore(self, meta: SnapshotMeta) -> None:
        log.info("raft: installed snapshot from the leader at index %d (%d bytes)",
                 meta.index, meta.size)
        self._restore_fsm()
        self._resume_after_restore()
        self._applied_index = meta.index
        self._fail_through(meta.index, LeadershipLostError())

    async def _restore_user_snapshot(self, core: RaftCore, size: int,
                                     caller: asyncio.Future[int]) -> None:
        if caller.done():  # timed out or cancelled before its turn: the state stays
            return
        try:
            meta = core.restore_user_snapshot(size)
        except ConsensusError as error:
            caller.set_exception(error)
            return
        # Stored before anything else happens: the core already counts the log as empty.
        await self._in_storage_thread(self._storage.install_user_snapshot, meta)
        log.info("raft: restored user snapshot at index %d (%d bytes)", meta.index, meta.size)
        self._restore_fsm()
        self._resume_after_restore()
        self._applied_index = meta.index
        self._fail_through(meta.index, ConsensusError("abandoned by a snapshot restore"))
        settle(caller, meta.index, None)

    def _fail_through(self, through: int, error: Exception) -> None:
        """Fail the callers waiting on entries up to ``through`` (replaced by a snapshot)."""
        for index in [i for i in self._proposals if i <= through]:
            settle(self._proposals.pop(index)[1], None, error)
        while self._batches and self._batches[0].first <= through:
            for future in self._batches.popleft().waiters:
                settle(future, None, error)

    def _on_soft_state(self, is_leader: bool) -> None:
        if self._was_leader and not is_leader:
            assert self._core is not None
            self._dispatch(self._core)  # never appended: refused as by a follower
            self._fail_pending(LeadershipLostError())
        if is_leader != self._was_leader:
            self._was_leader = is_leader
            for callback in self._observers:
                callback(is_leader)

    def _fail_pending(self, error: Exception) -> None:
        for future in self._incoming_waiters:
            settle(future, None, error)
        self._incoming, self._incoming_waiters = [], []
        for batch in self._batches:
            for future in batch.waiters:
                settle(future, None, error)
        self._batches.clear()
        for _, future in self._proposals.values():
            if not future.done():
                future.set_exception(error)
        self._proposals.clear()
        for future in self._reads.values():
            if not future.done():
                future.set_exception(error)
        self._reads.clear()

    async def _snapshot(self, core: RaftCore) -> None:
        """Snapshot the state machine at the applied index, then compact the log."""
        index = self._applied_index
        snapshot = self._fsm.snapshot()  # point-in-time copy; streamed to disk in a thread
        snapshots = self._storage.snapshots
        try:
            size = await self._in_storage_thread(snapshots.write_local, snapshot.write)
        finally:
            snapshot.release()
        meta = core.snapshot_meta(index, size)
        await self._in_storage_thread(snapshots.commit_local, meta)
        through = core.compact(meta)
        await self._in_storage_thread(self._storage.log.compact, through)

    def _in_storage_thread(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        assert self._storage_thread is not None
        return self._storage_thread.call(function, *args)

