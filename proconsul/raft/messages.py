"""Log entries and the messages Raft servers exchange.

Every message names its sender (``src``), its receiver (``dst``) by server ID,
and the sender's ``term``. Messages from a leader also carry its address, so
followers can point clients at it even before they know the configuration.
"""

from __future__ import annotations

import enum

import msgspec

from proconsul.raft.config import Configuration


class EntryType(enum.IntEnum):
    """Kinds of log entries (values match hashicorp/raft's LogType)."""

    COMMAND = 0
    NOOP = 1
    BARRIER = 4
    CONFIGURATION = 5


class Entry(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One log entry."""

    index: int
    term: int
    type: EntryType = EntryType.COMMAND
    data: bytes = b""


class HardState(msgspec.Struct, frozen=True):
    """What must survive a crash besides the log: the current term and the vote cast in it."""

    term: int = 0
    vote: str | None = None


class SnapshotMeta(msgspec.Struct, frozen=True):
    """Describes a snapshot: the last entry it covers and the membership at that entry."""

    index: int
    term: int
    configuration: Configuration
    configuration_index: int
    size: int


class AppendEntries(msgspec.Struct, frozen=True, tag=True):
    src: str
    dst: str
    term: int
    leader_address: str
    prev_log_index: int
    prev_log_term: int
    entries: list[Entry]
    leader_commit: int


class AppendEntriesResponse(msgspec.Struct, frozen=True, tag=True):
    """Success: the follower's log matches the leader's through ``last_index``.

    Rejection: the follower has no entry matching ``rejected_index``; the
    hint says where to retry: ``conflict_term`` is the term the follower has at
    ``rejected_index`` (0 when its log is shorter) and ``conflict_index`` the
    first index it holds of that term (or its last index + 1).
    """

    src: str
    dst: str
    term: int
    success: bool
    last_index: int = 0
    rejected_index: int = 0
    conflict_index: int = 0
    conflict_term: int = 0


class Heartbeat(msgspec.Struct, frozen=True, tag=True):
    """Leader liveness; ``commit`` never exceeds what the follower is known to hold.

    ``read_seq`` numbers the leader's read-index rounds; the reply echoes it.
    """

    src: str
    dst: str
    term: int
    leader_address: str
    commit: int
    read_seq: int


class HeartbeatResponse(msgspec.Struct, frozen=True, tag=True):
    src: str
    dst: str
    term: int
    read_seq: int


class RequestVote(msgspec.Struct, frozen=True, tag=True):
    """A vote (or with ``pre_vote``, a poll that changes no state) for ``term``."""

    src: str
    dst: str
    term: int
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    leadership_transfer: bool = False


class RequestVoteResponse(msgspec.Struct, frozen=True, tag=True):
    src: str
    dst: str
    term: int
    granted: bool
    pre_vote: bool = False


class InstallSnapshot(msgspec.Struct, frozen=True, tag=True):
    """One chunk of the leader's snapshot, starting at byte ``offset``."""

    src: str
    dst: str
    term: int
    leader_address: str
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


class InstallSnapshotResponse(msgspec.Struct, frozen=True, tag=True):
    """Answers the chunk at ``chunk_offset``: the follower expects ``next_offset``
    next (which is lower if it lost what it had); ``done`` once installed."""

    src: str
    dst: str
    term: int
    snapshot_index: int
    chunk_offset: int
    next_offset: int
    done: bool = False


class TimeoutNow(msgspec.Struct, frozen=True, tag=True):
    """Leadership transfer: the receiver should start an election at once."""

    src: str
    dst: str
    term: int
    leader_address: str


Message = (
    AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | RequestVote
    | RequestVoteResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | TimeoutNow
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    return _encoder.encode(message)


def decode_message(data: bytes) -> Message:
    """Decode one message; :class:`msgspec.DecodeError` for anything malformed."""
    try:
        return _decoder.decode(data)
    except RecursionError:  # msgspec's nesting limit is Python's recursion limit
        raise msgspec.DecodeError("msgpack value nested too deeply") from None
