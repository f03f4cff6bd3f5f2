"""The soak's checkers that are not linearizability: lock holders and write survival.

Lock holds.  A worker that acquired a lock (``?acquire=`` answered true at
``ack``) confirms it with consistent reads showing its session as the holder;
the first confirmation gives the hold's ``LockIndex``.  Because the store bumps
``LockIndex`` on every acquisition by a new session and a worker never
re-acquires with the same session, a confirmation with the same index proves
the session held the lock *without interruption* from its acquisition to some
instant in the confirming read.  So each hold has a *definite interval*
``[ack, last confirmation's invoke]`` and, for two holds of one lock by
different sessions, the one with the smaller index must end before the other
starts; equal indexes, or intervals out of that order, are double holders.
Holds lost to a session invalidation (a confirmation showing another holder)
are legitimate — Consul's lock-delay only narrows that window — and are not
counted: only what the store proved is judged.

Write survival.  Write-once keys acknowledged with ``true`` must all be read
back with their value after healing; catalog nodes whose registration was
acknowledged (and whose deregistration was never attempted or was refused)
must be listed, and acknowledged deregistrations must stay gone; sessions
acknowledged destroyed must not come back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Hold:
    """One acknowledged acquisition of ``lock`` by ``session`` and its confirmations."""

    lock: str
    session: str
    ack: float
    lock_index: int | None = None
    confirmed_until: float | None = None
    lost: bool = False
    problems: list[str] = field(default_factory=list)

    def confirm(self, invoke: float, session: str, lock_index: int) -> bool:
        """Record a consistent read of the lock begun at ``invoke``; False once lost."""
        if session != self.session:
            self.lost = True
            return False
        if self.lock_index is None:
            self.lock_index = lock_index
        elif lock_index != self.lock_index:
            self.problems.append(f"session {self.session} still holds {self.lock!r} but its "
                                 f"LockIndex moved {self.lock_index} -> {lock_index}")
            return False
        self.confirmed_until = invoke
        return True

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.lock_index is None or self.confirmed_until is None:
            return None
        return self.ack, self.confirmed_until


def double_holders(holds: list[Hold]) -> list[str]:
    """Every pair of holds of one lock that the store says overlapped (see module doc)."""
    found = [p for hold in holds for p in hold.problems]
    by_lock: dict[str, list[Hold]] = defaultdict(list)
    for hold in holds:
        if hold.interval is not None:
            by_lock[hold.lock].append(hold)
    for lock, group in by_lock.items():
        group.sort(key=lambda h: (h.lock_index, h.ack))
        for n, first in enumerate(group):
            for second in group[n + 1:]:
                if first.session == second.session:
                    continue
                if first.lock_index == second.lock_index:
                    found.append(f"{lock!r}: sessions {first.session} and {second.session} "
                                 f"both hold LockIndex {first.lock_index}")
                elif first.confirmed_until >= second.ack:
                    found.append(
                        f"{lock!r}: session {first.session} (LockIndex {first.lock_index}) "
                        f"confirmed holding at {first.confirmed_until:.3f} but session "
                        f"{second.session} (LockIndex {second.lock_index}) was acknowledged "
                        f"at {second.ack:.3f}")
    return found


def lost_once_writes(acked: dict[str, str], stored: dict[str, str]) -> list[str]:
    """Acknowledged write-once keys missing from ``stored`` or holding another value."""
    return [f"{key!r}: acknowledged {value!r}, read back {stored.get(key)!r}"
            for key, value in sorted(acked.items()) if stored.get(key) != value]


@dataclass
class CatalogPair:
    """A node registered once and maybe deregistered once, by one worker, in that order."""

    node: str
    register: str          # ok | fail | info
    deregister: str | None = None


def lost_catalog_writes(pairs: list[CatalogPair], listed: set[str]) -> list[str]:
    """Acknowledged registrations missing, or acknowledged deregistrations undone."""
    lost = []
    for pair in pairs:
        if pair.register == "ok" and pair.deregister in (None, "fail") \
                and pair.node not in listed:
            lost.append(f"node {pair.node!r}: registration acknowledged, not listed")
        if pair.register != "info" and pair.deregister == "ok" and pair.node in listed:
            lost.append(f"node {pair.node!r}: deregistration acknowledged, still listed")
    return lost


def resurrected_sessions(destroyed: set[str], listed: set[str]) -> list[str]:
    return [f"session {sid}: destroy acknowledged, still listed"
            for sid in sorted(destroyed & listed)]
